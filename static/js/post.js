// Edit and Delete on a post page, shown only to its author (Edit is a link to the
// editor, /posts/{id}/edit).
import { apiFetch } from "./api.js";
import { errorMessage } from "./errors.js";
import { LEAVING, onClick, setUpDialog } from "./forms.js";
import { getCurrentUser } from "./user.js";

const article = document.getElementById("post");
const postId = article.dataset.postId;
const authorId = Number(article.dataset.authorId);

getCurrentUser().then((user) => {
  if (user && user.id === authorId) document.getElementById("post-actions").hidden = false;
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
