// /me/posts: the signed-in author's posts of every status (GET /api/users/me/posts),
// the last changed first, each leading to its editor (and a published one to its
// page), with "Load more" following the API's cursor. Guests are sent to log in.
import { apiFetch } from "./api.js";
import { readableDate } from "./dates.js";
import { byId, showError } from "./dom.js";
import { errorMessage, NetworkError, NETWORK_ERROR } from "./errors.js";
import { onClick } from "./forms.js";
import { loginUrl } from "./navigation.js";
import { getCurrentUser } from "./user.js";

const PAGE = 20;
const STATUS_NAMES = { draft: "Draft", scheduled: "Scheduled", published: "Published" };

const list = byId("my-posts-list");
const more = byId("my-posts-more");
const pager = byId("my-posts-pager");
const error = byId("my-posts-error");
let cursor = null;

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** When a post was or will be published, and changed since. */
function dates(post) {
  const parts = [];
  // After the status badge: "Draft not published yet", "Scheduled for …", "Published on …".
  if (post.status === "draft") parts.push("not published yet");
  if (post.status === "scheduled") parts.push(`for ${readableDate(post.date_posted)}`);
  if (post.status === "published") parts.push(`on ${readableDate(post.date_posted)}`);
  if (post.updated_at) parts.push(`updated ${readableDate(post.updated_at)}`);
  return parts.join(" · ");
}

function item(post) {
  const entry = element("li", "card my-post");
  entry.dataset.postId = post.id;
  entry.dataset.status = post.status;
  const title = element("h2", "my-post-title");
  const edit = element("a", "", post.title);
  edit.href = `/posts/${encodeURIComponent(post.id)}/edit`;
  title.append(edit);
  const meta = element("p", "my-post-meta");
  const badge = element("span", "status-badge", STATUS_NAMES[post.status] || post.status);
  badge.dataset.status = post.status;
  meta.append(badge, " ", element("span", "my-post-dates", dates(post)));
  entry.append(title, meta);
  if (post.status === "published") {
    const view = element("a", "my-post-view", "View post");
    view.href = post.url;
    // Many "View post" links on one page: each says which post (WCAG 2.4.4), its name
    // starting with the words it shows (2.5.3).
    view.setAttribute("aria-label", `View post: ${post.title}`);
    entry.append(view);
  }
  return entry;
}

/** The next page of posts, appended; focus moves to the first new one when asked. */
async function load({ focus = false } = {}) {
  const query = new URLSearchParams({ limit: String(PAGE) });
  if (cursor) query.set("cursor", cursor);
  const response = await apiFetch(`/api/users/me/posts?${query}`);
  if (response.status === 401) {
    location.replace(loginUrl("/me/posts"));
    return undefined;
  }
  if (!response.ok) return errorMessage(response);
  const page = await response.json();
  const entries = page.items.map(item);
  list.append(...entries);
  byId("my-posts-loading").hidden = true;
  list.hidden = list.children.length === 0;
  byId("my-posts-empty").hidden = list.children.length > 0;
  cursor = page.next_cursor;
  pager.hidden = !cursor;
  if (focus && entries.length) entries[0].querySelector("a").focus();
  return undefined;
}

const user = await getCurrentUser();
if (!user) {
  location.replace(loginUrl("/me/posts"));
} else {
  onClick(more, { error }, () => load({ focus: true }));
  try {
    const message = await load();
    if (message) {
      byId("my-posts-loading").hidden = true;
      showError(error, message);
    }
  } catch (failure) {
    byId("my-posts-loading").hidden = true;
    showError(error, NETWORK_ERROR);
    if (!(failure instanceof NetworkError)) throw failure; // a bug: for the console
  }
}
