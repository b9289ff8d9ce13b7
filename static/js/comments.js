// The comments under a post. templates/_comments.html renders what everyone may see
// (the page is one cached copy for all); this script adds what depends on who reads:
// for a signed-in reader, the form, each comment's Reply, Edit, Delete, Report and
// Approve where the API would allow them, and the pending comments this reader may
// see (their own; on their own post, or as an admin, every one), which the page never
// holds and GET /api/posts/{id}/comments returns to those entitled.
//
// Comments this script adds are built with DOM APIs in the template's markup; their
// text is the API's content_html, which the server sanitised (content/markdown_render.py),
// the one string ever set as HTML here.
import { apiFetch } from "./api.js";
import { localizeDates } from "./dates.js";
import { byId, showError } from "./dom.js";
import { errorBody, errorMessage } from "./errors.js";
import { fetchPage } from "./fetch-page.js";
import { LEAVING, formErrors, markField, onClick, onSubmit, setUpDialog } from "./forms.js";
import { getCurrentUser } from "./user.js";

const section = byId("comments");
const article = byId("post");
const postId = article.dataset.postId;
const postAuthorId = Number(article.dataset.authorId);
const commentsOpen = section.dataset.commentsEnabled === "true";
const list = byId("comment-list");
const heading = byId("comments-heading");
const status = byId("comments-status");
const form = byId("comment-form");
const commentsPath = `/api/posts/${encodeURIComponent(postId)}/comments`;
const RESEND_PATH = "/api/users/me/verify-email/resend";
// Refusals about the text itself: shown at the field.
const TEXT_CODES = new Set(["comment_empty", "comment_too_long", "comment_invalid_characters"]);
const PENDING_NOTE = "Awaiting approval: the post's author will review it before others see it.";

let user = null;
// What the API said of each comment this reader may see, by id (its Markdown source
// for Edit, the pending ones).
const known = new Map();

// --- Small helpers ----------------------------------------------------------------

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function button(label, className = "btn btn-ghost btn-small") {
  const node = element("button", className, label);
  node.type = "button";
  return node;
}

function say(message) {
  status.textContent = message;
  status.hidden = !message;
}

function commentElement(id) {
  return document.getElementById(`comment-${id}`);
}

function isAdmin() {
  return Boolean(user && user.role === "admin");
}

/** The heading counts published comments: `delta` more (or fewer) now. */
function recount(delta) {
  const count = Math.max(0, (Number.parseInt(heading.textContent, 10) || 0) + delta);
  heading.textContent = count ? `${count} comment${count === 1 ? "" : "s"}` : "Comments";
}

// --- Markup, as the template makes it --------------------------------------------

function authorLink(author) {
  const link = element("a", "author");
  link.href = `/users/${encodeURIComponent(author.id)}/posts`;
  link.dataset.authorId = String(author.id);
  const avatar = element("img", "avatar");
  avatar.src = author.image_path;
  avatar.alt = "";
  avatar.width = 40;
  avatar.height = 40;
  link.append(avatar, " ", element("span", "author-name", author.username));
  return link;
}

function pendingMark(comment) {
  const mark = element("p", "comment-pending", "Awaiting approval");
  if (user && comment.author && comment.author.id === user.id) {
    mark.textContent = PENDING_NOTE;
  }
  return mark;
}

/** A comment from the API as the template renders one (plus its pending mark). */
function buildComment(comment) {
  const node = element("article", "comment");
  node.id = `comment-${comment.id}`;
  node.dataset.commentId = String(comment.id);
  node.dataset.parentId = comment.parent_id ? String(comment.parent_id) : "";
  node.dataset.authorId = comment.author ? String(comment.author.id) : "";
  node.dataset.status = comment.status;
  if (comment.status === "deleted") {
    node.append(element("p", "comment-deleted", "This comment was deleted."));
    return node;
  }
  const meta = element("header", "comment-meta");
  const link = element("a", "comment-link");
  link.href = `#comment-${comment.id}`;
  const time = element("time", "post-date", comment.created_at);
  time.dateTime = comment.created_at;
  link.append(time);
  meta.append(authorLink(comment.author), " ", link);
  if (comment.updated_at) meta.append(" ", element("span", "comment-edited", "edited"));
  node.append(meta);
  if (comment.status === "pending") node.append(pendingMark(comment));
  const content = element("div", "comment-content");
  content.innerHTML = comment.content_html; // sanitised by the server: see the top
  node.append(content);
  localizeDates(node);
  return node;
}

