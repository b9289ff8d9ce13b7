// The account page's "Recent security activity": the account's security log
// (GET /api/users/me/security-events), newest first, a page at a time ("Load more"
// follows the API's cursor). Each event reads as a sentence, with its time, address
// and browser. When another section of the page says it changed something, the log is
// read again from the top. Also how a session signed in, for the sessions list.
import { apiFetch } from "./api.js";
import { isLeaving } from "./auth.js";
import { readableDate } from "./dates.js";
import { deviceLabel } from "./devices.js";
import { byId, showError } from "./dom.js";
import { errorMessage, NetworkError, NETWORK_ERROR } from "./errors.js";
import { onClick } from "./forms.js";
import { providerLabel } from "./oidc-providers.js";

const PAGE = 10;
// How long after a section's success message the log is read again.
const SETTLE_MS = 250;
const FAILED = "Could not load your security activity.";

// accounts/security_log.py's SignInMethod, in words.
const METHODS = {
  password: "a password",
  passkey: "a passkey",
  "password+totp": "a password and an authenticator code",
  "password+recovery_code": "a password and a recovery code",
};

// A provider's sign-in: "oidc:<name>", and with the account's second step
// "oidc:<name>+totp" or "oidc:<name>+recovery_code".
const PROVIDER_METHOD = /^oidc:([a-z0-9-]+)(?:\+(totp|recovery_code))?$/;
const SECOND_STEPS = { totp: " (and a code)", recovery_code: " (and a recovery code)" };

/** How a sign-in went, in words ("a password", "Test ID (and a code)"), or null. */
function methodWords(method) {
  if (typeof method !== "string") return null;
  const provider = PROVIDER_METHOD.exec(method);
  if (provider) return providerLabel(provider[1]) + (SECOND_STEPS[provider[2]] ?? "");
  return METHODS[method] ?? null;
}

/** "Signed in with a password and an authenticator code", from a SignInMethod. */
export function signedInWith(method) {
  const how = methodWords(method);
  return how ? `Signed in with ${how}` : "Signed in";
}

function confirmedWith(method) {
  const how = methodWords(method);
  return how ? `Confirmed it was you with ${how}` : "Confirmed it was you";
}

const quoted = (text) => `“${text}”`;

// accounts/security_log.py's EventType, each a sentence made from the event's detail.
// What a failed attempt got wrong (a `sign_in_failed` event's detail).
const FAILURES = {
  password: "Failed sign-in: a wrong password",
  code: "Failed sign-in: a wrong authenticator or recovery code",
  reauthentication: "Failed attempt to confirm it is you (a wrong password or code) on a signed-in session",
};

const SENTENCES = {
  sign_in: (detail) => signedInWith(detail),
  sign_in_failed: (detail) => FAILURES[detail] ?? FAILURES.password,
  reauthenticated: (detail) => confirmedWith(detail),
  password_changed: () => "Password changed",
  password_reset: () => "Password reset with a link sent by email",
  email_changed: (detail) => (detail ? `Email changed to ${detail}` : "Email changed"),
  totp_enabled: () => "Two-factor authentication turned on",
  totp_disabled: (detail) =>
    detail === "by an admin"
      ? "Two-factor authentication turned off by an admin"
      : "Two-factor authentication turned off",
  recovery_codes_replaced: () => "New recovery codes made; the old ones no longer work",
  recovery_code_used: (detail) =>
    detail === "" ? "Recovery code used" : `Recovery code used (${detail} left)`,
  passkey_added: (detail) => (detail ? `Passkey ${quoted(detail)} added` : "Passkey added"),
  passkey_removed: (detail) => (detail ? `Passkey ${quoted(detail)} removed` : "Passkey removed"),
  session_ended: () => "A session was logged out",
  other_sessions_ended: () => "Logged out everywhere else",
  identity_linked: (detail) =>
    detail ? `${providerLabel(detail)} can now sign in to your account` : "Sign-in account linked",
  identity_unlinked: (detail) =>
    detail
      ? `${providerLabel(detail)} no longer signs in to your account`
      : "Sign-in account unlinked",
  access_token_created: (detail) => `Access token ${quoted(detail)} created`,
  access_token_revoked: (detail) => `Access token ${quoted(detail)} revoked`,
  access_token_new_address: (detail) => `Access token ${quoted(detail)} used from a new address`,
  suspended: () => "Account suspended by an admin",
  restored: () => "Account restored by an admin",
};

