// The API client: `apiFetch`, the one fetch helper every script talks to the API (and
// fetches pages) through. It sends the access token (auth.js holds it) and, when the
// token has expired, trades the refresh cookie for a new one and tries again. When a
// sensitive action needs the person to confirm it is them (step-up), it asks in a
// dialog (reauth.js) and tries again.
import { clearToken, getToken, markLeaving, setToken } from "./auth.js";
import { errorBody, NetworkError } from "./errors.js";
import { loginUrl } from "./navigation.js";

const READ_METHODS = new Set(["GET", "HEAD"]);
const REFRESH_PATH = "/api/users/token/refresh";
// The 401s that say the token is no good (expired, or its session ended). Any other
// coded 401 is the request's own answer (a passkey refused, say): no refresh for it.
const TOKEN_REFUSALS = new Set(["invalid_token", "not_authenticated"]);
// A sensitive action on a session that has not proven who uses it lately.
const STEP_UP = "reauthentication_required";

let refreshPromise = null;

/** fetch, whose network failure (a TypeError, before any answer) is a NetworkError;
 * anything else it throws (an abort) is thrown as it is. */
async function send(path, init) {
  try {
    return await fetch(path, init);
  } catch (failure) {
    throw failure instanceof TypeError ? new NetworkError(failure) : failure;
  }
}

/** Trade the refresh cookie for a new access token: the token, or null when the
 * session is over. A network error or a server that is down (5xx, 429) throws a
 * NetworkError, as a failed fetch would: a passing outage must not sign anybody out. */
async function requestNewToken() {
  const response = await send(REFRESH_PATH, {
    method: "POST",
    headers: { Accept: "application/json" },
    credentials: "same-origin",
  });
  if (response.status >= 500 || response.status === 429) {
    throw new NetworkError(new Error(`token refresh failed with ${response.status}`));
  }
  if (!response.ok) return null;
  let data;
  try {
    data = await response.json();
  } catch {
    return null;
  }
  if (!data || typeof data.access_token !== "string") return null;
  setToken(data.access_token);
  return data.access_token;
}

/**
 * A usable access token after `rejected` was answered 401, or null when the session
 * is over. Concurrent callers share one refresh; a caller whose token was already
 * replaced (by another call or another tab) just takes the new one. Tabs take turns
 * through a Web Lock, so two of them never spend the same rotating cookie at once.
 */
function refreshedToken(rejected) {
  const current = getToken();
  if (current && current !== rejected) return Promise.resolve(current);
  if (refreshPromise) return refreshPromise;
  const attempt = async () => {
    const now = getToken();
    if (now && now !== rejected) return now; // another tab refreshed while we waited
    return requestNewToken();
  };
  const locks = typeof navigator !== "undefined" && navigator.locks;
  refreshPromise = (locks ? locks.request("inkwell-refresh", attempt) : attempt()).finally(() => {
    refreshPromise = null;
  });
  return refreshPromise;
}

/** A new access token through the refresh cookie, in place of whatever token this page
 * holds (a provider's sign-in has just started a session with only that cookie): the
 * token, or null when there is no session. As any refresh, it throws a NetworkError
 * when the server cannot be reached. */
export function tokenFromRefreshCookie() {
  return refreshedToken(getToken());
}

/**
 * The one fetch helper. Options are fetch's (`keepalive` included: a save sent as the
 * page goes away), plus:
 *   json: a plain object, sent as JSON with the right Content-Type;
 *   auth: false to never send the token (the login form uses it);
 *   leaveForLogin: false to stay on the page when the session is over (an autosave:
 *     the editor keeps the text on this device and says so), where a write would
 *     otherwise go to the login page;
 *   stepUp: false to answer a 401 `reauthentication_required` as it is (reauth.js's
 *     own requests).
 * A 401 to a request that carried the token refreshes the token once (through the
 * refresh cookie) and sends the request again. Only when that fails is the token
 * cleared (and with it the cached user); for a write, the person is then sent to log
 * in again (a window event "inkwell:login-required" goes first, so open drafts can
 * say so). A 401 `reauthentication_required` opens reauth.js's dialog instead: once
 * the person has confirmed it is them, the request is sent once more and its answer
 * returned; if they cancel, the 401 is. A request that never reached the server
 * throws a NetworkError.
 */
