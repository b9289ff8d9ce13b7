// The token store: the ONE module that reads or writes the access token in
// localStorage (api.js sends it, user.js asks who it belongs to, both through these
// exports). It also keeps the tabs of this site in step: a sign-out in one is heard by
// the others. Every page script imports it through a plain relative import, so the
// browser keeps one instance of it per page.

const TOKEN_KEY = "access_token";
const CHANNEL_NAME = "inkwell-auth";

const forgetters = [];
let leaving = false;

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

// Set (readable, short-lived) by a provider's sign-in (routers/oidc.py) on its way to
// `next`: the refresh cookie is there, the access token is not yet.
const SIGNED_IN_MARK = "inkwell_signed_in";

/** Whether a provider's sign-in has just happened in this browser; the mark is deleted
 * either way (it says so once: a page that reads it fetches the access token). */
export function takeSignedInMark() {
  let present = false;
  try {
    present = document.cookie.split(";").some((pair) => pair.trim() === `${SIGNED_IN_MARK}=1`);
    if (present) {
      const secure = location.protocol === "https:" ? "; Secure" : "";
      document.cookie = `${SIGNED_IN_MARK}=; Max-Age=0; Path=/; SameSite=Lax${secure}`;
    }
  } catch {
    // cookies unavailable: no mark
  }
  return present;
}

/** Forget the token (and, through `onTokenCleared`, whatever was known about its user). */
export function clearToken() {
  try {
    localStorage.removeItem(TOKEN_KEY);
  } catch {
    // storage unavailable: nothing to clear
  }
  for (const forget of forgetters) forget();
}

/** Call `forget` whenever the token is cleared (user.js drops its cached user). */
export function onTokenCleared(forget) {
  forgetters.push(forget);
}

/** This page is on its way elsewhere: a sign-out heard from another tab must not
 * reload it meanwhile. */
export function markLeaving() {
  leaving = true;
}

/** Whether this page is on its way elsewhere (signing out, say): work it would start
 * now (a list read again) is no longer wanted, and would be refused. */
export function isLeaving() {
  return leaving;
}

// Other tabs of this site hear about a sign-out through this channel (and through
// the `storage` event on the token key, where BroadcastChannel is missing).
const channel = typeof BroadcastChannel === "function" ? new BroadcastChannel(CHANNEL_NAME) : null;

/** Signed out elsewhere (another tab logged out, or its refresh failed): show this
 * page again as a guest. Drafts live in localStorage, so nothing typed is lost. */
function signedOutElsewhere() {
  if (leaving) return;
  leaving = true;
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

/** Tell the other tabs this session is over (they reload as a guest). */
export function announceLogout() {
  try {
    if (channel) channel.postMessage({ type: "logout" });
  } catch {
    // the other tabs still see the token go through the `storage` event
  }
}

/** Forget the token after the account itself is gone, and sign out the other tabs. */
export function forgetSession() {
  markLeaving();
  clearToken();
  announceLogout();
}