/** An event as words; a type this page does not know yet still shows, plainly. */
export function eventSentence(event) {
  const sentence = SENTENCES[event.type];
  const detail = typeof event.detail === "string" ? event.detail : "";
  return sentence ? sentence(detail) : String(event.type).replaceAll("_", " ");
}

function eventItem(event) {
  const item = document.createElement("li");
  item.className = "session security-event";
  item.dataset.eventType = String(event.type);
  const text = document.createElement("div");
  const what = document.createElement("p");
  what.className = "session-device";
  what.textContent = eventSentence(event);
  const where = document.createElement("p");
  where.className = "session-detail";
  const when = document.createElement("time");
  when.dateTime = String(event.created_at);
  when.textContent = readableDate(event.created_at);
  // What an admin did has no address or browser of the owner's.
  const parts = [
    event.ip ? String(event.ip) : "",
    event.user_agent ? deviceLabel(event.user_agent) : "",
  ];
  where.append(when, ...parts.filter(Boolean).map((part) => ` · ${part}`));
  text.append(what, where);
  item.append(text);
  return item;
}

export function setUpSecurityLog() {
  const list = byId("security-list");
  const loading = byId("security-loading");
  const empty = byId("security-empty");
  const error = byId("security-error");
  const pager = byId("security-pager");
  const more = byId("security-more");
  let cursor = null;

  /** The next page, appended (or the first, in place of what shows, when `fresh`);
   * the error message if it failed. */
  async function load({ focus = false, fresh = false } = {}) {
    const params = new URLSearchParams({ limit: String(PAGE) });
    if (cursor && !fresh) params.set("cursor", cursor);
    const response = await apiFetch(`/api/users/me/security-events?${params}`);
    loading.hidden = true;
    if (!response.ok) return errorMessage(response, FAILED);
    const page = await response.json();
    const items = page.items.map(eventItem);
    if (fresh) list.replaceChildren();
    list.append(...items);
    list.hidden = list.children.length === 0;
    empty.hidden = list.children.length > 0;
    cursor = page.next_cursor;
    pager.hidden = !cursor;
    if (focus && items.length) {
      // Keyboard users carry on from the first new event.
      items[0].tabIndex = -1;
      items[0].focus();
    }
    return undefined;
  }

  const show = (options) =>
    load(options).then(
      (message) => showError(error, message || ""),
      (failure) => {
        if (!(failure instanceof NetworkError)) throw failure;
        loading.hidden = true;
        showError(error, NETWORK_ERROR);
      },
    );

  onClick(more, { error }, () => load({ focus: true }));
  show();
  followChanges(() => show({ fresh: true }));
}

/** Call `reload` a moment after any section of the account page shows its success
 * message (a password changed, a passkey added, sessions ended...): each such change
 * may have added to the log. Watching the messages keeps the sections unaware of it. */
function followChanges(reload) {
  const messages = Array.from(document.querySelectorAll("#account .form-success"));
  let pending = 0;
  const observer = new MutationObserver(() => {
    if (!messages.some((message) => !message.hidden && message.textContent.trim())) return;
    clearTimeout(pending);
    // Not once the page is leaving: after a sign-out the read would only be refused.
    pending = setTimeout(() => isLeaving() || reload(), SETTLE_MS);
  });
  for (const message of messages) {
    observer.observe(message, {
      attributes: true,
      attributeFilter: ["hidden"],
      childList: true,
      characterData: true,
      subtree: true,
    });
  }
}