function buildThread(node) {
  const thread = element("li", "comment-thread");
  thread.append(node, element("ol", "comment-replies"));
  return thread;
}

/** Put a comment from the API where it belongs: a new thread at the end, or a reply
 * at the end of its thread (not shown when its thread is not on the page yet). */
function place(comment) {
  const node = buildComment(comment);
  if (comment.parent_id) {
    const parent = commentElement(comment.parent_id);
    if (!parent) return null;
    const reply = element("li");
    reply.append(node);
    parent.closest(".comment-thread").querySelector(".comment-replies").append(reply);
  } else {
    list.append(buildThread(node));
    byId("comments-empty")?.remove();
  }
  decorate(node);
  return node;
}

// --- Who may do what (the API decides; these only spare useless buttons) ------------

function mayDelete(node) {
  const authorId = Number(node.dataset.authorId);
  return authorId === user.id || user.id === postAuthorId || isAdmin();
}

function mayApprove(node) {
  return node.dataset.status === "pending" && (user.id === postAuthorId || isAdmin());
}

/** A comment's buttons, for this reader. */
function decorate(node) {
  node.querySelector(".comment-actions")?.remove();
  if (!user || node.dataset.status === "deleted") return;
  const own = Number(node.dataset.authorId) === user.id;
  const actions = element("div", "comment-actions");
  const error = element("p", "form-error");
  error.setAttribute("role", "alert");
  error.hidden = true;
  if (mayApprove(node)) {
    const approve = button("Approve", "btn btn-primary btn-small");
    onClick(approve, { error }, () => approveComment(node));
    actions.append(approve);
  }
  // The API takes replies in a thread whose first comment is still there.
  const top = node.closest(".comment-thread")?.querySelector(":scope > .comment");
  if (commentsOpen && node.dataset.status === "published" && top?.dataset.status !== "deleted") {
    const reply = button("Reply");
    reply.addEventListener("click", () => openReply(node));
    actions.append(reply);
  }
  if (own) {
    const edit = button("Edit");
    edit.addEventListener("click", () => openEdit(node));
    actions.append(edit);
  }
  if (mayDelete(node)) {
    const remove = button("Delete", "btn btn-ghost btn-small btn-danger-text");
    remove.addEventListener("click", () => {
      deleting = node;
      deletion.open();
    });
    actions.append(remove);
  }
  if (!own && node.dataset.status === "published") {
    const report = button("Report");
    report.addEventListener("click", () => {
      reporting = node;
      reportDialog.open();
    });
    actions.append(report);
  }
  actions.append(error);
  if (actions.childElementCount > 1) node.append(actions);
}

// --- Writing: the form, replies, edits ---------------------------------------------

/** "Resend the verification link" in `textForm`, after an email_not_verified. */
function offerResend(textForm, error) {
  let resend = textForm.querySelector(".comment-resend");
  if (!resend) {
    resend = button("Resend the verification link", "btn btn-secondary comment-resend");
    resend.dataset.busyLabel = "Sending…";
    error.after(resend);
  }
  if (!resend.dataset.wired) {
    resend.dataset.wired = "true";
    onClick(resend, { error }, async () => {
      const response = await apiFetch(RESEND_PATH, { method: "POST" });
      if (!response.ok) return errorMessage(response);
      showError(error, "");
      resend.hidden = true;
      say("Sent. Check your inbox, and the spam folder too; then post your comment again.");
    });
  }
  resend.hidden = false;
}

/** A refused comment: the text's faults at the field, the rest (not verified, closed,
 * too many) in the form's error, which is returned. */
async function refusal(textForm, error, response) {
  const body = await errorBody(response);
  const code = body && body.code;
  const field = textForm.elements.content;
  if (TEXT_CODES.has(code) && typeof body.detail === "string") {
    markField(field, body.detail);
    field.focus();
    return "";
  }
  if (code === "email_not_verified") offerResend(textForm, error);
  return formErrors(textForm, response);
}

async function postComment(textForm, error, body) {
  const response = await apiFetch(commentsPath, { method: "POST", json: body });
  if (!response.ok) return { message: await refusal(textForm, error, response) };
  const comment = await response.json();
  known.set(comment.id, comment);
  if (comment.status === "published") recount(1);
  return { node: place(comment), comment };
}

