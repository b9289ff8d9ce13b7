// /forgot-password: ask for a reset link. The answer is the same whether or not an
// account uses the address, so the page only ever says "check your inbox".
import { apiFetch } from "./api.js";
import { errorMessage } from "./errors.js";
import { formErrors, onSubmit } from "./forms.js";

const form = document.getElementById("forgot-form");
const error = document.getElementById("forgot-error");
const submit = document.getElementById("forgot-submit");
const sent = document.getElementById("forgot-sent");

onSubmit(form, { error, submit }, async () => {
  const email = form.elements.email.value.trim();
  const response = await apiFetch("/api/users/password-reset", {
    method: "POST",
    auth: false,
    json: { email },
  });
  if (response.status === 429) return errorMessage(response);
  if (!response.ok) return formErrors(form, response);
  const { detail } = await response.json();
  sent.textContent = `${detail} Sent to ${email}; check the spam folder too.`;
  sent.hidden = false;
  form.hidden = true;
  sent.tabIndex = -1;
  sent.focus();
});
