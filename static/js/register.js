import { apiFetch, errorMessage } from "./auth.js";
import { LEAVING, onSubmit } from "./forms.js";
import { watchPasswordMatch } from "./passwords.js";

const form = document.getElementById("register-form");
const error = document.getElementById("register-error");
const submit = document.getElementById("register-submit");
const success = document.getElementById("register-success");

const check = watchPasswordMatch(form.elements.password, form.elements.confirm_password);

onSubmit(form, { error, submit, check }, async () => {
  const response = await apiFetch("/api/users", {
    method: "POST",
    auth: false,
    json: {
      username: form.elements.username.value,
      email: form.elements.email.value,
      password: form.elements.password.value,
    },
  });
  if (!response.ok) return errorMessage(response);
  form.reset();
  success.showModal();
  // Move on by itself after a moment; the dialog's link does it at once.
  setTimeout(() => location.assign("/login"), 4000);
  return LEAVING;
});
