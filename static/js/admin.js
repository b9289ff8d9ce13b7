// /admin: the page holds no data and is the same for everyone. An admin (by
// /api/users/me) gets the console: the comments waiting for approval (Approve,
// Delete), the reported ones with their reports (Dismiss reports, Delete), the
// accounts, searched by the page's GET form (?q=), each with Suspend or Restore, and
// the admin-actions log. Anyone else sees exactly the 404 page. The API (admins only) is the real guard.
// A comment's content_html is sanitised by the server (content/markdown_render.py)
// and shown as HTML, as comments.js does; everything else is text.
import { apiFetch } from "./api.js";
import { localizeDates, readableDate } from "./dates.js";
import { byId, showError } from "./dom.js";
import { errorMessage, NetworkError, NETWORK_ERROR } from "./errors.js";
import { onClick, setUpDialog } from "./forms.js";
import { getCurrentUser } from "./user.js";

const PAGE = 20;
const ACTION_NAMES = {
  suspend: "suspended",
  restore: "restored",
  delete_post: "deleted a post of",
  promote: "made an admin:",
  demote: "made a member:",
  delete_comment: "deleted a comment of",
  approve_comment: "approved a comment of",
  dismiss_reports: "dismissed the reports on a comment of",
  reset_2fa: "turned off two-factor authentication of",
};

const query = new URLSearchParams(location.search).get("q") || "";
const accounts = { cursor: null, list: byId("admin-accounts-list") };
const log = { cursor: null, list: byId("admin-log-list") };
const pending = { cursor: null, list: byId("admin-pending-list"), name: "pending" };
const reported = { cursor: null, list: byId("admin-reported-list"), name: "reported" };

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function cell(text, className) {
  return element("td", className, text);
}

/** The status cell's text and the button's, for an account suspended or not. */
function describe(row, account) {
  row.dataset.suspended = String(account.suspended);
  const badge = row.querySelector(".status-badge");
  badge.textContent = account.suspended ? "Suspended" : "Active";
  badge.dataset.status = account.suspended ? "suspended" : "active";
  const button = row.querySelector("button");
  button.textContent = account.suspended ? "Restore" : "Suspend";
  button.dataset.busyLabel = account.suspended ? "Restoring…" : "Suspending…";
  button.className = account.suspended ? "btn btn-secondary" : "btn btn-danger";
  // Many such buttons on one page: each says whose account (WCAG 2.4.6).
  button.setAttribute("aria-label", `${button.textContent} ${account.username}`);
}

/** The day an account was made, in the reader's language and time zone. */
function joined(value) {
  const td = cell("", "admin-date");
  const time = element("time", "", value);
  time.dateTime = value;
  td.append(time);
  localizeDates(td);
  return td;
}

function accountRow(account) {
  const row = element("tr", "admin-account");
  row.dataset.userId = account.id;
  const name = cell("");
  const link = element("a", "", account.username);
  link.href = `/users/${encodeURIComponent(account.id)}/posts`;
  name.append(link);
  const status = cell("");
  status.append(element("span", "status-badge"));
  const actions = cell("", "admin-actions-cell");
  const button = element("button", "btn");
  button.type = "button";
  const error = element("p", "form-error");
  error.setAttribute("role", "alert");
  error.hidden = true;
  actions.append(button, error);
  row.append(
    name,
    cell(account.email + (account.verified ? "" : " (unverified)")),
    cell(account.role === "admin" ? "Admin" : "Member"),
    joined(account.created_at),
    cell(String(account.post_count), "admin-number"),
    cell(String(account.comment_count), "admin-number"),
    status,
    actions,
  );
  describe(row, account);
  onClick(button, { error }, async () => {
    const suspended = row.dataset.suspended === "true";
    const response = await apiFetch(`/api/admin/users/${encodeURIComponent(account.id)}/suspension`, {
      method: suspended ? "DELETE" : "POST",
    });
    if (!response.ok) return errorMessage(response);
    describe(row, { ...account, suspended: !suspended });
    await reloadLog();
    return undefined;
  });
  return row;
}

