// The editor's Write and Preview: side by side on a wide screen (the preview follows
// the text a moment after typing stops), tabs on a narrow one. Preview asks the server
// to render the content (POST /api/posts/preview: the very function that renders a
// published post), so what the author sees is what readers will get. The textarea is
// only hidden meanwhile, never emptied.
import { apiFetch } from "./api.js";
import { byId, showError } from "./dom.js";
import { errorMessage, GENERIC_ERROR, NetworkError, NETWORK_ERROR } from "./errors.js";

const NOTHING = "Nothing to preview";
// Wide enough for two columns of text side by side (the stylesheet agrees).
const SPLIT = window.matchMedia("(min-width: 64rem)");
const FOLLOW_MS = 600;

/**
 * Wire the editor's panes (`editor` the element whose `data-layout` says "split" or
 * "tabs"). Returns { refresh } to render the preview again if it shows.
 */
export function setUpPreview(editor) {
  const textarea = byId("editor-content");
  const area = byId("editor-preview");
  const error = byId("editor-preview-error");
  const tabs = [byId("editor-tab-write"), byId("editor-tab-preview")];
  const panes = [byId("editor-write-pane"), byId("editor-preview-pane")];
  const tablist = byId("editor-tabs");
  let request = 0; // answers to an older request (the author moved on) are dropped
  let selected = 0; // the tab chosen (on a narrow screen)
  let timer = null;

  const split = () => SPLIT.matches;
  const previewShown = () => split() || selected === 1;

  function showText(text) {
    const note = document.createElement("p");
    note.className = "hint";
    note.textContent = text;
    area.replaceChildren(note);
  }

  async function render() {
    clearTimeout(timer);
    showError(error, "");
    const content = textarea.value;
    const mine = ++request;
    if (content.trim() === "") {
      showText(NOTHING);
      area.setAttribute("aria-busy", "false");
      return;
    }
    area.setAttribute("aria-busy", "true");
    let message = null;
    let html = null;
    let unexpected = null;
    try {
      // A look, not a save: with the session over, the editor stays (it says so itself).
      const response = await apiFetch("/api/posts/preview", {
        method: "POST",
        json: { content },
        leaveForLogin: false,
      });
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

  /** Show the panes as the screen's width wants them. */
  function layout() {
    editor.dataset.layout = split() ? "split" : "tabs";
    tablist.hidden = split();
    tabs.forEach((tab, index) => {
      const chosen = index === selected;
      tab.setAttribute("aria-selected", String(chosen));
      tab.tabIndex = chosen ? 0 : -1;
      // Side by side, the panes are plain regions, not the panels of hidden tabs.
      if (split()) panes[index].removeAttribute("role");
      else panes[index].setAttribute("role", "tabpanel");
      panes[index].hidden = !split() && !chosen;
    });
  }

  function select(index, { focus = false } = {}) {
    selected = index;
    layout();
    if (focus) tabs[index].focus();
    if (index === 1) render();
    else request += 1; // a preview still on its way is no longer wanted
  }

  tabs.forEach((tab, index) => {
    tab.addEventListener("click", () => select(index));
    // Arrow keys move between the tabs, Home and End to the first and last (ARIA tabs).
    tab.addEventListener("keydown", (event) => {
      const moves = { ArrowRight: 1, ArrowLeft: -1, Home: -index, End: tabs.length - 1 - index };
      if (!(event.key in moves)) return;
      event.preventDefault();
      const next = (index + moves[event.key] + tabs.length) % tabs.length;
      select(next, { focus: true });
    });
  });

  textarea.addEventListener("input", () => {
    if (!split()) return;
    clearTimeout(timer);
    timer = setTimeout(render, FOLLOW_MS);
  });
  // Saving with the content empty while the preview shows: bring the textarea back,
  // so the browser can point at it and say what is missing.
  textarea.addEventListener("invalid", () => {
    if (!split() && selected !== 0) select(0);
  });
  SPLIT.addEventListener("change", () => {
    layout();
    if (previewShown()) render();
  });

  layout();
  return {
    refresh: () => {
      if (previewShown()) render();
    },
  };
}
