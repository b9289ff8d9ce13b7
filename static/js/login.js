import { apiFetch } from "./api.js";
import { setToken } from "./auth.js";
import { showError } from "./dom.js";
import { errorBody, errorMessage, GENERIC_ERROR, NetworkError, NETWORK_ERROR } from "./errors.js";
import { LEAVING, onClick, onSubmit } from "./forms.js";
import { loginUrl, nextFromQuery, safeNext } from "./navigation.js";
import { autofillAvailable, PasskeyError, passkeysSupported, signInWithPasskey } from "./passkeys.js";
import { getCurrentUser } from "./user.js";

// After a provider's sign-in on an account with 2FA (routers/oidc.py rendered this page
// at its callback address): the code step's token, in the page.
const mfaForm = document.getElementById("mfa-form");
const providerToken = mfaForm.dataset.mfaToken || null;

// Already signed in (the token is valid, or could be refreshed): nothing to do here.
if (!providerToken && (await getCurrentUser())) {
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
  const body = await errorBody(response);
  if (body && body.code === "mfa_required" && typeof body.mfa_token === "string") {
    askForCode(body.mfa_token);
    return undefined;
  }
  const message = await errorMessage(response, "Incorrect email or password");
  form.elements.password.value = "";
  form.elements.password.focus();
  return message;
});

// --- The second step, on an account with two-factor authentication -------------------
const mfaCode = document.getElementById("mfa-code");
const mfaSwitch = document.getElementById("mfa-switch");
const mfaError = document.getElementById("mfa-error");
const providers = document.getElementById("oidc-sign-in");
let mfaToken = null;
let recoveryMode = false;

/** The field asks for an app's code, or (the switch) for a recovery code. */
function setRecoveryMode(recovery) {
  recoveryMode = recovery;
  mfaCode.value = "";
  mfaCode.setAttribute("inputmode", recovery ? "text" : "numeric");
  mfaCode.setAttribute("autocomplete", recovery ? "off" : "one-time-code");
  mfaCode.setAttribute("spellcheck", "false");
  document.getElementById("mfa-code-label").textContent = recovery ? "Recovery code" : "Code from the app";
  document.getElementById("mfa-hint").textContent = recovery
    ? "Type one of the recovery codes you saved when you turned two-factor authentication on. Each works once."
    : "Open your authenticator app and type the 6-digit code it shows for Inkwell.";
  mfaSwitch.textContent = recovery ? "Use a code from the app" : "Use a recovery code";
  showError(mfaError, "");
}

/** The password was right: hide the password form and ask for the code. */
function askForCode(token) {
  mfaToken = token;
  stopAutofill();
  form.hidden = true;
  document.getElementById("passkey-sign-in").hidden = true;
  if (providers) providers.hidden = true;
  setRecoveryMode(false);
  mfaForm.hidden = false;
  mfaCode.focus();
}

/** The mfa_token expired (or wore out): back to the password, saying why. */
function backToPassword(message) {
  mfaToken = null;
  mfaForm.hidden = true;
  form.hidden = false;
  if (providers) providers.hidden = false;
  form.elements.password.value = "";
  showError(error, message);
  form.elements.password.focus();
}

mfaSwitch.addEventListener("click", () => {
  setRecoveryMode(!recoveryMode);
  mfaCode.focus();
});

onSubmit(mfaForm, { error: mfaError, submit: document.getElementById("mfa-submit") }, async () => {
  const code = recoveryMode ? mfaCode.value.trim() : mfaCode.value.replace(/\s/g, "");
  const response = await apiFetch("/api/users/token/mfa", {
    method: "POST",
    auth: false,
    json: { mfa_token: mfaToken, code },
  });
  if (response.ok) {
    const { access_token: token } = await response.json();
    setToken(token);
    location.assign(nextFromQuery());
    return LEAVING;
  }
  const body = await errorBody(response);
  const message = await errorMessage(response, "That code is wrong");
  if (body && body.code === "mfa_token_invalid") {
    backToPassword(message);
    return undefined;
  }
  mfaCode.select();
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

if (passkeysSupported() && !providerToken) {
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

// --- The code step after a provider's sign-in ------------------------------------------
// The address becomes the login page's (a reload must not replay the provider's
// callback, which would only be refused), and the token leaves the markup.
if (providerToken) {
  history.replaceState(null, "", loginUrl(safeNext(mfaForm.dataset.next)));
  delete mfaForm.dataset.mfaToken;
  askForCode(providerToken);
}
