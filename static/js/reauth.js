// Step-up: a sensitive request (a new email or password, deleting the account, adding
// or removing a passkey, ending the other sessions) on a session that signed in a while
// ago is answered 401 `reauthentication_required`. apiFetch then calls `reauthenticate`
// here: a dialog asks for the password (and the 2FA code, when it is on) or a passkey,
// POSTs it to /api/users/me/reauthentication, and says whether to send the request
// again. An account with linked providers (configured here) may also go to the
// provider and back, its 2FA code typed first when 2FA is on (a provider does not stand
// in for it): the page comes back, and the action is done once more. Tokens stay auth.js's business; this module
// never sees one.
import { apiFetch } from "./api.js";
import { showError } from "./dom.js";
import { errorBody, errorMessage, GENERIC_ERROR, NetworkError, NETWORK_ERROR } from "./errors.js";
import { configuredProviders } from "./oidc-providers.js";
import { confirmWithPasskey, PasskeyError, passkeysSupported } from "./passkeys.js";
import { getCurrentUser } from "./user.js";

const REAUTH_PATH = "/api/users/me/reauthentication";
const PROVIDER_REAUTH_PATH = "/api/users/me/reauthentication/oidc";
const IDENTITIES_PATH = "/api/users/me/identities";

let asking = null;

/**
 * Ask the person to confirm it is them. Resolves true once the server counts this
 * session as recently authenticated, false if they cancelled. Requests refused at the
 * same time share one dialog (and one answer).
 */
export function reauthenticate() {
  if (!asking) {
    asking = ask().finally(() => {
      asking = null;
    });
  }
  return asking;
}

/** An element with these properties (attributes where a property will not do). */
function element(tag, properties = {}, ...children) {
  const made = document.createElement(tag);
  for (const [name, value] of Object.entries(properties)) {
    if (name in made) made[name] = value;
    else made.setAttribute(name, value);
  }
  made.append(...children);
  return made;
}

function field(id, label, input, hint) {
  const wrapper = element("div", { className: "field" }, element("label", { htmlFor: id }, label));
  input.id = id;
  wrapper.append(input);
  if (hint) {
    input.setAttribute("aria-describedby", `${id}-hint`);
    wrapper.append(element("p", { className: "hint", id: `${id}-hint` }, hint));
  }
  return wrapper;
}

/** The dialog, built afresh each time (and removed once closed). `providers`: the
 * [name, label] pairs to offer "Continue with <label>" for. */
function build(user, withCode, providers) {
  const password = element("input", {
    name: "password",
    type: "password",
    required: true,
    autocomplete: "current-password",
  });
  const code = element("input", {
    name: "code",
    type: "text",
    inputMode: "numeric",
    autocomplete: "one-time-code",
    spellcheck: false,
  });
  const codeField = field(
    "reauth-code",
    "Code from your authenticator app",
    code,
    "Or one of your recovery codes.",
  );
  codeField.hidden = !withCode;
  code.required = withCode;
  // For password managers: whose password this is.
  const username = element("input", {
    type: "text",
    name: "account_username",
    autocomplete: "username",
    hidden: true,
    value: user ? user.email : "",
  });
  const error = element("p", { className: "form-error", id: "reauth-error", role: "alert" });
  error.hidden = true;
  const cancel = element("button", { type: "button", className: "btn btn-ghost" }, "Cancel");
  const usePasskey = element(
    "button",
    { type: "button", className: "btn btn-secondary", id: "reauth-passkey" },
    "Use a passkey",
  );
  usePasskey.hidden = !passkeysSupported();
  const submit = element("button", { type: "submit", className: "btn btn-primary" }, "Confirm");
  // No password to type (an account made through a provider): the providers alone.
  const withPassword = !(user && user.has_password === false && providers.length > 0);
  const passwordField = field("reauth-password", "Your password", password);
  passwordField.hidden = !withPassword;
  password.required = withPassword;
  submit.hidden = !withPassword;
  const providerButtons = providers.map(([name, label]) => {
    const button = element(
      "button",
      { type: "button", className: "btn btn-secondary btn-block" },
      `Continue with ${label}`,
    );
    button.dataset.provider = name;
    return button;
  });
  const providerBlock = element(
    "div",
    { className: "stack", id: "reauth-providers" },
    ...(withPassword ? [element("p", { className: "divider" }, element("span", {}, "or"))] : []),
    ...providerButtons,
    element(
      "p",
      { className: "hint", id: "reauth-providers-hint" },
      "This page will open again once you are back: then do what you were doing once more.",
    ),
  );
  providerBlock.hidden = providers.length === 0;
  const intro = withPassword
    ? "You signed in a while ago. To make this change, enter your password again."
    : "You signed in a while ago. To make this change, confirm it is you with an account that signs in to yours.";
  const form = element(
    "form",
    { className: "stack", id: "reauth-form" },
    element("h2", { id: "reauth-heading" }, "Confirm it is you"),
    element("p", { id: "reauth-intro" }, intro),
    username,
    passwordField,
    codeField,
    providerBlock,
    error,
    element("div", { className: "dialog-actions" }, cancel, usePasskey, submit),
  );
  const dialog = element("dialog", {
    className: "modal",
    id: "reauth-dialog",
    "aria-labelledby": "reauth-heading",
    "aria-describedby": "reauth-intro",
  });
  dialog.append(form);
  return {
    dialog,
    form,
    password,
    passwordField,
    code,
    codeField,
    error,
    cancel,
    usePasskey,
    submit,
    providerButtons,
  };
}

