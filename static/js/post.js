// Edit and Delete on a post page, shown only to its author.
import { apiFetch, errorMessage, getCurrentUser, NETWORK_ERROR, showError } from "./auth.js";

const article = document.getElementById("post");
const postId = article.dataset.postId;
const authorId = Number(article.dataset.authorId);
const titleElement = document.getElementById("post-title");
const contentElement = document.getElementById("post-content");

getCurrentUser().then((user) => {
  if (user && user.id === authorId) document.getElementById("post-actions").hidden = false;
});

// --- Edit ---------------------------------------------------------------------
const editDialog = document.getElementById("edit-post-dialog");
const editForm = document.getElementById("edit-post-form");
const editError = document.getElementById("edit-post-error");
const editSubmit = document.getElementById("edit-post-submit");

document.getElementById("edit-post-button").addEventListener("click", () => {
  editForm.elements.title.value = titleElement.textContent;
  editForm.elements.content.value = contentElement.textContent;
  showError(editError, "");
  editDialog.showModal();
});
document.getElementById("edit-post-cancel").addEventListener("click", () => editDialog.close());

editForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!editForm.reportValidity()) return;
  showError(editError, "");
  editSubmit.disabled = true;
  try {
    const response = await apiFetch(`/api/posts/${encodeURIComponent(postId)}`, {
      method: "PATCH",
      json: { title: editForm.elements.title.value, content: editForm.elements.content.value },
    });
    if (response.ok) {
      const post = await response.json();
      titleElement.textContent = post.title;
      contentElement.textContent = post.content;
      document.title = `${post.title} · Inkwell`;
      editDialog.close();
    } else {
      showError(editError, await errorMessage(response));
    }
  } catch {
    showError(editError, NETWORK_ERROR);
  }
  editSubmit.disabled = false;
});

// --- Delete -------------------------------------------------------------------
const deleteDialog = document.getElementById("delete-post-dialog");
const deleteError = document.getElementById("delete-post-error");
const deleteConfirm = document.getElementById("delete-post-confirm");

document.getElementById("delete-post-button").addEventListener("click", () => {
  showError(deleteError, "");
  deleteDialog.showModal();
});
document.getElementById("delete-post-cancel").addEventListener("click", () => deleteDialog.close());

deleteConfirm.addEventListener("click", async () => {
  showError(deleteError, "");
  deleteConfirm.disabled = true;
  try {
    const response = await apiFetch(`/api/posts/${encodeURIComponent(postId)}`, {
      method: "DELETE",
    });
    if (response.ok) {
      location.assign("/");
      return;
    }
    showError(deleteError, await errorMessage(response));
  } catch {
    showError(deleteError, NETWORK_ERROR);
  }
  deleteConfirm.disabled = false;
});