function setUpForm() {
  if (!form) return;
  byId("comment-signin").hidden = true;
  form.hidden = false;
  const error = byId("comment-error");
  const success = byId("comment-success");
  const ready = () => {
    success.hidden = true;
  };
  onSubmit(form, { error, submit: byId("comment-submit"), ready }, async () => {
    const { message, comment } = await postComment(form, error, {
      content: form.elements.content.value,
    });
    if (message !== undefined) return message;
    form.reset();
    success.textContent =
      comment.status === "pending"
        ? "Thank you. Your first comment awaits approval: the post's author will review it."
        : "Comment posted.";
    success.hidden = false;
  });
}

/** A small form with a labelled textarea, Save/Cancel: for a reply or an edit. */
function textForm({ id, label, value, submitLabel, onCancel }) {
  const fields = element("form", "comment-form inline-comment-form stack");
  const field = element("div", "field");
  const name = element("label", "", label);
  name.htmlFor = id;
  const area = element("textarea");
  area.id = id;
  area.name = "content";
  area.rows = 4;
  area.required = true;
  area.maxLength = Number(section.dataset.commentMax);
  area.value = value;
  field.append(name, area);
  const error = element("p", "form-error");
  error.setAttribute("role", "alert");
  error.hidden = true;
  const actions = element("div", "form-actions");
  const submit = button(submitLabel, "btn btn-primary");
  submit.type = "submit";
  submit.dataset.busyLabel = "Saving…";
  const cancel = button("Cancel");
  cancel.addEventListener("click", onCancel);
  actions.append(submit, cancel);
  fields.append(field, error, actions);
  return { form: fields, area, error, submit };
}

function openReply(node) {
  const thread = node.closest(".comment-thread");
  const top = thread.querySelector(":scope > .comment");
  const existing = thread.querySelector(":scope > .reply-form");
  if (existing) {
    existing.elements.content.focus();
    return;
  }
  const author = node.querySelector(".author-name")?.textContent || "this comment";
  const reply = textForm({
    id: `reply-content-${top.dataset.commentId}`,
    label: `Reply to ${author}`,
    value: "",
    submitLabel: "Reply",
    onCancel: () => reply.form.remove(),
  });
  reply.form.classList.add("reply-form");
  reply.submit.dataset.busyLabel = "Posting…";
  thread.append(reply.form);
  reply.area.focus();
  onSubmit(reply.form, reply, async () => {
    const { message, node: added, comment } = await postComment(reply.form, reply.error, {
      content: reply.area.value,
      parent_id: Number(node.dataset.commentId),
    });
    if (message !== undefined) return message;
    reply.form.remove();
    if (comment.status === "pending") say(PENDING_NOTE);
    added?.querySelector(".comment-link")?.focus();
    return LEAVING;
  });
}

function openEdit(node) {
  const content = node.querySelector(".comment-content");
  const actions = node.querySelector(".comment-actions");
  const id = Number(node.dataset.commentId);
  const source = known.get(id)?.content ?? content.textContent.trim();
  const close = () => {
    edit.form.remove();
    content.hidden = false;
    actions.hidden = false;
  };
  const edit = textForm({
    id: `edit-content-${id}`,
    label: "Edit your comment",
    value: source,
    submitLabel: "Save",
    onCancel: () => {
      close();
      actions.querySelector("button")?.focus();
    },
  });
  content.hidden = true;
  actions.hidden = true;
  content.after(edit.form);
  edit.area.focus();
  onSubmit(edit.form, edit, async () => {
    const response = await apiFetch(`/api/comments/${encodeURIComponent(id)}`, {
      method: "PATCH",
      json: { content: edit.area.value },
    });
    if (!response.ok) return refusal(edit.form, edit.error, response);
    const comment = await response.json();
    known.set(id, comment);
    content.innerHTML = comment.content_html; // sanitised by the server: see the top
    if (comment.updated_at && !node.querySelector(".comment-edited")) {
      node.querySelector(".comment-meta").append(" ", element("span", "comment-edited", "edited"));
    }
    close();
    node.querySelector(".comment-link").focus();
    return LEAVING;
  });
}

// --- Moderation: delete, approve, report ---------------------------------------------

let deleting = null;
const deletion = setUpDialog("delete-comment");

