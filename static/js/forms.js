// The one way a form (or a confirm button) sends a request: clear the old error,
// disable the button, run the request, show its error or the network error.
import { NETWORK_ERROR, showError } from "./auth.js";

/** A handler returns this when the page is moving on: its button then stays disabled. */
export const LEAVING = Symbol("leaving");

/**
 * Run `handler` with `button` disabled and `error` cleared. The handler sends the
 * request and returns an error message to show, LEAVING, or nothing once done.
 */
async function run(error, button, handler) {
  showError(error, "");
  button.disabled = true;
  let result;
  try {
    result = await handler();
  } catch {
    result = NETWORK_ERROR;
  }
  if (typeof result === "string") showError(error, result);
  if (result !== LEAVING) button.disabled = false;
}

/**
 * Send `form` through `handler` (see `run`) when it is submitted and valid.
 *   error:  the form's error element;  submit: its submit button;
 *   check:  optional, run before the browser checks the form (custom validity);
 *   ready:  optional, run once the form is valid; return false to send nothing.
 */
export function onSubmit(form, { error, submit, check, ready }, handler) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (check) check();
    if (!form.reportValidity()) return;
    if (ready && ready() === false) return;
    run(error, submit, handler);
  });
}

/** Run `handler` (see `run`) when `button` is clicked, e.g. a dialog's Delete. */
export function onClick(button, { error }, handler) {
  button.addEventListener("click", () => run(error, button, handler));
}

/**
 * The modal dialog whose ids start with `prefix` (as the templates' dialog macros
 * make them): `<prefix>-button` opens it with `<prefix>-error` cleared and
 * `<prefix>-cancel` closes it (or calls `cancel`, when given). `before` runs just
 * before it opens (e.g. to fill the form), `after` just after (e.g. to move the
 * focus). Returns its elements and how to open it:
 * { dialog, error, form, submit, confirm, open } (elements it lacks are null).
 */
export function setUpDialog(prefix, { before, after, cancel } = {}) {
  const part = (name) => document.getElementById(`${prefix}-${name}`);
  const dialog = part("dialog");
  const error = part("error");
  const open = () => {
    if (before) before();
    showError(error, "");
    dialog.showModal();
    if (after) after();
  };
  part("button").addEventListener("click", open);
  part("cancel").addEventListener("click", () => (cancel ? cancel() : dialog.close()));
  return {
    dialog,
    error,
    form: part("form"),
    submit: part("submit"),
    confirm: part("confirm"),
    open,
  };
}
