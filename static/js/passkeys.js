// Passkeys in the browser: the WebAuthn calls of both ceremonies, the JSON the API
// speaks, and what a failure means to a person. Tokens stay auth.js's business: a
// passkey sign-in hands it the access token, as the password form does.
import { apiFetch } from "./api.js";
import { setToken } from "./auth.js";
import { errorBody, errorMessage } from "./errors.js";

/** A failure to show as it is (an API `detail`, or one of the messages below). */
export class PasskeyError extends Error {}

export function passkeysSupported() {
  return typeof window.PublicKeyCredential === "function" && Boolean(navigator.credentials);
}

/** Whether the browser can offer passkeys in the email field's autofill. */
export async function autofillAvailable() {
  if (!passkeysSupported()) return false;
  try {
    return Boolean(await PublicKeyCredential.isConditionalMediationAvailable?.());
  } catch {
    return false;
  }
}

// --- WebAuthn's binary fields as base64url, for browsers without the JSON methods ----
function toBuffer(base64url) {
  const base64 = base64url.replace(/-/g, "+").replace(/_/g, "/");
  const binary = atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4));
  return Uint8Array.from(binary, (char) => char.charCodeAt(0)).buffer;
}

function toBase64url(buffer) {
  const bytes = new Uint8Array(buffer);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

const withBufferId = (descriptor) => ({ ...descriptor, id: toBuffer(descriptor.id) });

function creationOptions(json) {
  if (PublicKeyCredential.parseCreationOptionsFromJSON) {
    return PublicKeyCredential.parseCreationOptionsFromJSON(json);
  }
  return {
    ...json,
    challenge: toBuffer(json.challenge),
    user: { ...json.user, id: toBuffer(json.user.id) },
    excludeCredentials: (json.excludeCredentials || []).map(withBufferId),
  };
}

function requestOptions(json) {
  if (PublicKeyCredential.parseRequestOptionsFromJSON) {
    return PublicKeyCredential.parseRequestOptionsFromJSON(json);
  }
  return {
    ...json,
    challenge: toBuffer(json.challenge),
    allowCredentials: (json.allowCredentials || []).map(withBufferId),
  };
}

function credentialJSON(credential) {
  if (typeof credential.toJSON === "function") return credential.toJSON();
  const { response } = credential;
  const encoded = { clientDataJSON: toBase64url(response.clientDataJSON) };
  if (response.attestationObject) {
    encoded.attestationObject = toBase64url(response.attestationObject);
    encoded.transports = response.getTransports ? response.getTransports() : [];
  } else {
    encoded.authenticatorData = toBase64url(response.authenticatorData);
    encoded.signature = toBase64url(response.signature);
    if (response.userHandle) encoded.userHandle = toBase64url(response.userHandle);
  }
  return {
    id: credential.id,
    rawId: toBase64url(credential.rawId),
    type: credential.type,
    response: encoded,
    authenticatorAttachment: credential.authenticatorAttachment || null,
    clientExtensionResults: credential.getClientExtensionResults(),
  };
}

// --- What went wrong, for a person ---------------------------------------------------
const NOT_USED =
  "No passkey was used: the request was cancelled or timed out, or this device has no " +
  "passkey for this site. Try again, or log in with your password.";

/** The message for a failed WebAuthn call, or null when it was aborted on purpose. */
function problem(error) {
  switch (error && error.name) {
    case "AbortError":
      return null;
    case "NotAllowedError":
      return NOT_USED;
    case "InvalidStateError":
      return "This device already holds a passkey for your account.";
    case "SecurityError":
      return `Passkeys cannot be used at this address (${location.host}).`;
    case "NotSupportedError":
      return "This browser or device cannot make a passkey.";
    default:
      return "The passkey request did not work. Please try again.";
  }
}

/** Passkeys are made for one site name (the server's RP ID); elsewhere, say where. */
function checkSite(rpId) {
  const host = location.hostname;
  if (host === rpId || host.endsWith(`.${rpId}`)) return;
  const port = location.port ? `:${location.port}` : "";
  throw new PasskeyError(
    `Passkeys for this site work at ${rpId}, not ${host}: open ` +
      `${location.protocol}//${rpId}${port}${location.pathname} to use one.`,
  );
}

async function options(path, init) {
  const response = await apiFetch(path, { method: "POST", ...init });
  if (!response.ok) throw new PasskeyError(await errorMessage(response));
  return response.json();
}

/** Run a WebAuthn call: its result, or null if it was aborted (the caller moved on)
 * or, for a quiet one (autofill, which nobody asked for), if nothing was chosen. */
async function ceremony(call, { quiet = false } = {}) {
  try {
    return await call();
  } catch (error) {
    const message = problem(error);
    if (message === null || (quiet && message === NOT_USED)) return null;
    throw new PasskeyError(message);
  }
}

/**
 * Sign in with a passkey: the browser asks which one (or, with mediation
 * "conditional", offers them in the email field's autofill and waits). Resolves true
 * once signed in (auth.js holds the token), false if `signal` aborted it; throws a
 * PasskeyError to show otherwise.
 */
export async function signInWithPasskey({ mediation, signal } = {}) {
  const json = await options("/api/users/token/passkey/options", { auth: false, signal });
  checkSite(json.rpId);
  const credential = await ceremony(
    () => navigator.credentials.get({ publicKey: requestOptions(json), mediation, signal }),
    { quiet: mediation === "conditional" },
  );
  if (!credential) return false;
  const answer = credentialJSON(credential);
  const response = await apiFetch("/api/users/token/passkey", {
    method: "POST",
    auth: false,
    json: { credential: answer },
  });
  if (!response.ok) {
    if (response.status === 401) forgetUnknown(json.rpId, answer.id, response);
    throw new PasskeyError(await errorMessage(response));
  }
  setToken((await response.json()).access_token);
  return true;
}

/** A passkey this site no longer knows (removed from the account): let the device's
 * passkey manager drop it too, where the browser supports the Signal API. */
async function forgetUnknown(rpId, credentialId, response) {
  if (typeof PublicKeyCredential.signalUnknownCredential !== "function") return;
  const body = await errorBody(response);
  if (!body || body.code !== "passkey_unknown") return;
  try {
    await PublicKeyCredential.signalUnknownCredential({ rpId, credentialId });
  } catch {
    // only a courtesy to the passkey manager
  }
}

/**
 * Add a passkey to the signed-in account (a session that signed in long ago is asked
 * to confirm it is its owner first: apiFetch's step-up). Resolves with the new passkey
 * ({id, name, ...}); throws a PasskeyError to show.
 */
export async function addPasskey(name) {
  const json = await options("/api/users/me/passkeys/options", { json: {} });
  checkSite(json.rp.id);
  const credential = await ceremony(() =>
    navigator.credentials.create({ publicKey: creationOptions(json) }),
  );
  if (!credential) throw new PasskeyError(NOT_USED);
  const response = await apiFetch("/api/users/me/passkeys", {
    method: "POST",
    json: { credential: credentialJSON(credential), name },
  });
  if (!response.ok) throw new PasskeyError(await errorMessage(response));
  return response.json();
}

/**
 * Confirm it is you with a passkey of this account (step-up, reauth.js): resolves true
 * once the server counts this session as recently authenticated, false if aborted;
 * throws a PasskeyError to show (the account has no passkey, or another one was used).
 */
export async function confirmWithPasskey() {
  const json = await options("/api/users/me/reauthentication/passkey/options", {
    stepUp: false,
  });
  checkSite(json.rpId);
  const credential = await ceremony(() =>
    navigator.credentials.get({ publicKey: requestOptions(json) }),
  );
  if (!credential) return false;
  const response = await apiFetch("/api/users/me/reauthentication/passkey", {
    method: "POST",
    stepUp: false,
    json: { credential: credentialJSON(credential) },
  });
  if (!response.ok) throw new PasskeyError(await errorMessage(response));
  return true;
}