export async function apiFetch(path, options = {}) {
  const {
    json,
    auth = true,
    leaveForLogin = true,
    stepUp = true,
    headers: givenHeaders,
    ...init
  } = options;
  const method = (init.method || "GET").toUpperCase();
  const headers = new Headers(givenHeaders || {});
  if (!headers.has("Accept")) headers.set("Accept", "application/json");
  if (json !== undefined) {
    headers.set("Content-Type", "application/json");
    init.body = JSON.stringify(json);
  }
  const ownToken = auth && !headers.has("Authorization");
  const sendWith = (token) => {
    if (token) headers.set("Authorization", `Bearer ${token}`);
    return send(path, { ...init, method, headers, credentials: "same-origin" });
  };
  return withToken(ownToken, method, { leaveForLogin, stepUp }, sendWith);
}

/** The `code` of an error answer, or null. */
async function codeOf(response) {
  const body = await errorBody(response);
  return body && typeof body.code === "string" ? body.code : null;
}

/** Send through `sendWith(token)`, refreshing the token once on a 401, or stepping up
 * on a 401 `reauthentication_required` (see apiFetch). `sendWith` may be called more
 * than once: the bodies sent through it (a string, a FormData) can be. */
async function withToken(ownToken, method, options, sendWith) {
  const token = ownToken ? getToken() : null;
  let response = await sendWith(token);
  if (response.status !== 401 || !token) return response;
  let code = await codeOf(response);
  if (code === STEP_UP) return steppedUp(response, ownToken, method, options, sendWith);
  if (code && !TOKEN_REFUSALS.has(code)) return response;

  const fresh = await refreshedToken(token);
  if (fresh) {
    response = await sendWith(fresh);
    if (response.status !== 401) return response;
    // An expired token on a session that also signed in long ago: now the step-up.
    code = await codeOf(response);
    if (code === STEP_UP) return steppedUp(response, ownToken, method, options, sendWith);
    if (code && !TOKEN_REFUSALS.has(code)) return response;
  }
  clearToken();
  if (!READ_METHODS.has(method) && options.leaveForLogin) {
    window.dispatchEvent(new CustomEvent("inkwell:login-required"));
    markLeaving();
    location.assign(loginUrl());
  }
  return response;
}

/** `refused` was a 401 `reauthentication_required`: once the person has confirmed it
 * is them (reauth.js's dialog), send the request once more, as any request (a token
 * that expired meanwhile is refreshed), never asking twice; cancelled, `refused`. */
async function steppedUp(refused, ownToken, method, options, sendWith) {
  if (!options.stepUp) return refused;
  const { reauthenticate } = await import("./reauth.js");
  if (!(await reauthenticate())) return refused;
  return withToken(ownToken, method, { ...options, stepUp: false }, sendWith);
}

/** One XMLHttpRequest as a fetch Response: fetch reports no upload progress, XHR does
 * (the only reason it is used). A request that never reached the server rejects with a
 * NetworkError, as apiFetch's would. */
function xhrSend(method, path, body, token, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, path);
    xhr.responseType = "blob";
    xhr.setRequestHeader("Accept", "application/json");
    if (token) xhr.setRequestHeader("Authorization", `Bearer ${token}`);
    if (onProgress) {
      xhr.upload.addEventListener("progress", (event) => {
        if (event.lengthComputable) onProgress(event.loaded / event.total);
      });
    }
    xhr.addEventListener("load", () => {
      const headers = new Headers();
      for (const line of xhr.getAllResponseHeaders().trim().split(/[\r\n]+/)) {
        const at = line.indexOf(":");
        if (at > 0) headers.append(line.slice(0, at).trim(), line.slice(at + 1).trim());
      }
      const empty = xhr.status === 204 || xhr.status === 304;
      resolve(new Response(empty ? null : xhr.response, { status: xhr.status, headers }));
    });
    const failed = () => reject(new NetworkError(new Error(`upload to ${path} failed`)));
    xhr.addEventListener("error", failed);
    xhr.addEventListener("abort", failed);
    xhr.addEventListener("timeout", failed);
    xhr.send(body);
  });
}

/**
 * Upload `body` (a FormData) to `path` with POST, as apiFetch would send it (the token,
 * one refresh on a 401, the step-up dialog, the login page when the session is over:
 * a FormData can be sent again), reporting progress
 * to `onProgress(fraction)`. Resolves with a fetch Response, so errors.js and forms.js
 * read its answer as any other.
 */
export function apiUpload(path, body, { onProgress, leaveForLogin = true } = {}) {
  return withToken(true, "POST", { leaveForLogin, stepUp: true }, (token) =>
    xhrSend("POST", path, body, token, onProgress),
  );
}
