// The account page: profile, password, sign-in methods, sessions and deletion. Logged-out visitors go to log in.
import { apiFetch } from "./api.js";
import { forgetSession, setToken } from "./auth.js";
import { byId } from "./dom.js";
import { errorMessage } from "./errors.js";
import { formErrors, onClick, onSubmit, setUpDialog } from "./forms.js";
import { readableDate } from "./dates.js";
import { deviceLabel } from "./devices.js";
import { loadList } from "./lists.js";
import { loginUrl } from "./navigation.js";
import { watchPasswordMatch } from "./passwords.js";
import { setUpIdentities } from "./account-identities.js";
import { setUpExport } from "./account-export.js";
import { setUpImport } from "./account-import.js";
import { setUpPasskeys } from "./account-passkeys.js";
import { setUpSecurityLog, signedInWith } from "./account-security.js";
import { setUpAccessTokens } from "./account-tokens.js";
import { setUpPicture } from "./picture.js";
import { setUpTotp } from "./account-totp.js";
import { getCurrentUser, updateCurrentUser } from "./user.js";
let user = await getCurrentUser();

if (!user) {
  location.replace(loginUrl("/account"));
} else {
  showAccount(user);
  byId("account-loading").hidden = true;
  byId("account").hidden = false;
  setUpProfileForm();
  setUpMailForm();
  setUpPasswordForm();
  setUpIdentities(user);
  setUpPasskeys();
  setUpTotp(user);
  setUpSessions();
  setUpAccessTokens();
  setUpSecurityLog();
  setUpExport();
  setUpImport();
  setUpDeletion();
  // Only the picture changes: the profile form keeps whatever is being typed in it.
  setUpPicture(user, (updated) => {
    user = updated;
    byId("account-avatar").setAttribute("src", updated.image_path);
  });
}

function showAccount(current) {
  byId("account-username").textContent = current.username;
  byId("account-email").textContent = current.email;
  const verified = current.email_verified ? "(verified)" : "(not verified yet)";
  byId("account-email-status").textContent = verified;
  byId("account-avatar").setAttribute("src", current.image_path);
  byId("account-posts-link").setAttribute("href", `/users/${encodeURIComponent(current.id)}/posts`);
  byId("password-form-username").value = current.email;
  const form = byId("profile-form");
  form.elements.username.value = current.username;
  form.elements.email.value = current.email;
  form.elements.bio.value = current.bio ?? "";
  form.elements.website.value = current.website ?? "";
  byId("comment-mail").checked = current.comment_mail;
}

function emailChanges(form) {
  return form.elements.email.value.trim().toLowerCase() !== user.email;
}

/** What the profile form would change: only the fields that differ from `user`. (A new
 * email is a sensitive change: on a session that signed in a while ago, apiFetch asks
 * for the password first, in its step-up dialog.) */
function profileChanges(form) {
  const changes = {};
  if (form.elements.username.value.trim() !== user.username) {
    changes.username = form.elements.username.value;
  }
  // Bio and website: empty clears them.
  for (const name of ["bio", "website"]) {
    if (form.elements[name].value.trim() !== (user[name] ?? "")) {
      changes[name] = form.elements[name].value;
    }
  }
  if (emailChanges(form)) changes.email = form.elements.email.value;
  return changes;
}

function setUpProfileForm() {
  const form = byId("profile-form");
  const success = byId("profile-success");
  const ready = () => {
    success.hidden = true;
    if (Object.keys(profileChanges(form)).length > 0) return true;
    success.textContent = "Nothing to change.";
    success.hidden = false;
    return false;
  };
  const error = byId("profile-error");
  onSubmit(form, { error, submit: byId("profile-submit"), ready }, async () => {
    const response = await apiFetch(`/api/users/${encodeURIComponent(user.id)}`, {
      method: "PATCH",
      json: profileChanges(form),
    });
    if (!response.ok) return formErrors(form, response);
    user = await response.json();
    showAccount(user);
    updateCurrentUser(user);
    success.textContent = "Profile saved.";
    success.hidden = false;
  });
}