function actionItem(action) {
  const item = element("li", "admin-log-entry");
  const time = element("span", "admin-log-time", readableDate(action.created_at));
  const who = action.target_name ? ` ${action.target_name}` : "";
  const words = `${action.actor_name} ${ACTION_NAMES[action.action] || action.action}${who}`;
  item.append(time, " ", element("span", "admin-log-text", words));
  if (action.detail) item.append(" ", element("span", "admin-log-detail", `(${action.detail})`));
  return item;
}

// --- Comments to moderate -------------------------------------------------------

/** A time, in the reader's language and time zone. */
function timeOf(value) {
  const time = element("time", "", readableDate(value));
  time.dateTime = value;
  return time;
}

let deleting = null; // the comment item the delete dialog is about
const deletion = setUpDialog("admin-delete-comment");

/** After an item went: the empty state, and the focus on its section's heading. */
function removeItem(state, item) {
  item.remove();
  const section = byId(`admin-${state.name}`);
  section.querySelector(".empty").hidden = state.list.children.length > 0 || Boolean(state.cursor);
  byId(`admin-${state.name}-heading`).focus();
}

/** The same comment in the other list too (approved or deleted, it is done there). */
function removeEverywhere(id) {
  for (const state of [pending, reported]) {
    const item = state.list.querySelector(`[data-comment-id="${CSS.escape(String(id))}"]`);
    if (item) removeItem(state, item);
  }
}

function commentItem(state, comment) {
  const item = element("li", "admin-comment");
  item.dataset.commentId = comment.id;
  const article = element("article", "comment");
  const meta = element("header", "comment-meta");
  const name = comment.author ? comment.author.username : "Deleted";
  if (comment.author) {
    const author = element("a", "", name);
    author.href = `/users/${encodeURIComponent(comment.author.id)}/posts`;
    meta.append(author);
  } else {
    meta.append(element("span", "", name));
  }
  const link = element("a", "comment-link");
  link.href = `/posts/${encodeURIComponent(comment.post_id)}#comment-${encodeURIComponent(comment.id)}`;
  link.append(timeOf(comment.created_at));
  link.setAttribute("aria-label", `Comment by ${name} on its post, ${link.textContent}`);
  meta.append(link);
  const content = element("div", "comment-content");
  content.innerHTML = comment.content_html; // sanitised by the server: see the top
  article.append(meta, content);

  if (comment.reports) {
    const reports = element("ul", "admin-reports");
    reports.setAttribute("aria-label", `Reports on the comment by ${name}`);
    for (const report of comment.reports) {
      const entry = element("li", "admin-report");
      entry.append(
        element("span", "admin-report-reporter", report.reporter.username),
        ": ",
        element("span", "admin-report-reason", report.reason),
        " ",
      );
      const when = element("span", "admin-log-time");
      when.append("(", timeOf(report.created_at), ")");
      entry.append(when);
      reports.append(entry);
    }
    article.append(reports);
  }

  const actions = element("div", "comment-actions");
  const error = element("p", "form-error");
  error.setAttribute("role", "alert");
  error.hidden = true;
  if (state === pending) {
    const approve = element("button", "btn btn-primary btn-small", "Approve");
    approve.type = "button";
    approve.dataset.busyLabel = "Approving…";
    approve.setAttribute("aria-label", `Approve the comment by ${name}`);
    onClick(approve, { error }, async () => {
      const response = await apiFetch(`/api/comments/${encodeURIComponent(comment.id)}/approval`, {
        method: "POST",
      });
      if (!response.ok) return errorMessage(response);
      removeItem(state, item);
      await reloadLog();
      return undefined;
    });
    actions.append(approve);
  }
  if (state === reported) {
    // The comment stays: only its reports go (it leaves this list).
    const dismiss = element("button", "btn btn-ghost btn-small", "Dismiss reports");
    dismiss.type = "button";
    dismiss.dataset.busyLabel = "Dismissing…";
    dismiss.setAttribute("aria-label", `Dismiss reports on the comment by ${name}`);
    onClick(dismiss, { error }, async () => {
      const path = `/api/admin/comments/${encodeURIComponent(comment.id)}/reports`;
      const response = await apiFetch(path, { method: "DELETE" });
      if (!response.ok) return errorMessage(response);
      removeItem(state, item);
      await reloadLog();
      return undefined;
    });
    actions.append(dismiss);
  }
  const remove = element("button", "btn btn-ghost btn-small btn-danger-text", "Delete");
  remove.type = "button";
  remove.setAttribute("aria-label", `Delete the comment by ${name}`);
  remove.addEventListener("click", () => {
    deleting = item;
    deletion.open();
  });
  actions.append(remove);
  article.append(actions, error);
  item.append(article);
  return item;
}

