// /reset-password?token=...: choose a new password with the link from a reset mail.
import { apiFetch } from "./api.js";
import { errorMessage } from "./errors.js";
import { formErrors, onSubmit } from "./forms.js";
import { takeLinkToken } from "./link-token.js";
import { watchPasswordMatch } from "./passwords.js";

const form = document.getElementById("reset-form");
const error = document.getElementById("reset-error");
const token = takeLinkToken();
const check = watchPasswordMatch(form.elements.new_password, form.elements.confirm_password);

onSubmit(form, { error, submit: document.getElementById("reset-submit"), check }, async () => {
  const response = await apiFetch("/api/users/password-reset/confirm", {
    method: "POST",
    auth: false,
    json: { token, new_password: form.elements.new_password.value },
  });
  if (response.status === 400) return errorMessage(response);
  if (!response.ok) return formErrors(form, response);
  form.reset();
  form.hidden = true;
  document.getElementById("reset-again").hidden = true;
  const done = document.getElementById("reset-done");
  done.hidden = false;
  done.querySelector("a").focus();
});

if (!token) {
  form.querySelector("fieldset").disabled = true;
  error.textContent =
    "This page needs the link from your mail. Open it again from there, or ask for a new one.";
  error.hidden = false;
}
