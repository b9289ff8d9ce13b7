// The DOM helpers every page script shares.

/** The element with this id (null when the page has none). */
export const byId = (id) => document.getElementById(id);

/** Show `message` in an error element (or hide it when empty). */
export function showError(element, message) {
  element.textContent = message || "";
  element.hidden = !message;
}
