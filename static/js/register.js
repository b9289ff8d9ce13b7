import { apiFetch, errorMessage, NETWORK_ERROR, showError } from "./auth.js";
import { watchPasswordMatch } from "./passwords.js";

const form = document.getElementById("register-form");
const error = document.getElementById("register-error");
const submit = document.getElementById("register-submit");
const success = document.getElementById("register-success");

const checkMatch = watchPasswordMatch(form.elements.password, form.elements.confirm_password);

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  checkMatch();
  if (!form.reportValidity()) return;
  showError(error, "");
  submit.disabled = true;
  try {
    const response = await apiFetch("/api/users", {
      method: "POST",
      auth: false,
      json: {
        username: form.elements.username.value,
        email: form.elements.email.value,
        password: form.elements.password.value,
      },
    });
    if (response.ok) {
      form.reset();
      success.showModal();
      // Move on by itself after a moment; the dialog's link does it at once.
      setTimeout(() => location.assign("/login"), 4000);
      return;
    }
    showError(error, await errorMessage(response));
  } catch {
    showError(error, NETWORK_ERROR);
  }
  submit.disabled = false;
});