/** What is left of a deleted comment: a placeholder while it has replies. */
function removeComment(node) {
  const thread = node.closest(".comment-thread");
  const replies = thread.querySelector(".comment-replies");
  if (node.dataset.parentId) {
    node.closest("li").remove();
    const top = thread.querySelector(":scope > .comment");
    if (top.dataset.status === "deleted" && !replies.childElementCount) thread.remove();
  } else if (replies.childElementCount) {
    node.replaceChildren(element("p", "comment-deleted", "This comment was deleted."));
    node.dataset.status = "deleted";
    node.dataset.authorId = "";
    thread.querySelector(":scope > .inline-comment-form")?.remove();
    for (const reply of replies.querySelectorAll(".comment")) decorate(reply);
  } else {
    thread.remove();
  }
}

onClick(deletion.confirm, deletion, async () => {
  const node = deleting;
  const id = node.dataset.commentId;
  const response = await apiFetch(`/api/comments/${encodeURIComponent(id)}`, {
    method: "DELETE",
  });
  if (!response.ok) return errorMessage(response);
  if (node.dataset.status === "published") recount(-1);
  known.delete(Number(id));
  removeComment(node);
  deletion.dialog.close();
  say("Comment deleted.");
  heading.focus();
});

async function approveComment(node) {
  const id = node.dataset.commentId;
  const response = await apiFetch(`/api/comments/${encodeURIComponent(id)}/approval`, {
    method: "POST",
  });
  if (!response.ok) return errorMessage(response);
  node.dataset.status = "published";
  node.querySelector(".comment-pending")?.remove();
  recount(1);
  decorate(node);
  node.querySelector(".comment-link").focus();
  say("Comment approved: everyone sees it now.");
  return LEAVING;
}

let reporting = null;
const reportDialog = setUpDialog("report-comment", {
  before: () => reportDialog.form.reset(),
  after: () => reportDialog.form.elements.reason.focus(),
});

onSubmit(reportDialog.form, reportDialog, async () => {
  const id = reporting.dataset.commentId;
  const response = await apiFetch(`/api/comments/${encodeURIComponent(id)}/reports`, {
    method: "POST",
    json: { reason: reportDialog.form.elements.reason.value },
  });
  if (!response.ok) return formErrors(reportDialog.form, response);
  const { detail } = await response.json();
  reportDialog.dialog.close();
  say(detail || "Thank you: the admins will look at it.");
});

// --- The comments this reader may see beyond the page's: pending ones -------------

/** Every comment the API shows this reader (a page of up to 100 at a time). */
async function loadKnown() {
  let cursor = null;
  do {
    const query = new URLSearchParams({ limit: "100" });
    if (cursor) query.set("cursor", cursor);
    const response = await apiFetch(`${commentsPath}?${query}`);
    if (!response.ok) return;
    const page = await response.json();
    for (const comment of page.items) known.set(comment.id, comment);
    cursor = page.next_cursor;
  } while (cursor);
}

/** The pending comments this reader may see that belong on the page as it is now. */
function showPending() {
  for (const comment of known.values()) {
    if (comment.status === "pending" && !commentElement(comment.id)) place(comment);
  }
}

// --- More comments ----------------------------------------------------------------

function setUpLoadMore() {
  const pager = byId("comments-pager");
  const more = byId("more-comments");
  const loadButton = byId("load-more-comments");
  if (!pager || !more || !loadButton) return;
  loadButton.hidden = false;
  onClick(loadButton, { error: byId("load-more-comments-error") }, async () => {
    const page = await fetchPage(new URL(more.href));
    const threads = Array.from(page.querySelectorAll("#comment-list > .comment-thread")).filter(
      (thread) => !commentElement(thread.querySelector(".comment").dataset.commentId),
    );
    // Before any thread this script added (a pending one, a new one): they are newer.
    const firstAdded = Array.from(list.children).find((thread) => !thread.dataset.fromPage);
    for (const thread of threads) {
      thread.dataset.fromPage = "true";
      list.insertBefore(document.adoptNode(thread), firstAdded ?? null);
    }
    localizeDates(list);
    for (const thread of threads) {
      for (const node of thread.querySelectorAll(".comment")) decorate(node);
    }
    showPending();
    const next = page.getElementById("more-comments");
    if (next) more.setAttribute("href", next.getAttribute("href"));
    else pager.remove();
    threads[0]?.querySelector(".comment-link")?.focus();
    return next ? undefined : LEAVING;
  });
}

// --- Start ----------------------------------------------------------------------

for (const thread of list.children) thread.dataset.fromPage = "true";
heading.tabIndex = -1;
setUpLoadMore();
user = await getCurrentUser();
if (user) {
  if (commentsOpen) setUpForm();
  for (const node of list.querySelectorAll(".comment")) decorate(node);
  await loadKnown();
  showPending();
}
