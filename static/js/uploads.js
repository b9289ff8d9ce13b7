// Images in the editor: chosen with the Insert image button, pasted or dropped into the
// text, each is uploaded (POST /api/media, which re-encodes it as WebP) and its
// Markdown, `![alt](url)`, goes where the cursor was. While it uploads a placeholder
// holds its place (the author may go on typing), with the progress beside the text;
// the API's refusal (too big, not an image, over the quota) is said there too.
import { apiUpload } from "./api.js";
import { byId, showError } from "./dom.js";
import { errorMessage, GENERIC_ERROR, NetworkError, NETWORK_ERROR } from "./errors.js";

const MEDIA_PATH = "/api/media";

/** A file's name as alt text: no extension, no Markdown brackets. */
function altText(file) {
  const name = (file.name || "").replace(/\.[^.]*$/, "").replace(/[[\]\\]/g, " ").trim();
  return name && name !== "image" ? name : "Image";
}

/** Wire the uploads of the editor's textarea; `changed()` runs after each insertion. */
export function setUpImages(changed) {
  const textarea = byId("editor-content");
  const button = byId("editor-image-button");
  const input = byId("editor-image-file");
  const progress = byId("editor-image-progress");
  const status = byId("editor-image-status");
  const error = byId("editor-image-error");
  let running = 0;
  let counter = 0;

  /** Put `text` in place of `from` in the textarea, keeping the author's cursor. */
  function replaceText(from, text) {
    const at = textarea.value.indexOf(from);
    if (at < 0) return false; // the author deleted the placeholder: leave it so
    const { selectionStart, selectionEnd } = textarea;
    const shift = (position) => (position > at ? position + text.length - from.length : position);
    textarea.setRangeText(text, at, at + from.length, "preserve");
    if (document.activeElement === textarea) {
      textarea.setSelectionRange(shift(selectionStart), shift(selectionEnd));
    }
    changed();
    return true;
  }

  function insertAtCursor(text) {
    const { selectionStart, selectionEnd, value } = textarea;
    // A paragraph of its own: a blank line before and after, unless there is one.
    const head = value.slice(0, selectionStart);
    const tail = value.slice(selectionEnd);
    const newlines = (count) => "\n".repeat(Math.max(0, 2 - count));
    const before = head ? newlines(head.match(/\n*$/)[0].length) : "";
    const after = tail ? newlines(tail.match(/^\n*/)[0].length) : "";
    textarea.setRangeText(`${before}${text}${after}`, selectionStart, selectionEnd, "end");
    changed();
  }

  function showProgress(fraction) {
    progress.hidden = false;
    if (fraction === null) progress.removeAttribute("value");
    else progress.value = fraction;
  }

  async function upload(file) {
    counter += 1;
    running += 1;
    const alt = altText(file);
    const placeholder = `![Uploading ${alt} (${counter})…]()`;
    insertAtCursor(placeholder);
    status.textContent = `Uploading ${file.name || "the image"}…`;
    showProgress(0);
    const body = new FormData();
    body.append("file", file);
    let message = null;
    let unexpected = null;
    try {
      // With the session over, the editor stays: what is typed is kept on this device.
      const response = await apiUpload(MEDIA_PATH, body, {
        onProgress: showProgress,
        leaveForLogin: false,
      });
      if (response.status === 401) {
        message = "You are signed out. Log in again, then add the image.";
      } else if (response.ok) {
        const { url } = await response.json();
        replaceText(placeholder, `![${alt}](${url})`);
        status.textContent = `${file.name || "The image"} is in the text.`;
      } else {
        message = await errorMessage(response);
      }
    } catch (failure) {
      if (failure instanceof NetworkError) message = NETWORK_ERROR;
      else {
        unexpected = failure;
        message = GENERIC_ERROR;
      }
    }
    running -= 1;
    if (running === 0) progress.hidden = true;
    if (message !== null) {
      replaceText(placeholder, "");
      status.textContent = "";
      showError(error, `${file.name || "The image"}: ${message}`);
    }
    if (unexpected) throw unexpected;
  }

  /** Upload the image files among `files`; true if there was one. */
  function uploadAll(files) {
    const images = Array.from(files || []).filter((file) => file.type.startsWith("image/"));
    if (!images.length) return false;
    showError(error, "");
    // Any image type goes: the server says which ones it takes (JPEG, PNG, WebP, GIF).
    for (const file of images) upload(file);
    return true;
  }

  button.addEventListener("click", () => input.click());
  input.addEventListener("change", () => {
    uploadAll(input.files);
    input.value = ""; // the same file may be chosen again
    textarea.focus();
  });
  textarea.addEventListener("paste", (event) => {
    if (uploadAll(event.clipboardData && event.clipboardData.files)) event.preventDefault();
  });
  textarea.addEventListener("dragover", (event) => {
    if (event.dataTransfer && Array.from(event.dataTransfer.types).includes("Files")) {
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
    }
  });
  textarea.addEventListener("drop", (event) => {
    const files = event.dataTransfer && event.dataTransfer.files;
    if (!files || !files.length) return;
    event.preventDefault();
    uploadAll(files); // at the cursor, as a pasted one

  });
}
