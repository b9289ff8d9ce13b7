// The editor's safety net: a copy of what is being written, kept in localStorage on
// every keystroke, so that nothing typed is lost: not to a dropped connection, an
// expired session, a closed tab or a crash. The server has the text once a save
// succeeds (drafts are saved there a few seconds after typing stops, see editor.js);
// the copy goes once the server holds everything it says, and is offered back when
// the editor opens with it still there.
//
// Keys: "draft:new" (a post not saved to the server yet), "draft:edit:<post id>".
// Each copy names the user who wrote it and is offered back to that user only.

/** The key of the copy of post `postId` (null: a new post). */
export function draftKey(postId) {
  return postId == null ? "draft:new" : `draft:edit:${postId}`;
}

/** The copy under `key` ({title, content, summary, user, saved_at}) or null. */
export function readDraft(key) {
  let raw;
  try {
    raw = localStorage.getItem(key);
  } catch {
    return null;
  }
  if (!raw) return null;
  try {
    const draft = JSON.parse(raw);
    if (draft && typeof draft.title === "string" && typeof draft.content === "string") {
      // Copies from before summaries (the old New Post dialog's) have none.
      return { ...draft, summary: typeof draft.summary === "string" ? draft.summary : "" };
    }
  } catch {
    // not ours, or damaged: ignore it
  }
  return null;
}

/** Keep `fields` ({title, content, summary}) under `key`, as `userId`'s. */
export function writeDraft(key, fields, userId) {
  const draft = { ...fields, user: userId, saved_at: new Date().toISOString() };
  try {
    localStorage.setItem(key, JSON.stringify(draft));
    return true;
  } catch {
    return false; // storage full or unavailable: the text is still in the form
  }
}

export function clearDraft(key) {
  try {
    localStorage.removeItem(key);
  } catch {
    // storage unavailable: nothing was kept
  }
}