/** Run `work` with the dialog's buttons disabled and `button` saying `label`; true
 * once it has confirmed, false (its error shown) otherwise. */
async function busy(parts, button, label, work) {
  const buttons = [parts.submit, parts.usePasskey, ...parts.providerButtons];
  const idleLabel = button.textContent;
  for (const each of buttons) each.disabled = true;
  button.setAttribute("aria-busy", "true");
  button.textContent = label;
  showError(parts.error, "");
  let unexpected = null;
  try {
    return await work();
  } catch (failure) {
    if (failure instanceof PasskeyError) showError(parts.error, failure.message);
    else if (failure instanceof NetworkError) showError(parts.error, NETWORK_ERROR);
    else {
      showError(parts.error, GENERIC_ERROR);
      unexpected = failure;
    }
    return false;
  } finally {
    for (const each of buttons) each.disabled = false;
    button.removeAttribute("aria-busy");
    button.textContent = idleLabel;
    if (unexpected) console.error(unexpected); // a bug: shown in the console, not hidden
  }
}

/** 2FA was turned on since this page asked /api/users/me: ask for the code too. */
function askForCodeToo(parts) {
  parts.codeField.hidden = false;
  parts.code.required = true;
  parts.code.focus();
}

/** POST the password (and code); true once accepted, else the error is shown. */
async function sendPassword(parts) {
  const body = { password: parts.password.value };
  if (!parts.codeField.hidden && parts.code.value.trim()) body.code = parts.code.value.trim();
  const response = await apiFetch(REAUTH_PATH, { method: "POST", json: body, stepUp: false });
  if (response.ok) return true;
  const answer = await errorBody(response);
  if (answer && answer.code === "mfa_code_required") askForCodeToo(parts);
  showError(parts.error, await errorMessage(response));
  return false;
}

/** The providers to offer, as [name, label] pairs: those linked to this account and
 * configured here (the page lists them), none when the list cannot be had (the
 * password and passkey still work). */
async function linkedProviders(user) {
  const configured = configuredProviders();
  if (configured.size === 0 || !user) return [];
  let identities;
  try {
    const response = await apiFetch(IDENTITIES_PATH, { stepUp: false });
    if (!response.ok) return [];
    identities = await response.json();
  } catch {
    return [];
  }
  const linked = new Set(identities.map((identity) => identity.provider));
  return Array.from(configured).filter(([name]) => linked.has(name));
}

/** To the provider (and back to this page): resolves false only when the server
 * refused, its error shown; otherwise the page is leaving. */
async function continueWith(parts, provider) {
  const body = { provider, next: location.pathname + location.search };
  if (!parts.codeField.hidden) {
    // With 2FA on, the code goes first (and is checked now); the provider does the rest.
    const code = parts.code.value.trim();
    if (!code) {
      showError(parts.error, "Type the code from your authenticator app (or a recovery code) first.");
      parts.code.focus();
      return false;
    }
    body.code = code;
  }
  const response = await apiFetch(PROVIDER_REAUTH_PATH, { method: "POST", json: body, stepUp: false });
  if (!response.ok) {
    const answer = await errorBody(response);
    if (answer && answer.code === "mfa_code_required") askForCodeToo(parts);
    showError(parts.error, await errorMessage(response));
    return false;
  }
  const { authorization_url: url } = await response.json();
  if (typeof url !== "string") throw new Error("no authorization_url in the answer");
  location.assign(url);
  // The page is on its way to the provider: the dialog stays as it is meanwhile.
  return new Promise(() => {});
}

async function ask() {
  let user = null;
  try {
    user = await getCurrentUser();
  } catch {
    // the dialog still works: the code field shows if the server asks for it
  }
  const providers = await linkedProviders(user);
  const parts = build(user, Boolean(user && user.totp_enabled), providers);
  document.body.append(parts.dialog);
  return new Promise((resolve) => {
    let done = false;
    const finish = (confirmed) => {
      if (done) return;
      done = true;
      if (parts.dialog.open) parts.dialog.close();
      parts.dialog.remove();
      resolve(confirmed);
    };
    parts.dialog.addEventListener("close", () => finish(false));
    parts.cancel.addEventListener("click", () => finish(false));
    parts.form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!parts.form.reportValidity()) return;
      if (await busy(parts, parts.submit, "Checking…", () => sendPassword(parts))) finish(true);
    });
    parts.usePasskey.addEventListener("click", async () => {
      const waiting = "Waiting for your passkey…";
      if (await busy(parts, parts.usePasskey, waiting, confirmWithPasskey)) finish(true);
    });
    for (const button of parts.providerButtons) {
      button.addEventListener("click", async () => {
        const label = button.textContent.replace(/^Continue with /, "");
        await busy(parts, button, `Opening ${label}…`, () =>
          continueWith(parts, button.dataset.provider),
        );
      });
    }
    parts.dialog.showModal();
    if (parts.passwordField.hidden) parts.providerButtons[0].focus();
    else parts.password.focus();
  });
}
