// The Write / Preview toggle of the New Post and Edit dialogs. Preview asks the server
// to render the content (POST /api/posts/preview: the very function that renders a
// published post), so what the author sees is what readers will get. The textarea is
// only hidden meanwhile, never emptied: drafts and the form work as before.
import { apiFetch } from "./api.js";
import { showError } from "./dom.js";
import { errorMessage, GENERIC_ERROR, NetworkError, NETWORK_ERROR } from "./errors.js";

const NOTHING = "Nothing to preview";

/**
 * Wire the toggle of the post dialog whose ids start with `prefix` ("new-post",
 * "edit-post"). Returns { showWrite } to put the dialog back in Write mode.
 */
export function setUpPreview(prefix) {
  const part = (name) => document.getElementById(`${prefix}-${name}`);
  const writeButton = part("write");
  const previewButton = part("preview");
  const textarea = part("content");
  const area = part("preview-area");
  const error = part("preview-error");
  let request = 0; // answers to an older request (the author moved on) are dropped

  function setMode(previewing) {
    writeButton.setAttribute("aria-pressed", String(!previewing));
    previewButton.setAttribute("aria-pressed", String(previewing));
    textarea.hidden = previewing;
    area.hidden = !previewing;
    if (!previewing) {
      request += 1;
      area.replaceChildren();
      area.setAttribute("aria-busy", "false");
      showError(error, "");
    }
  }

  function showText(text) {
    const note = document.createElement("p");
    note.className = "hint";
    note.textContent = text;
    area.replaceChildren(note);
  }

  async function showPreview() {
    setMode(true);
    showError(error, "");
    const content = textarea.value;
    if (content.trim() === "") {
      showText(NOTHING);
      return;
    }
    const mine = ++request;
    area.setAttribute("aria-busy", "true");
    let message = null;
    let html = null;
    let unexpected = null;
    try {
      const response = await apiFetch("/api/posts/preview", { method: "POST", json: { content } });
      if (response.ok) html = (await response.json()).html;
      else message = await errorMessage(response);
    } catch (failure) {
      if (failure instanceof NetworkError) message = NETWORK_ERROR;
      else unexpected = failure;
    }
    if (mine !== request) return;
    area.setAttribute("aria-busy", "false");
    if (typeof html !== "string") {
      area.replaceChildren();
      showError(error, message || GENERIC_ERROR);
      if (unexpected) throw unexpected; // a bug, not the network: for the console
      return;
    }
    // The one place server HTML enters a page from script: it is our own API's answer,
    // rendered and sanitised by content/markdown_render.py exactly as a published post (no
    // script, no event or style attribute, no unsafe link). DOMParser builds it in an
    // inert document (nothing in it runs or loads), and its nodes are then moved here.
    const parsed = new DOMParser().parseFromString(html, "text/html");
    if (parsed.body.childNodes.length === 0) showText(NOTHING);
    else area.replaceChildren(...Array.from(parsed.body.childNodes, (n) => document.adoptNode(n)));
  }

  writeButton.addEventListener("click", () => {
    setMode(false);
    textarea.focus();
  });
  previewButton.addEventListener("click", showPreview);
  // Publishing with the content empty while the preview shows: bring the textarea
  // back, so the browser can point at it and say what is missing.
  textarea.addEventListener("invalid", () => setMode(false));

  return { showWrite: () => setMode(false) };
}
