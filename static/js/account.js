// The account page: profile, password and deletion. Logged-out visitors go to log in.
import {
  apiFetch,
  clearToken,
  errorMessage,
  getCurrentUser,
  loginUrl,
  setToken,
  updateCurrentUser,
} from "./auth.js";
import { onClick, onSubmit, setUpDialog } from "./forms.js";
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

function emailChanges(form) {
  return form.elements.email.value.trim().toLowerCase() !== user.email;
}

/** What the profile form would change: only the fields that differ from `user`. A new
 * email also carries the current password, which the API asks for (a token alone may
 * be stolen). */
function profileChanges(form) {
  const changes = {};
  if (form.elements.username.value.trim() !== user.username) {
    changes.username = form.elements.username.value;
  }
  if (emailChanges(form)) {
    changes.email = form.elements.email.value;
    changes.current_password = form.elements.current_password.value;
  }
  return changes;
}

/** The current-password field is shown, and required, only while the email changes. */
function showPasswordFieldIfNeeded(form) {
  const needed = emailChanges(form);
  byId("profile-password-field").hidden = !needed;
  form.elements.current_password.required = needed;
  if (!needed) form.elements.current_password.value = "";
}

function setUpProfileForm() {
  const form = byId("profile-form");
  form.elements.email.addEventListener("input", () => showPasswordFieldIfNeeded(form));
  const success = byId("profile-success");
  const ready = () => {
    success.hidden = true;
    if (Object.keys(profileChanges(form)).length > 0) return true;
    success.textContent = "Nothing to change.";
    success.hidden = false;
    return false;
  };
  const error = byId("profile-error");
  onSubmit(form, { error, submit: byId("profile-submit"), ready }, async () => {
    const response = await apiFetch(`/api/users/${encodeURIComponent(user.id)}`, {
      method: "PATCH",
      json: profileChanges(form),
    });
    if (!response.ok) return errorMessage(response);
    user = await response.json();
    showAccount(user);
    showPasswordFieldIfNeeded(form);
    updateCurrentUser(user);
    success.textContent = "Profile saved.";
    success.hidden = false;
  });
}

function setUpPasswordForm() {
  const form = byId("password-form");
  const success = byId("password-success");
  const error = byId("password-error");
  const check = watchPasswordMatch(form.elements.new_password, form.elements.confirm_new_password);
  const ready = () => {
    success.hidden = true;
  };
  onSubmit(form, { error, submit: byId("password-submit"), check, ready }, async () => {
    const response = await apiFetch("/api/users/me/password", {
      method: "POST",
      json: {
        current_password: form.elements.current_password.value,
        new_password: form.elements.new_password.value,
      },
    });
    if (!response.ok) return errorMessage(response);
    const { access_token: token } = await response.json();
    setToken(token);
    form.reset();
    byId("password-form-username").value = user.email;
    success.textContent = "Password changed. Other sessions have been signed out.";
    success.hidden = false;
  });
}

function setUpDeletion() {
  const deletion = setUpDialog("delete-account");
  // As before, the button comes back once the request is done, even on the way out.
  onClick(deletion.confirm, deletion, async () => {
    const response = await apiFetch(`/api/users/${encodeURIComponent(user.id)}`, {
      method: "DELETE",
    });
    if (!response.ok) return errorMessage(response);
    clearToken();
    location.assign("/");
  });
}
