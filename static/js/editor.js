// The editor: /write (a new post) and /posts/{id}/edit. A draft is saved to the
// server a few seconds after typing stops and when the page is left, so it follows
// the writer to another device; a published or scheduled post's changes stay on this
// device until Update (nothing half-typed goes live). Whatever the server does not
// have yet is kept in localStorage all along (drafts.js): offline, or with the session
// over, nothing typed is lost, and it is offered back when the editor opens again.
import { apiFetch } from "./api.js";
import { readableDate } from "./dates.js";
import { byId, showError } from "./dom.js";
import { clearDraft, draftKey, readDraft, writeDraft } from "./drafts.js";
import { errorMessage, NetworkError } from "./errors.js";
import { clearErrorsOnInput, clearFields, formErrors, LEAVING, markField, onClick } from "./forms.js";
import { loginUrl } from "./navigation.js";
import { setUpPreview } from "./preview.js";
import { setUpImages } from "./uploads.js";
import { getCurrentUser } from "./user.js";

// A draft is saved this long after the last keystroke.
const AUTOSAVE_MS = 2000;
// What a keepalive request may carry (browsers refuse more than 64 KiB in flight).
const KEEPALIVE_MAX_BYTES = 60_000;
// Tags are typed as one line ("web dev, python"), kept and compared as typed, and
// sent as the list the API takes (`forApi`).
const TEXT_FIELDS = ["title", "content", "summary", "tags"];
// Suggestions for the tags field are asked for this long after typing stops.
const SUGGEST_MS = 200;
const STATUS_NAMES = { draft: "Draft", scheduled: "Scheduled", published: "Published" };

const form = byId("editor");
const field = (name) => form.elements.namedItem(name);
const saveStatus = byId("editor-save-status");
const loginLink = byId("editor-login");
const error = byId("editor-error");
const buttons = {
  saveDraft: byId("editor-save-draft"),
  publish: byId("editor-publish"),
  schedule: byId("editor-schedule"),
  update: byId("editor-update"),
  unpublish: byId("editor-unpublish"),
};

let user = null;
let post = null; // the server's copy (null: not saved yet)
let saved = { title: "", content: "", summary: "", tags: "" }; // the text the server has
let slugEdited = false; // the slug is sent only once the author changes it
let key = draftKey(null);
let timer = null;
let saving = null; // the autosave on its way
let again = false; // more typed while it was
let busy = false; // a button's request is on its way: no autosave meanwhile

function unavailable(message) {
  byId("editor-loading").hidden = true;
  showError(byId("editor-unavailable"), message);
}

async function open(postId) {
  if (postId !== null) {
    let response;
    try {
      response = await apiFetch(`/api/posts/${encodeURIComponent(postId)}`);
    } catch (failure) {
      if (!(failure instanceof NetworkError)) throw failure;
      unavailable("Could not reach the server to open this post. Check your connection and reload.");
      return;
    }
    if (response.status === 401) {
      location.replace(loginUrl());
      return;
    }
    if (response.status === 404) {
      unavailable("There is no such post, or it is not yours to edit.");
      return;
    }
    if (!response.ok) {
      unavailable(await errorMessage(response));
      return;
    }
    const found = await response.json();
    if (found.user_id !== user.id) {
      unavailable("Only its author can edit this post.");
      return;
    }
    post = found;
    saved = serverText(post);
    key = draftKey(post.id);
  } else if (await savedAlready()) {
    return;
  }
  for (const name of TEXT_FIELDS) field(name).value = saved[name];
  if (post) field("slug").value = post.slug;
  restoreLocalCopy();
  byId("editor-loading").hidden = true;
  form.hidden = false;
  showPost();
  wire();
  if (changed()) {
    if (autosaves()) schedule();
    else say("Changes kept on this device until you update.");
  }
  field("title").focus();
}

/** A new post's copy whose first save went out as the page was left (keepalive) may be
 * on the server already, its answer never read: then open that draft rather than save
 * it twice. True when the page is on its way there. */
