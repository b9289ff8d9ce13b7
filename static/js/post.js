// Edit and Delete on a post page, shown only to its author.
import { apiFetch, errorMessage, getCurrentUser } from "./auth.js";
import { LEAVING, onClick, onSubmit, setUpDialog } from "./forms.js";

const article = document.getElementById("post");
const postId = article.dataset.postId;
const authorId = Number(article.dataset.authorId);
const titleElement = document.getElementById("post-title");
const contentElement = document.getElementById("post-content");

getCurrentUser().then((user) => {
  if (user && user.id === authorId) document.getElementById("post-actions").hidden = false;
});

// --- Edit ---------------------------------------------------------------------
const edit = setUpDialog("edit-post", {
  before: () => {
    edit.form.elements.title.value = titleElement.textContent;
    edit.form.elements.content.value = contentElement.textContent;
  },
});

onSubmit(edit.form, edit, async () => {
  const response = await apiFetch(`/api/posts/${encodeURIComponent(postId)}`, {
    method: "PATCH",
    json: { title: edit.form.elements.title.value, content: edit.form.elements.content.value },
  });
  if (!response.ok) return errorMessage(response);
  const post = await response.json();
  titleElement.textContent = post.title;
  contentElement.textContent = post.content;
  document.title = `${post.title} · Inkwell`;
  edit.dialog.close();
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
