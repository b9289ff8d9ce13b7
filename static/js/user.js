// The current user: who the access token belongs to (the cached `/api/users/me`, asked
// once per page load however many scripts ask), the last one this browser saw (so the
// navbar can show it before /me answers), and signing out.
import {
  announceLogout,
  clearToken,
  getToken,
  markLeaving,
  onTokenCleared,
  takeSignedInMark,
} from "./auth.js";
import { apiFetch, tokenFromRefreshCookie } from "./api.js";
import { NetworkError } from "./errors.js";

// Who was signed in when this browser last asked (id and username only: display data,
// never a secret), so the navbar can show it before /api/users/me answers.
// static/js/first-paint.js reads the same key before the first paint.
const LAST_USER_KEY = "last_user";
const LOGOUT_PATH = "/api/users/logout";

let userPromise = null;

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

// No token, no user: whenever auth.js forgets the token, the user goes with it.
onTokenCleared(() => {
  rememberUser(null);
  userPromise = null;
});

/**
 * The signed-in user ({id, username, email, ...}) or null. One request per page
 * load at most: concurrent and later callers share the same promise. An expired
 * access token is refreshed on the way (apiFetch does it). With auth.js's "just signed
 * in" mark (a provider's sign-in landed here with only the refresh cookie), the token
 * is fetched through the refresh endpoint first.
 */
export function getCurrentUser() {
  if (userPromise) return userPromise;
  // The mark wins over a token this page may still hold: the refresh cookie is the
  // new session's, and the token someone else's (or an ended session's).
  const signingIn = takeSignedInMark();
  if (!getToken() && !signingIn) {
    rememberUser(null);
    return Promise.resolve(null);
  }
  const promise = (async () => {
    let response;
    try {
      if (signingIn) await tokenFromRefreshCookie();
      if (!getToken()) return null;
      response = await apiFetch("/api/users/me");
    } catch (failure) {
      if (failure instanceof NetworkError) return null; // offline: the last user stays
      throw failure;
    }
    if (!response.ok) return null; // a 401 has cleared the token, and the last user
    const user = await response.json();
    rememberUser(user);
    return user;
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
  markLeaving();
  const token = getToken();
  // The token is sent as it is, never refreshed: an expired one may be refused, and
  // then the refresh cookie alone still names the session.
  const end = (withToken) =>
    apiFetch(LOGOUT_PATH, {
      method: "POST",
      auth: false,
      headers: withToken ? { Authorization: `Bearer ${withToken}` } : {},
    });
  let unexpected = null;
  try {
    const response = await end(token);
    if (response.status === 401 && token) await end(null);
  } catch (failure) {
    // Offline: the token is forgotten here all the same. A bug too, then it is thrown.
    if (!(failure instanceof NetworkError)) unexpected = failure;
  }
  clearToken();
  announceLogout();
  location.assign("/");
  if (unexpected) throw unexpected;
}