onClick(deletion.confirm, deletion, async () => {
  const id = deleting.dataset.commentId;
  const response = await apiFetch(`/api/comments/${encodeURIComponent(id)}`, { method: "DELETE" });
  if (!response.ok) return errorMessage(response);
  deletion.dialog.close();
  removeEverywhere(id);
  deleting = null;
  await reloadLog();
  return undefined;
});

/** The next page of `list` from `path`, appended; the error message if it failed. */
async function loadPage(state, path, makeItem, { pager, empty, wrap, focus = false }) {
  const params = new URLSearchParams({ limit: String(PAGE) });
  if (state === accounts && query) params.set("q", query);
  if (state.cursor) params.set("cursor", state.cursor);
  const response = await apiFetch(`${path}?${params}`);
  if (!response.ok) return errorMessage(response);
  const page = await response.json();
  const items = page.items.map(makeItem);
  state.list.append(...items);
  state.cursor = page.next_cursor;
  pager.hidden = !state.cursor;
  empty.hidden = state.list.children.length > 0;
  if (wrap) wrap.hidden = state.list.children.length === 0;
  if (focus && items.length) items[0].querySelector("a")?.focus();
  return undefined;
}

const loadAccounts = (options = {}) =>
  loadPage(accounts, "/api/admin/users", accountRow, {
    pager: byId("admin-accounts-pager"),
    empty: byId("admin-accounts-empty"),
    wrap: byId("admin-accounts-wrap"),
    ...options,
  });

const loadComments = (state, path) => (options = {}) =>
  loadPage(state, path, (comment) => commentItem(state, comment), {
    pager: byId(`admin-${state.name}-pager`),
    empty: byId(`admin-${state.name}-empty`),
    ...options,
  });
const loadPending = loadComments(pending, "/api/comments/pending");
const loadReported = loadComments(reported, "/api/admin/comments/reported");

const loadLog = (options = {}) =>
  loadPage(log, "/api/admin/actions", actionItem, {
    pager: byId("admin-log-pager"),
    empty: byId("admin-log-empty"),
    ...options,
  });

/** The log again from its newest entry, after an action added one. */
async function reloadLog() {
  log.cursor = null;
  log.list.replaceChildren();
  showError(byId("admin-log-error"), (await loadLog()) || "");
}

/** What anyone but an admin sees: the 404 page, word for word. */
function showNotFound() {
  byId("error-card").hidden = false;
  document.title = `${byId("error-heading").textContent} · Inkwell`;
}

async function start() {
  const user = await getCurrentUser();
  byId("admin-loading").hidden = true;
  if (!user || user.role !== "admin") {
    showNotFound();
    return;
  }
  byId("admin-console").hidden = false;
  byId("admin-search-input").value = query;
  onClick(byId("admin-accounts-more"), { error: byId("admin-accounts-error") }, () =>
    loadAccounts({ focus: true }),
  );
  onClick(byId("admin-log-more"), { error: byId("admin-log-error") }, () => loadLog());
  onClick(byId("admin-pending-more"), { error: byId("admin-pending-error") }, () =>
    loadPending({ focus: true }),
  );
  onClick(byId("admin-reported-more"), { error: byId("admin-reported-error") }, () =>
    loadReported({ focus: true }),
  );
  const [pendingError, reportedError, accountsError, logError] = await Promise.all([
    loadPending(),
    loadReported(),
    loadAccounts(),
    loadLog(),
  ]);
  showError(byId("admin-pending-error"), pendingError || "");
  showError(byId("admin-reported-error"), reportedError || "");
  showError(byId("admin-accounts-error"), accountsError || "");
  showError(byId("admin-log-error"), logError || "");
}

try {
  await start();
} catch (failure) {
  byId("admin-loading").hidden = true;
  showError(byId("admin-accounts-error"), NETWORK_ERROR);
  if (!(failure instanceof NetworkError)) throw failure; // a bug: for the console
}
