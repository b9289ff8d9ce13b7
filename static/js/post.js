// Edit and Delete on a post page, shown only to its author.
import { apiFetch } from "./api.js";
import { setUpDraftDialog } from "./drafts.js";
import { fetchPage } from "./fetch-page.js";
import { errorMessage } from "./errors.js";
import { formErrors, LEAVING, onClick, onSubmit, setUpDialog } from "./forms.js";
import { getCurrentUser } from "./user.js";

const article = document.getElementById("post");
const postId = article.dataset.postId;
const authorId = Number(article.dataset.authorId);
const titleElement = document.getElementById("post-title");
// The post's Markdown source (the page shows it rendered); looked up each time, as
// refreshContent replaces it.
const source = () => document.getElementById("post-source").content.textContent;

/** Show the post as the server now renders it: this very page, fetched again (the
 * server renders Markdown in one place only), its content moved into this one. */
async function refreshContent() {
  const fresh = await fetchPage(location.pathname);
  for (const id of ["post-content", "post-source"]) {
    document.getElementById(id).replaceWith(document.adoptNode(fresh.getElementById(id)));
  }
}

// --- Edit ---------------------------------------------------------------------
// Changes are kept as a draft while the author types (see drafts.js).
let author = null;
const edit = setUpDraftDialog("edit-post", `draft:edit:${postId}`, {
  original: () => ({ title: titleElement.textContent, content: source() }),
  userId: () => (author ? author.id : null),
});
const { draft } = edit;

onSubmit(edit.form, edit, async () => {
  const response = await apiFetch(`/api/posts/${encodeURIComponent(postId)}`, {
    method: "PATCH",
    json: { title: edit.form.elements.title.value, content: edit.form.elements.content.value },
  });
  if (!response.ok) return formErrors(edit.form, response);
  const post = await response.json();
  titleElement.textContent = post.title;
  document.title = `${post.title} · Inkwell`;
  draft.clear();
  try {
    await refreshContent();
  } catch {
    location.reload(); // saved all the same: the reloaded page shows it
    return LEAVING;
  }
  edit.dialog.close();
});

getCurrentUser().then((user) => {
  if (!user || user.id !== authorId) return;
  author = user;
  document.getElementById("post-actions").hidden = false;
  // Back from a forced login with changes in the dialog: carry on where it stopped.
  if (draft.reopenRequested()) edit.open();
});

// --- Delete -------------------------------------------------------------------
const deletion = setUpDialog("delete-post");

onClick(deletion.confirm, deletion, async () => {
  const response = await apiFetch(`/api/posts/${encodeURIComponent(postId)}`, {
    method: "DELETE",
  });
  if (!response.ok) return errorMessage(response);
  location.assign("/");
  return LEAVING;
});
