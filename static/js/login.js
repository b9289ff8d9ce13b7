import {
  apiFetch,
  errorMessage,
  getCurrentUser,
  getToken,
  NETWORK_ERROR,
  nextFromQuery,
  setToken,
} from "./auth.js";
import { LEAVING, onClick, onSubmit } from "./forms.js";
import { autofillAvailable, PasskeyError, passkeysSupported, signInWithPasskey } from "./passkeys.js";

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

// --- Passkeys: a button, and where the browser can, the email field's autofill --------
const passkeyError = document.getElementById("passkey-error");
const showPasskeyError = (message) => {
  passkeyError.textContent = message;
  passkeyError.hidden = !message;
};
let autofill = null; // the pending autofill request: {controller, renew}

/** Offer passkeys in the email field's autofill, renewed before its challenge expires. */
async function startAutofill() {
  if (!(await autofillAvailable())) return;
  const controller = new AbortController();
  // The server's challenge lives 5 minutes: ask again a little before it ends.
  const renew = setTimeout(() => {
    stopAutofill();
    startAutofill();
  }, 270_000);
  autofill = { controller, renew };
  try {
    if (await signInWithPasskey({ mediation: "conditional", signal: controller.signal })) {
      location.assign(nextFromQuery());
    }
  } catch (failure) {
    if (controller.signal.aborted) return;
    showPasskeyError(failure instanceof PasskeyError ? failure.message : NETWORK_ERROR);
  }
}

function stopAutofill() {
  if (!autofill) return;
  clearTimeout(autofill.renew);
  autofill.controller.abort();
  autofill = null;
}

if (passkeysSupported()) {
  document.getElementById("passkey-sign-in").hidden = false;
  const button = document.getElementById("passkey-button");
  onClick(button, { error: passkeyError }, async () => {
    stopAutofill(); // one WebAuthn request at a time
    try {
      if (await signInWithPasskey()) {
        location.assign(nextFromQuery());
        return LEAVING;
      }
    } catch (failure) {
      startAutofill();
      if (failure instanceof PasskeyError) return failure.message;
      throw failure;
    }
    return undefined;
  });
  startAutofill();
}