async function savedAlready() {
  const copy = readDraft(key);
  if (!copy || !copy.title.trim() || !copy.content.trim()) return false;
  let response;
  try {
    response = await apiFetch("/api/users/me/posts?status=draft&limit=5");
  } catch (failure) {
    if (failure instanceof NetworkError) return false; // offline: the copy is restored
    throw failure;
  }
  if (!response.ok) return false;
  const { items } = await response.json();
  const twin = items.find(
    (item) => item.title === copy.title.trim() && item.content === copy.content.trim(),
  );
  if (!twin) return false;
  clearDraft(key);
  location.replace(`/posts/${twin.id}/edit`);
  return true;
}

function serverText(from) {
  const tags = (from.tags || []).join(", ");
  return { title: from.title, content: from.content, summary: from.summary || "", tags };
}

/** The tags field's text as the API's list: split at commas, blanks dropped (the
 * server normalises each and says which one it refuses). */
const tagList = (text) =>
  text
    .split(",")
    .map((tag) => tag.trim())
    .filter(Boolean);

/** A body of the form's fields as the API takes it. */
function forApi(body) {
  return "tags" in body ? { ...body, tags: tagList(body.tags) } : body;
}

/** "Allow comments", shown once the post is saved (POST /api/posts takes no
 * `comments_enabled`; a new post takes comments): sent at once as it is ticked, on its
 * own (not an "Updated" change). */
async function toggleComments() {
  const box = field("comments_enabled");
  if (!post) return;
  box.disabled = true;
  try {
    const response = await apiFetch(`/api/posts/${post.id}`, {
      method: "PATCH",
      json: { comments_enabled: box.checked },
      leaveForLogin: false,
    });
    if (!response.ok) {
      box.checked = post.comments_enabled;
      say(`Not changed: ${await errorMessage(response)}`);
      return;
    }
    post = { ...post, comments_enabled: (await response.json()).comments_enabled };
    say(post.comments_enabled ? "Comments are on." : "Comments are off.");
  } catch (failure) {
    box.checked = post.comments_enabled;
    if (!(failure instanceof NetworkError)) throw failure;
    say("Offline: comments not changed. Try again when you are back online.");
  } finally {
    box.disabled = false;
  }
}

// --- The text and its copy on this device ------------------------------------------

const current = () => Object.fromEntries(TEXT_FIELDS.map((name) => [name, field(name).value]));

/** What differs from the server's copy, as a PATCH would send it. */
function changes() {
  const now = current();
  const delta = {};
  for (const name of TEXT_FIELDS) if (now[name] !== saved[name]) delta[name] = now[name];
  if (post && slugEdited && field("slug").value !== post.slug) delta.slug = field("slug").value;
  return delta;
}

const changed = () => Object.keys(changes()).length > 0;

/** Keep what the server does not have on this device; forget the copy once it does. */
function keepLocalCopy() {
  if (changed()) writeDraft(key, current(), user.id);
  else clearDraft(key);
}

/** A copy left here (saving failed, or a published post's changes not yet updated):
 * put it back, and say so, with a way to go back to the saved text. */
function restoreLocalCopy() {
  const copy = readDraft(key);
  if (!copy || (copy.user != null && copy.user !== user.id)) return;
  const differs = TEXT_FIELDS.some((name) => (copy[name] ?? saved[name]) !== saved[name]);
  if (!differs) {
    clearDraft(key);
    return;
  }
  for (const name of TEXT_FIELDS) field(name).value = copy[name] ?? saved[name];
  const when = readableDate(copy.saved_at);
  byId("editor-restored-text").textContent = post
    ? `Changes you made on this device${when ? ` (${when})` : ""} that were not saved are back.`
    : `Your unsaved draft${when ? ` from ${when}` : ""} is back.`;
  byId("editor-restored").hidden = false;
}

// --- Saving a draft by itself ------------------------------------------------------

/** Drafts (and a post not saved yet) are saved as they are written; a post on the
 * site, or scheduled to be, changes only through Update. */
const autosaves = () => !post || post.status === "draft";

function say(text, { login = false } = {}) {
  saveStatus.textContent = text;
  loginLink.hidden = !login;
}