/** Whether mails about comments come: the same switch as every such mail's unsubscribe link. */
function setUpMailForm() {
  const form = byId("mail-form");
  const success = byId("mail-success");
  onSubmit(form, { error: byId("mail-error"), submit: byId("mail-submit") }, async () => {
    success.hidden = true;
    const response = await apiFetch(`/api/users/${encodeURIComponent(user.id)}`, {
      method: "PATCH",
      json: { comment_mail: byId("comment-mail").checked },
    });
    if (!response.ok) return formErrors(form, response);
    user = await response.json();
    updateCurrentUser(user);
    byId("comment-mail").checked = user.comment_mail;
    success.textContent = user.comment_mail
      ? "You will get mails about comments."
      : "You will get no mails about comments.";
    success.hidden = false;
  });
}

function setUpPasswordForm() {
  const form = byId("password-form");
  const success = byId("password-success");
  const error = byId("password-error");
  const check = watchPasswordMatch(form.elements.new_password, form.elements.confirm_new_password);
  const ready = () => {
    success.hidden = true;
  };
  onSubmit(form, { error, submit: byId("password-submit"), check, ready }, async () => {
    const response = await apiFetch("/api/users/me/password", {
      method: "POST",
      json: { new_password: form.elements.new_password.value },
    });
    if (!response.ok) return formErrors(form, response);
    const { access_token: token } = await response.json();
    setToken(token);
    form.reset();
    byId("password-form-username").value = user.email;
    success.textContent = "Password changed. Other sessions have been signed out.";
    success.hidden = false;
  });
}

// --- Sessions: every browser signed in to this account -----------------------------
/** One session as a list item; `wireSignOut(session, button)` makes its button work. */
function sessionItem(session, wireSignOut) {
  const item = document.createElement("li");
  item.className = "session";
  item.dataset.sessionId = String(session.id);
  if (session.current) item.dataset.current = "true";

  const text = document.createElement("div");
  const device = document.createElement("p");
  device.className = "session-device";
  device.id = `session-${session.id}-device`;
  device.textContent = deviceLabel(session.user_agent);
  const detail = document.createElement("p");
  detail.className = "session-detail";
  const used = readableDate(session.last_used_at || session.created_at);
  const parts = [used ? `Last used ${used}` : "", session.ip ? String(session.ip) : ""];
  detail.textContent = parts.filter(Boolean).join(" · ");
  const method = document.createElement("p");
  method.className = "session-method";
  method.textContent = signedInWith(session.auth_method);
  text.append(device, detail, method);
  item.append(text);

  if (session.current) {
    const here = document.createElement("span");
    here.className = "session-current";
    here.textContent = "This device";
    item.append(here);
  } else {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "btn btn-ghost";
    button.textContent = "Log out this session";
    button.setAttribute("aria-describedby", device.id);
    wireSignOut(session, button);
    item.append(button);
  }
  return item;
}

function setUpSessions() {
  const list = byId("sessions-list");
  const loading = byId("sessions-loading");
  const error = byId("sessions-error");
  const success = byId("sessions-success");
  const endOthers = byId("sessions-end-others");

  const say = (message) => {
    success.textContent = message;
    success.hidden = !message;
  };

  async function load() {
    const sessions = await loadList("/api/users/me/sessions", {
      list,
      loading,
      error,
      item: (session) => sessionItem(session, wireSignOut),
      failed: "Could not load your sessions.",
    });
    if (sessions) endOthers.hidden = !sessions.some((session) => !session.current);
  }

  /** End sessions through `path`, then show the list as it now is. Sent through
   * onClick (forms.js), which disables the button and shows errors. */
  async function end(path, message) {
    say("");
    const response = await apiFetch(path, { method: "DELETE" });
    // 404: that session had already ended; either way the list is now out of date.
    const problem = response.ok || response.status === 404 ? "" : await errorMessage(response);
    if (!problem) say(message);
    await load();
    return problem || undefined;
  }

  function wireSignOut(session, button) {
    const path = `/api/users/me/sessions/${encodeURIComponent(session.id)}`;
    onClick(button, { error }, () => end(path, `Logged out ${deviceLabel(session.user_agent)}.`));
  }

  onClick(endOthers, { error }, () =>
    end("/api/users/me/sessions", "Logged out everywhere else."),
  );
  load();
}

function setUpDeletion() {
  const deletion = setUpDialog("delete-account");
  // As before, the button comes back once the request is done, even on the way out.
  onClick(deletion.confirm, deletion, async () => {
    const response = await apiFetch(`/api/users/${encodeURIComponent(user.id)}`, {
      method: "DELETE",
    });
    if (!response.ok) return errorMessage(response);
    forgetSession();
    location.assign("/");
  });
}
