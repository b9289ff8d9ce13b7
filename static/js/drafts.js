// Drafts of the New Post and Edit dialogs, kept in localStorage while the person
// types, so that nothing written is lost: not to an expired session, a forced login,
// a closed tab or a stray Escape. A draft goes away only when it is published or
// saved, or when the person confirms "Discard" (Cancel asks first when there is text).
//
// Keys: "draft:new", "draft:edit:<post id>". Each draft names the user who wrote it
// and is offered back to that user only.

import { setUpDialog } from "./forms.js";
import { setUpPreview } from "./preview.js";

const REOPEN_KEY = "draft:reopen";

function readStorage(storage, key) {
  try {
    return storage.getItem(key);
  } catch {
    return null;
  }
}

function writeStorage(storage, key, value) {
  try {
    if (value === null) storage.removeItem(key);
    else storage.setItem(key, value);
  } catch {
    // storage full or unavailable: the text is still in the form
  }
}

/** The saved draft under `key` ({title, content, user}) or null. */
export function readDraft(key) {
  const raw = readStorage(localStorage, key);
  if (!raw) return null;
  try {
    const draft = JSON.parse(raw);
    if (draft && typeof draft.title === "string" && typeof draft.content === "string") {
      return draft;
    }
  } catch {
    // not ours, or damaged: ignore it
  }
  return null;
}

/**
 * Keep the draft of a post dialog.
 *   key:      the storage key;
 *   parts:    the dialog's elements from setUpDialog (dialog, form, open...);
 *   original: () => {title, content} the dialog starts from (empty, or the post);
 *   userId:   () => the signed-in user's id (or null).
 * Returns { fill, clear, discardable, reopenRequested }.
 */
function keepDraft(key, { dialog, form }, { original, userId }) {
  const title = form.elements.title;
  const content = form.elements.content;
  const note = document.getElementById(`${form.id.replace(/-form$/, "")}-draft-note`);

  const current = () => ({ title: title.value, content: content.value });
  const changed = () => {
    const start = original();
    return current().title !== start.title || current().content !== start.content;
  };
  const hasText = () => (title.value + content.value).trim() !== "";

  function save() {
    if (!changed()) {
      writeStorage(localStorage, key, null);
      return;
    }
    const draft = { ...current(), user: userId(), saved_at: new Date().toISOString() };
    writeStorage(localStorage, key, JSON.stringify(draft));
  }
  form.addEventListener("input", save);

  // Sent to log in again while this dialog is open: reopen it on the way back.
  window.addEventListener("inkwell:login-required", () => {
    if (dialog.open) {
      save();
      writeStorage(sessionStorage, REOPEN_KEY, key);
    }
  });

  /** Put the saved draft (if it is this user's) or else `original()` in the form. */
  function fill() {
    const draft = readDraft(key);
    const mine = draft && (draft.user == null || draft.user === userId());
    const start = mine ? draft : original();
    title.value = start.title;
    content.value = start.content;
    if (note) note.hidden = !mine;
    return Boolean(mine);
  }

  function clear() {
    writeStorage(localStorage, key, null);
    if (readStorage(sessionStorage, REOPEN_KEY) === key) {
      writeStorage(sessionStorage, REOPEN_KEY, null);
    }
    if (note) note.hidden = true;
  }

  /** Whether Cancel would throw away something typed (and so should ask first). */
  const discardable = () => changed() && hasText();

  /** True once, on the page load after a forced login from this dialog. */
  function reopenRequested() {
    if (readStorage(sessionStorage, REOPEN_KEY) !== key) return false;
    writeStorage(sessionStorage, REOPEN_KEY, null);
    return readDraft(key) !== null;
  }

  return { fill, clear, discardable, reopenRequested };
}

/**
 * Wire a post dialog's Cancel: with nothing to lose it discards at once; otherwise it
 * shows the dialog's "Discard this draft?" row (`<prefix>-discard`, with
 * `<prefix>-keep` and `<prefix>-discard-confirm`) in place of the usual buttons.
 * Escape, or closing the dialog any other way, keeps the draft.
 */
function confirmDiscard(prefix, { dialog }, draft) {
  const part = (name) => document.getElementById(`${prefix}-${name}`);
  const row = part("discard");
  const actions = part("actions");
  const keep = part("keep");

  const showRow = (show) => {
    row.hidden = !show;
    actions.hidden = show;
  };
  const discard = () => {
    draft.clear();
    showRow(false);
    dialog.close();
  };

  dialog.addEventListener("close", () => showRow(false));
  keep.addEventListener("click", () => {
    showRow(false);
    part("cancel").focus();
  });
  part("discard-confirm").addEventListener("click", discard);

  return () => {
    if (!draft.discardable()) {
      discard();
      return;
    }
    showRow(true);
    keep.focus();
  };
}

/**
 * A post dialog (see setUpDialog in forms.js) whose text is kept as a draft under
 * `key`, with Cancel asking before it discards anything typed. `original` and `userId`
 * are as for keepDraft; `after` as for setUpDialog. Returns the dialog's parts plus
 * `draft` ({ fill, clear, discardable, reopenRequested }).
 */
export function setUpDraftDialog(prefix, key, { original, userId, after }) {
  let draft = null;
  let cancel = null;
  // Each opening starts in Write mode (see preview.js).
  const preview = setUpPreview(prefix);
  const parts = setUpDialog(prefix, {
    before: () => {
      draft.fill();
      preview.showWrite();
    },
    after,
    cancel: () => cancel(),
  });
  draft = keepDraft(key, parts, { original, userId });
  cancel = confirmDiscard(prefix, parts, draft);
  return { ...parts, draft };
}