function schedule() {
  clearTimeout(timer);
  timer = setTimeout(() => autosave(), AUTOSAVE_MS);
}

function edited() {
  keepLocalCopy();
  if (!autosaves()) {
    say(changed() ? "Changes kept on this device until you update." : "");
    return;
  }
  if (changed()) say("Unsaved changes");
  schedule();
}

/** Bytes of `body` as JSON: whether a keepalive request may carry it. */
const fitsKeepalive = (body) => new Blob([JSON.stringify(body)]).size <= KEEPALIVE_MAX_BYTES;

/** Save the draft now, if it changed and may be saved. `leaving`: the page is going
 * away, so the request must outlive it. */
function autosave({ leaving = false } = {}) {
  clearTimeout(timer);
  if (!autosaves() || busy || !changed()) return saving || Promise.resolve();
  if (!field("title").value.trim() || !field("content").value.trim()) {
    say("Kept on this device: a draft needs a title and some text to be saved to your account.");
    return Promise.resolve();
  }
  if (saving) {
    again = true;
    return saving;
  }
  saving = saveDraft(leaving).finally(() => {
    saving = null;
    if (again) {
      again = false;
      autosave();
    }
  });
  return saving;
}

async function saveDraft(leaving) {
  say("Saving…");
  const sent = changes();
  const body = forApi(post ? sent : { ...current(), status: "draft" });
  const init = { json: body, leaveForLogin: false, keepalive: leaving && fitsKeepalive(body) };
  let response;
  try {
    response = post
      ? await apiFetch(`/api/posts/${post.id}`, { method: "PATCH", ...init })
      : await apiFetch("/api/posts", { method: "POST", ...init });
  } catch (failure) {
    if (!(failure instanceof NetworkError)) throw failure;
    say("Offline — kept on this device. It will be saved when you are back online.");
    return;
  }
  if (response.status === 401) {
    say("Signed out — kept on this device. Log in to save it to your account.", { login: true });
    return;
  }
  if (!response.ok) {
    say(`Not saved (kept on this device): ${await errorMessage(response)}`);
    return;
  }
  adopt(await response.json(), post ? sent : current());
  say(changed() ? "Unsaved changes" : "Saved");
}

/** The server answered with `updated`, having taken `sent`: it is now the saved copy. */
function adopt(updated, sent) {
  const wasNew = !post;
  post = updated;
  for (const name of TEXT_FIELDS) if (name in sent) saved[name] = sent[name];
  // The tags as the server spells them ("Web Dev" is web-dev), unless typed on meanwhile.
  const tags = serverText(post).tags;
  if ("tags" in sent && field("tags").value === sent.tags) field("tags").value = tags;
  if ("tags" in sent) saved.tags = tags;
  if ("slug" in sent) slugEdited = false;
  if (!slugEdited) field("slug").value = post.slug;
  if (wasNew) {
    clearDraft(key);
    key = draftKey(post.id);
    // This address now opens this post: a reload, or Back, finds it.
    history.replaceState(history.state, "", `/posts/${post.id}/edit`);
  }
  keepLocalCopy();
  showPost();
}

// --- What the page shows of the post --------------------------------------------

