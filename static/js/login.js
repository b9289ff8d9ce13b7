import { apiFetch, errorMessage, getCurrentUser, getToken, nextFromQuery, setToken } from "./auth.js";
import { LEAVING, onSubmit } from "./forms.js";

// Already signed in (the token is valid, or could be refreshed): nothing to do here.
if (getToken() && (await getCurrentUser())) {
  location.replace(nextFromQuery());
}

const form = document.getElementById("login-form");
const error = document.getElementById("login-error");
const submit = document.getElementById("login-submit");

onSubmit(form, { error, submit }, async () => {
  const response = await apiFetch("/api/users/token", {
    method: "POST",
    auth: false,
    body: new URLSearchParams(new FormData(form)),
  });
  if (response.ok) {
    const { access_token: token } = await response.json();
    setToken(token);
    location.assign(nextFromQuery());
    return LEAVING;
  }
  const message = await errorMessage(response, "Incorrect email or password");
  form.elements.password.value = "";
  form.elements.password.focus();
  return message;
});
