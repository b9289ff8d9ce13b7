// The single source of truth for the access token and for talking to the API.
// Every page script imports this module through a plain relative import, so the
// browser keeps ONE instance of it per page (and so one cached current user).

const TOKEN_KEY = "access_token";
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
  userPromise = null;
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

/**
 * The one fetch helper. Options are fetch's, plus:
 *   json: a plain object, sent as JSON with the right Content-Type;
 *   auth: false to never send the token (the login form uses it).
 * A 401 to a request that carried the token clears the token and the cached user;
 * for a write, the person is then sent to log in again.
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
  const token = auth ? getToken() : null;
  if (token && !headers.has("Authorization")) headers.set("Authorization", `Bearer ${token}`);

  const response = await fetch(path, {
    ...init,
    method,
    headers,
    credentials: "same-origin",
  });
  if (response.status === 401 && headers.has("Authorization")) {
    clearToken();
    if (!READ_METHODS.has(method)) {
      location.assign(loginUrl());
    }
  }
  return response;
}

/**
 * The signed-in user ({id, username, email, ...}) or null. One request per page
 * load at most: concurrent and later callers share the same promise.
 */
export function getCurrentUser() {
  if (userPromise) return userPromise;
  if (!getToken()) return Promise.resolve(null);
  const promise = (async () => {
    try {
      const response = await apiFetch("/api/users/me");
      return response.ok ? await response.json() : null;
    } catch {
      return null;
    }
  })();
  userPromise = promise;
  return promise;
}

/** Replace the cached user after a change and tell the page (the navbar listens). */
export function updateCurrentUser(user) {
  userPromise = Promise.resolve(user);
  window.dispatchEvent(new CustomEvent("inkwell:user", { detail: user }));
}

export function logout() {
  clearToken();
  location.assign("/");
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