/** A datetime-local input's value for an ISO timestamp, in the writer's time zone. */
function localInputValue(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  const pad = (n) => String(n).padStart(2, "0");
  const day = `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
  return `${day}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/** A datetime-local value (the writer's time zone) as ISO 8601 with its offset. */
function isoWithOffset(value) {
  const date = new Date(value);
  if (!value || Number.isNaN(date.getTime())) return null;
  const pad = (n) => String(Math.trunc(Math.abs(n))).padStart(2, "0");
  const offset = -date.getTimezoneOffset();
  const day = `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
  const time = `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
  return `${day}T${time}${offset >= 0 ? "+" : "-"}${pad(offset / 60)}:${pad(offset % 60)}`;
}

function showPost() {
  const status = post ? post.status : "draft";
  const badge = byId("editor-status");
  badge.textContent = post ? STATUS_NAMES[status] : "New draft";
  badge.dataset.status = status;
  const dates = [];
  if (post && status === "scheduled") dates.push(`to be published ${readableDate(post.date_posted)}`);
  if (post && status === "published") dates.push(`published ${readableDate(post.date_posted)}`);
  if (post && post.updated_at) dates.push(`updated ${readableDate(post.updated_at)}`);
  if (post) dates.push(`${post.reading_minutes} min read`);
  byId("editor-dates").textContent = dates.join(" · ");

  byId("editor-heading").textContent = post ? "Edit post" : "New post";
  document.title = `${post ? "Edit post" : "New post"} · Inkwell`;
  byId("editor-slug-field").hidden = !post;
  byId("editor-comments-field").hidden = !post;
  if (post) field("comments_enabled").checked = post.comments_enabled;
  if (post) byId("editor-slug-prefix").textContent = `/posts/${post.id}/`;
  const view = byId("editor-view");
  view.hidden = !post || status !== "published";
  if (post) view.setAttribute("href", post.url);

  const draft = status === "draft";
  buttons.saveDraft.hidden = !draft;
  buttons.update.hidden = draft;
  buttons.unpublish.hidden = draft;
  buttons.schedule.hidden = status === "published";
  byId("editor-schedule-field").hidden = status === "published";
  buttons.publish.hidden = status === "published";
  buttons.publish.textContent = status === "scheduled" ? "Publish now" : "Publish";
  buttons.schedule.textContent = status === "scheduled" ? "Reschedule" : "Schedule";
  if (status === "scheduled" && !field("publish_at").value) {
    field("publish_at").value = localInputValue(post.date_posted);
  }
}

// --- The buttons ------------------------------------------------------------------

/** The text fields as every button sends them (the slug only when edited). */
function textBody() {
  const body = current();
  if (post && slugEdited && field("slug").value !== post.slug) body.slug = field("slug").value;
  return body;
}

/** Send `body` as the post (PATCH) or as a new one (POST); the save answered by the
 * server, or the message to show. The text goes from this device's copy only once the
 * server has it. */
async function send(body) {
  const response = post
    ? await apiFetch(`/api/posts/${post.id}`, { method: "PATCH", json: forApi(body) })
    : await apiFetch("/api/posts", { method: "POST", json: forApi(body) });
  if (!response.ok) return { message: await formErrors(form, response) };
  adopt(await response.json(), body);
  return { post };
}

/** Run a button's request: no autosave meanwhile, and none still on its way. */
function action(button, handler) {
  onClick(button, { error }, async () => {
    clearTimeout(timer);
    busy = true;
    try {
      if (saving) await saving;
      clearFields(form);
      return await handler();
    } finally {
      busy = false;
    }
  });
}

const textIsValid = () => field("title").reportValidity() && field("content").reportValidity();

async function saveNow() {
  if (!textIsValid()) return undefined;
  if (!changed() && post) {
    say("Saved");
    return undefined;
  }
  const { message } = await send(post ? changes() : { ...current(), status: "draft" });
  if (message !== undefined) return message;
  say("Saved");
  return undefined;
}

async function publish() {
  if (!textIsValid()) return undefined;
  const { message } = await send({ ...textBody(), status: "published" });
  if (message !== undefined) return message;
  clearDraft(key);
  location.assign(post.url);
  return LEAVING;
}

async function scheduleIt() {
  const input = field("publish_at");
  const when = isoWithOffset(input.value);
  if (!when) {
    markField(input, "Choose the date and time to publish it.");
    input.focus();
    return undefined;
  }
  if (new Date(when) <= new Date()) {
    markField(input, "Choose a time in the future.");
    input.focus();
    return undefined;
  }
  if (!textIsValid()) return undefined;
  const { message } = await send({ ...textBody(), publish_at: when });
  if (message !== undefined) return message;
  input.value = localInputValue(post.date_posted);
  say(`Scheduled: it will be published ${readableDate(post.date_posted)}.`);
  return undefined;
}

async function update() {
  if (!textIsValid()) return undefined;
  const { message } = await send(textBody());
  if (message !== undefined) return message;
  say(post.status === "published" ? "Updated: the post shows your changes." : "Updated.");
  return undefined;
}

async function unpublish() {
  if (!textIsValid()) return undefined;
  const { message } = await send({ ...textBody(), status: "draft" });
  if (message !== undefined) return message;
  field("publish_at").value = "";
  say("Unpublished: it is a draft again, seen by you alone.");
  return undefined;
}

function wire() {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (zone) {
    const hint = `A date and time in your time zone (${zone.replace(/_/g, " ")}), for Schedule.`;
    byId("editor-timezone-hint").textContent = hint;
  }
  clearErrorsOnInput(form);
  field("comments_enabled").addEventListener("change", toggleComments);
  form.addEventListener("input", (event) => {
    if (event.target === field("publish_at") || event.target === field("comments_enabled")) return;
    if (event.target === field("slug")) slugEdited = true;
    edited();
  });
  // Enter in a one-line field must not send the form anywhere.
  form.addEventListener("submit", (event) => event.preventDefault());

  action(buttons.saveDraft, saveNow);
  action(buttons.publish, publish);
  action(buttons.schedule, scheduleIt);
  action(buttons.update, update);
  action(buttons.unpublish, unpublish);

  // Ctrl+Enter (Cmd+Enter on a Mac) saves: a draft is saved, a post on the site updated.
  form.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || !(event.ctrlKey || event.metaKey)) return;
    event.preventDefault();
    const button = autosaves() ? buttons.saveDraft : buttons.update;
    if (!button.disabled) button.click();
  });

  byId("editor-restored-discard").addEventListener("click", () => {
    for (const name of TEXT_FIELDS) field(name).value = saved[name];
    clearDraft(key);
    byId("editor-restored").hidden = true;
    clearTimeout(timer);
    say("");
    preview.refresh();
    field("title").focus();
  });

  // Leaving (another tab, another app, a closed tab): save what is not saved yet.
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") autosave({ leaving: true });
  });
  window.addEventListener("pagehide", () => autosave({ leaving: true }));
  // Back online: whatever waited is saved.
  window.addEventListener("online", () => autosave());

  suggestTags();
  const preview = setUpPreview(form);
  setUpImages(() => {
    form.elements.namedItem("content").dispatchEvent(new Event("input", { bubbles: true }));
  });
  preview.refresh();
}

