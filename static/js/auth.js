// The single source of truth for the access token and for talking to the API.
// Every page script imports this module through a plain relative import, so the
// browser keeps ONE instance of it per page (and so one cached current user).

const TOKEN_KEY = "access_token";
// Who was signed in when this browser last asked (id and username only: display data,
// never a secret), so the navbar can show it before /api/users/me answers.
// static/js/first-paint.js reads the same key before the first paint.
const LAST_USER_KEY = "last_user";
const READ_METHODS = new Set(["GET", "HEAD"]);
const GENERIC_ERROR = "Something went wrong. Please try again.";

let userPromise = null;

export function getToken() {
  try {
    return localStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function setToken(token) {
  localStorage.setItem(TOKEN_KEY, token);
}

export function clearToken() {
  try {
    localStorage.removeItem(TOKEN_KEY);
  } catch {
    // storage unavailable: nothing to clear
  }
  rememberUser(null);
  userPromise = null;
}

/** The user this browser last saw signed in ({id, username}), or null. */
export function lastKnownUser() {
  if (!getToken()) return null;
  try {
    const user = JSON.parse(localStorage.getItem(LAST_USER_KEY));
    return user && typeof user.username === "string" ? user : null;
  } catch {
    return null;
  }
}

function rememberUser(user) {
  try {
    if (user) {
      localStorage.setItem(LAST_USER_KEY, JSON.stringify({ id: user.id, username: user.username }));
    } else {
      localStorage.removeItem(LAST_USER_KEY);
    }
  } catch {
    // storage unavailable: the navbar simply waits for /api/users/me
  }
}

/** Only same-site relative paths are honoured as `next`; anything else means "/". */
export function safeNext(value) {
  if (typeof value !== "string" || !value.startsWith("/")) return "/";
  if (value.startsWith("//") || value.startsWith("/\\")) return "/";
  // Browsers drop tabs and newlines inside URLs ("/\t/evil" becomes "//evil"), and
  // treat "\" like "/": refuse any control character or backslash outright.
  if (/[\u0000-\u001f\u007f\\]/.test(value)) return "/";
  try {
    const url = new URL(value, location.origin);
    if (url.origin !== location.origin) return "/";
    return url.pathname + url.search + url.hash;
  } catch {
    return "/";
  }
}

/** The honoured `?next=` of the current address. */
export function nextFromQuery() {
  return safeNext(new URLSearchParams(location.search).get("next"));
}

/** `/login?next=<path>` for the given same-site path (the current one by default). */
export function loginUrl(path = location.pathname + location.search) {
  return "/login?next=" + encodeURIComponent(path).replace(/%2F/gi, "/");
}

const REFRESH_PATH = "/api/users/token/refresh";
const LOGOUT_PATH = "/api/users/logout";
const CHANNEL_NAME = "inkwell-auth";

// Other tabs of this site hear about a sign-out through this channel (and through
// the `storage` event on the token key, where BroadcastChannel is missing).
const channel = typeof BroadcastChannel === "function" ? new BroadcastChannel(CHANNEL_NAME) : null;
let refreshPromise = null;
let leaving = false;

/** Signed out elsewhere (another tab logged out, or its refresh failed): show this
 * page again as a guest. Drafts live in localStorage, so nothing typed is lost. */
function signedOutElsewhere() {
  if (leaving) return;
  leaving = true;
  userPromise = null;
  location.reload();
}

if (channel) {
  channel.addEventListener("message", (event) => {
    if (event.data && event.data.type === "logout") signedOutElsewhere();
  });
}
window.addEventListener("storage", (event) => {
  // `key` is null when another tab cleared the whole storage.
  if (event.storageArea !== localStorage) return;
  if ((event.key === TOKEN_KEY || event.key === null) && !getToken()) signedOutElsewhere();
});

function announceLogout() {
  try {
    if (channel) channel.postMessage({ type: "logout" });
  } catch {
    // the other tabs still see the token go through the `storage` event
  }
}

/** Trade the refresh cookie for a new access token: the token, or null when the
 * session is over. A network error or a server that is down (5xx, 429) throws, as a
 * failed fetch would: a passing outage must not sign anybody out. */
async function requestNewToken() {
  const response = await fetch(REFRESH_PATH, {
    method: "POST",
    headers: { Accept: "application/json" },
    credentials: "same-origin",
  });
  if (response.status >= 500 || response.status === 429) {
    throw new Error(`token refresh failed with ${response.status}`);
  }
  if (!response.ok) return null;
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
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

/**
 * The one fetch helper. Options are fetch's, plus:
 *   json: a plain object, sent as JSON with the right Content-Type;
 *   auth: false to never send the token (the login form uses it).
 * A 401 to a request that carried the token refreshes the token once (through the
 * refresh cookie) and sends the request again. Only when that fails are the token
 * and the cached user cleared; for a write, the person is then sent to log in again
 * (a window event "inkwell:login-required" goes first, so open drafts can say so).
 */
export async function apiFetch(path, options = {}) {
  const { json, auth = true, headers: givenHeaders, ...init } = options;
  const method = (init.method || "GET").toUpperCase();
  const headers = new Headers(givenHeaders || {});
  if (!headers.has("Accept")) headers.set("Accept", "application/json");
  if (json !== undefined) {
    headers.set("Content-Type", "application/json");
    init.body = JSON.stringify(json);
  }
  const ownToken = auth && !headers.has("Authorization");
  const send = (token) => {
    if (token) headers.set("Authorization", `Bearer ${token}`);
    return fetch(path, { ...init, method, headers, credentials: "same-origin" });
  };

  const token = ownToken ? getToken() : null;
  let response = await send(token);
  if (response.status !== 401 || !token) return response;

  const fresh = await refreshedToken(token);
  if (fresh) {
    response = await send(fresh);
    if (response.status !== 401) return response;
  }
  clearToken();
  if (!READ_METHODS.has(method)) {
    window.dispatchEvent(new CustomEvent("inkwell:login-required"));
    leaving = true;
    location.assign(loginUrl());
  }
  return response;
}

/**
 * The signed-in user ({id, username, email, ...}) or null. One request per page
 * load at most: concurrent and later callers share the same promise. An expired
 * access token is refreshed on the way (apiFetch does it).
 */
export function getCurrentUser() {
  if (userPromise) return userPromise;
  if (!getToken()) {
    rememberUser(null);
    return Promise.resolve(null);
  }
  const promise = (async () => {
    try {
      const response = await apiFetch("/api/users/me");
      if (!response.ok) return null; // a 401 has cleared the token, and the last user
      const user = await response.json();
      rememberUser(user);
      return user;
    } catch {
      return null; // offline: the last known user stays for the next page
    }
  })();
  userPromise = promise;
  return promise;
}

/** Replace the cached user after a change and tell the page (the navbar listens). */
export function updateCurrentUser(user) {
  userPromise = Promise.resolve(user);
  rememberUser(user);
  window.dispatchEvent(new CustomEvent("inkwell:user", { detail: user }));
}

/** Ask /api/users/me again (something the server did changed the user, such as a
 * verified address) and tell the page, as `updateCurrentUser` does. */
export async function reloadCurrentUser() {
  userPromise = null;
  const user = await getCurrentUser();
  if (user) window.dispatchEvent(new CustomEvent("inkwell:user", { detail: user }));
  return user;
}

/** End this session on the server, forget the token, sign out every tab, go home. */
export async function logout() {
  leaving = true;
  const token = getToken();
  const end = (withToken) =>
    fetch(LOGOUT_PATH, {
      method: "POST",
      headers: withToken ? { Authorization: `Bearer ${withToken}` } : {},
      credentials: "same-origin",
    });
  try {
    // An expired access token may be refused; the refresh cookie still names the session.
    const response = await end(token);
    if (response.status === 401 && token) await end(null);
  } catch {
    // offline: the token is forgotten here all the same
  }
  clearToken();
  announceLogout();
  location.assign("/");
}

/** Forget the token after the account itself is gone, and sign out the other tabs. */
export function forgetSession() {
  leaving = true;
  clearToken();
  announceLogout();
}

function humanField(name) {
  const text = String(name).replace(/_/g, " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function capitalise(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** The human message of a failed response: its `detail`, or a generic fallback. */
export async function errorMessage(response, fallback = GENERIC_ERROR) {
  let data = null;
  try {
    data = await response.clone().json();
  } catch {
    data = null;
  }
  const detail = data && data.detail;
  if (typeof detail === "string" && detail.trim()) return detail;
  if (Array.isArray(detail) && detail.length) {
    const first = detail[0] || {};
    const message = String(first.msg || "").replace(/^Value error, /, "").trim();
    if (message) {
      const loc = Array.isArray(first.loc) ? first.loc : [];
      const field = loc.length > 1 ? loc[loc.length - 1] : null;
      return typeof field === "string" ? `${humanField(field)}: ${message}` : capitalise(message);
    }
  }
  if (response.status === 429) return "Too many attempts. Please wait a moment and try again.";
  if (response.status === 413) return "That is too long to send.";
  return fallback;
}

/** Show `message` in an error element (or hide it when empty). */
export function showError(element, message) {
  element.textContent = message || "";
  element.hidden = !message;
}

export const NETWORK_ERROR = "Could not reach the server. Check your connection and try again.";
