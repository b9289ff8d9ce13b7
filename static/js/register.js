import { apiFetch } from "./api.js";
import { setToken } from "./auth.js";
import { NetworkError } from "./errors.js";
import { formErrors, LEAVING, onSubmit } from "./forms.js";
import { nextFromQuery } from "./navigation.js";
import { watchPasswordMatch } from "./passwords.js";

const form = document.getElementById("register-form");
const error = document.getElementById("register-error");
const submit = document.getElementById("register-submit");

const check = watchPasswordMatch(form.elements.password, form.elements.confirm_password);

/** Sign the new account in with what was just typed, as the login form would. */
async function signIn(email, password) {
  const response = await apiFetch("/api/users/token", {
    method: "POST",
    auth: false,
    body: new URLSearchParams({ username: email, password }),
  });
  if (!response.ok) return false;
  setToken((await response.json()).access_token);
  return true;
}

onSubmit(form, { error, submit, check }, async () => {
  const email = form.elements.email.value;
  const password = form.elements.password.value;
  const response = await apiFetch("/api/users", {
    method: "POST",
    auth: false,
    json: { username: form.elements.username.value, email, password },
  });
  if (!response.ok) return formErrors(form, response);
  // Signed in at once, and on to where the person was going: no second form.
  const next = nextFromQuery();
  // Offline by now: the login page, with `next`, finishes the job.
  const signedIn = await signIn(email, password).catch((failure) => {
    if (failure instanceof NetworkError) return false;
    throw failure;
  });
  form.reset();
  location.assign(signedIn ? next : `/login?next=${encodeURIComponent(next)}`);
  return LEAVING;
});
