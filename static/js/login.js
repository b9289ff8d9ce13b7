import { apiFetch } from "./api.js";
import { getToken, setToken } from "./auth.js";
import { showError } from "./dom.js";
import { errorMessage, GENERIC_ERROR, NetworkError, NETWORK_ERROR } from "./errors.js";
import { LEAVING, onClick, onSubmit } from "./forms.js";
import { nextFromQuery } from "./navigation.js";
import { autofillAvailable, PasskeyError, passkeysSupported, signInWithPasskey } from "./passkeys.js";
import { getCurrentUser } from "./user.js";

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
const showPasskeyError = (message) => showError(passkeyError, message);
let autofill = null; // the pending autofill request: {controller, renew}

const passkeyBlock = document.getElementById("passkey-sign-in");

/** Offer passkeys in the email field's autofill (where the browser can), renewed
 * before its challenge expires. The passkey block's `data-autofill` says where this
 * stands: "starting", "waiting" (offered), or "idle". */
async function startAutofill() {
  stopAutofill();
  const controller = new AbortController();
  // The server's challenge lives 5 minutes: ask again a little before it ends.
  const renew = setTimeout(startAutofill, 270_000);
  autofill = { controller, renew };
  passkeyBlock.dataset.autofill = "starting";
  let signedIn = false;
  let unexpected = null;
  try {
    if ((await autofillAvailable()) && !controller.signal.aborted) {
      passkeyBlock.dataset.autofill = "waiting";
      signedIn = await signInWithPasskey({ mediation: "conditional", signal: controller.signal });
    }
  } catch (failure) {
    if (!controller.signal.aborted) {
      if (failure instanceof PasskeyError) showPasskeyError(failure.message);
      else if (failure instanceof NetworkError) showPasskeyError(NETWORK_ERROR);
      else {
        showPasskeyError(GENERIC_ERROR);
        unexpected = failure; // a bug: said plainly here, and thrown for the console
      }
    }
  }
  if (controller.signal.aborted) return; // stopped, or replaced by a newer one
  stopAutofill();
  if (unexpected) throw unexpected;
  if (signedIn) location.assign(nextFromQuery());
}

/** Withdraw the autofill offer (before the button's own request: one at a time). */
function stopAutofill() {
  if (!autofill) return;
  clearTimeout(autofill.renew);
  autofill.controller.abort();
  autofill = null;
  passkeyBlock.dataset.autofill = "idle";
}

if (passkeysSupported()) {
  passkeyBlock.hidden = false;
  const button = document.getElementById("passkey-button");
  onClick(button, { error: passkeyError }, async () => {
    stopAutofill();
    let signedIn;
    try {
      signedIn = await signInWithPasskey();
    } catch (failure) {
      startAutofill(); // offered again for the next try
      if (failure instanceof PasskeyError) return failure.message;
      throw failure;
    }
    if (!signedIn) {
      startAutofill();
      return undefined;
    }
    location.assign(nextFromQuery());
    return LEAVING;
  });
  startAutofill();
}
