// The account page: profile, password and deletion. Logged-out visitors go to log in.
import {
  apiFetch,
  clearToken,
  errorMessage,
  getCurrentUser,
  loginUrl,
  NETWORK_ERROR,
  setToken,
  showError,
  updateCurrentUser,
} from "./auth.js";
import { watchPasswordMatch } from "./passwords.js";

const byId = (id) => document.getElementById(id);
let user = await getCurrentUser();

if (!user) {
  location.replace(loginUrl("/account"));
} else {
  showAccount(user);
  byId("account-loading").hidden = true;
  byId("account").hidden = false;
  setUpProfileForm();
  setUpPasswordForm();
  setUpDeletion();
}

function showAccount(current) {
  byId("account-username").textContent = current.username;
  byId("account-email").textContent = current.email;
  byId("account-avatar").setAttribute("src", current.image_path);
  byId("account-posts-link").setAttribute("href", `/users/${encodeURIComponent(current.id)}/posts`);
  byId("password-form-username").value = current.email;
  const form = byId("profile-form");
  form.elements.username.value = current.username;
  form.elements.email.value = current.email;
}

async function send(button, errorElement, request, onSuccess) {
  showError(errorElement, "");
  button.disabled = true;
  try {
    const response = await request();
    if (response.ok) {
      await onSuccess(response);
    } else {
      showError(errorElement, await errorMessage(response));
    }
  } catch {
    showError(errorElement, NETWORK_ERROR);
  }
  button.disabled = false;
}

function setUpProfileForm() {
  const form = byId("profile-form");
  const error = byId("profile-error");
  const success = byId("profile-success");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!form.reportValidity()) return;
    success.hidden = true;
    const changes = {};
    if (form.elements.username.value.trim() !== user.username) {
      changes.username = form.elements.username.value;
    }
    if (form.elements.email.value.trim().toLowerCase() !== user.email) {
      changes.email = form.elements.email.value;
    }
    if (Object.keys(changes).length === 0) {
      success.textContent = "Nothing to change.";
      success.hidden = false;
      return;
    }
    send(
      byId("profile-submit"),
      error,
      () =>
        apiFetch(`/api/users/${encodeURIComponent(user.id)}`, { method: "PATCH", json: changes }),
      async (response) => {
        user = await response.json();
        showAccount(user);
        updateCurrentUser(user);
        success.textContent = "Profile saved.";
        success.hidden = false;
      },
    );
  });
}

function setUpPasswordForm() {
  const form = byId("password-form");
  const error = byId("password-error");
  const success = byId("password-success");
  const checkMatch = watchPasswordMatch(
    form.elements.new_password,
    form.elements.confirm_new_password,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    checkMatch();
    if (!form.reportValidity()) return;
    success.hidden = true;
    send(
      byId("password-submit"),
      error,
      () =>
        apiFetch("/api/users/me/password", {
          method: "POST",
          json: {
            current_password: form.elements.current_password.value,
            new_password: form.elements.new_password.value,
          },
        }),
      async (response) => {
        const { access_token: token } = await response.json();
        setToken(token);
        form.reset();
        byId("password-form-username").value = user.email;
        success.textContent = "Password changed. Other sessions have been signed out.";
        success.hidden = false;
      },
    );
  });
}

function setUpDeletion() {
  const dialog = byId("delete-account-dialog");
  const error = byId("delete-account-error");
  byId("delete-account-button").addEventListener("click", () => {
    showError(error, "");
    dialog.showModal();
  });
  byId("delete-account-cancel").addEventListener("click", () => dialog.close());
  byId("delete-account-confirm").addEventListener("click", () => {
    send(
      byId("delete-account-confirm"),
      error,
      () => apiFetch(`/api/users/${encodeURIComponent(user.id)}`, { method: "DELETE" }),
      () => {
        clearToken();
        location.assign("/");
      },
    );
  });
}
