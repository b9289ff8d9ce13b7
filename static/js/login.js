import { apiFetch, errorMessage, NETWORK_ERROR, nextFromQuery, setToken, showError } from "./auth.js";

const form = document.getElementById("login-form");
const error = document.getElementById("login-error");
const submit = document.getElementById("login-submit");

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!form.reportValidity()) return;
  showError(error, "");
  submit.disabled = true;
  try {
    const response = await apiFetch("/api/users/token", {
      method: "POST",
      auth: false,
      body: new URLSearchParams(new FormData(form)),
    });
    if (response.ok) {
      const { access_token: token } = await response.json();
      setToken(token);
      location.assign(nextFromQuery());
      return;
    }
    showError(error, await errorMessage(response, "Incorrect email or password"));
    form.elements.password.value = "";
    form.elements.password.focus();
  } catch {
    showError(error, NETWORK_ERROR);
  }
  submit.disabled = false;
});