// --- Tag suggestions ---------------------------------------------------------------

/** The tags in use (GET /api/tags, most used first), asked for once. */
let tagsInUse = null;

async function loadTagsInUse() {
  if (tagsInUse) return tagsInUse;
  try {
    const response = await apiFetch("/api/tags", { leaveForLogin: false });
    tagsInUse = response.ok ? (await response.json()).map((tag) => tag.name) : [];
  } catch (failure) {
    if (!(failure instanceof NetworkError)) throw failure;
    return []; // offline: no suggestions, asked again later
  }
  return tagsInUse;
}

/** The datalist offers the tags in use that start with the word being typed (the
 * last after a comma), each as the whole field's text would be with it chosen. */
function suggestTags() {
  const input = field("tags");
  const list = byId("editor-tags-suggestions");
  let pending = null;
  const refresh = async () => {
    const text = input.value;
    const parts = text.split(",");
    const typed = parts.at(-1).trim().toLowerCase();
    const before = parts.slice(0, -1).map((tag) => tag.trim()).filter(Boolean);
    const taken = new Set(before.map((tag) => tag.toLowerCase()));
    const names = (await loadTagsInUse())
      .filter((name) => name.startsWith(typed) && !taken.has(name))
      .slice(0, 10);
    if (input.value !== text) return; // typed on: the next refresh answers
    list.replaceChildren(
      ...names.map((name) => {
        const option = document.createElement("option");
        option.value = [...before, name].join(", ");
        option.textContent = name;
        return option;
      }),
    );
  };
  input.addEventListener("input", () => {
    clearTimeout(pending);
    pending = setTimeout(refresh, SUGGEST_MS);
  });
  input.addEventListener("focus", refresh, { once: true });
}

// --- Start (last: everything above is defined by now) ----------------------------

user = await getCurrentUser();
if (!user) {
  location.replace(loginUrl());
} else {
  await open(form.dataset.postId || null);
}
