// The one way a form (or a confirm button) sends a request: clear the old errors,
// disable the button and say what it is doing, run the request, then show its
// errors: at the field they concern, or above the form.
import { showError } from "./dom.js";
import {
  errorBody,
  errorMessage,
  fieldMessage,
  GENERIC_ERROR,
  NetworkError,
  NETWORK_ERROR,
} from "./errors.js";

/** A handler returns this when the page is moving on: its button then stays disabled. */
export const LEAVING = Symbol("leaving");

/**
 * Run `handler` with `button` disabled and `error` cleared. The handler sends the
 * request and returns an error message to show, LEAVING, or nothing once done.
 * Only a request that never reached the server (a NetworkError) is reported as
 * NETWORK_ERROR. Any other exception is a bug: the form says GENERIC_ERROR, comes back
 * to life, and the exception is thrown again, so that it shows in the console.
 */
async function run(error, button, handler) {
  showError(error, "");
  const label = button.textContent;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  // "Logging in…" rather than a faded button: `data-busy-label` on the button.
  if (button.dataset.busyLabel) button.textContent = button.dataset.busyLabel;
  const busyText = button.textContent;
  let result;
  let unexpected = null;
  try {
    result = await handler();
  } catch (failure) {
    if (!(failure instanceof NetworkError)) unexpected = failure;
    result = unexpected ? GENERIC_ERROR : NETWORK_ERROR;
  }
  if (typeof result === "string") showError(error, result);
  if (result === LEAVING) return;
  // Unless the handler gave the button a new name (Schedule becomes Reschedule).
  if (button.textContent === busyText) button.textContent = label;
  button.disabled = false;
  button.removeAttribute("aria-busy");
  if (unexpected) throw unexpected;
}

// --- Errors at their field ------------------------------------------------------

function fieldErrorElement(input) {
  const id = `${input.id}-error`;
  let element = document.getElementById(id);
  if (!element) {
    element = document.createElement("p");
    element.id = id;
    element.className = "field-error";
    input.insertAdjacentElement("afterend", element);
  }
  return element;
}

function describedBy(input) {
  return (input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
}

/** Show `message` at `input`: aria-invalid, and the message in its description. */
export function markField(input, message) {
  const element = fieldErrorElement(input);
  element.textContent = message;
  element.hidden = false;
  input.setAttribute("aria-invalid", "true");
  const ids = describedBy(input);
  if (!ids.includes(element.id)) input.setAttribute("aria-describedby", [element.id, ...ids].join(" "));
}

function clearField(input) {
  const element = document.getElementById(`${input.id}-error`);
  if (!element) return;
  element.hidden = true;
  element.textContent = "";
  input.removeAttribute("aria-invalid");
  const ids = describedBy(input).filter((id) => id !== element.id);
  if (ids.length) input.setAttribute("aria-describedby", ids.join(" "));
  else input.removeAttribute("aria-describedby");
}

/** Take every field error of `form` away (before it is sent again). */
export function clearFields(form) {
  for (const input of form.elements) if (input.id) clearField(input);
}

/** A field's error goes as soon as the person edits that field. */
export function clearErrorsOnInput(form) {
  form.addEventListener("input", (event) => {
    if (event.target.id) clearField(event.target);
  });
}

/**
 * The field an error answer is about, by its `code` (errors/domain.py's codes; the
 * API's contract, unlike its English `detail`): the one table of them. Answers with
 * other codes are shown above the form.
 */
const FIELD_BY_CODE = {
  username_taken: "username",
  email_taken: "email",
  current_password_incorrect: "current_password",
  // Two sign-ups racing for one name: the answer names both fields, and was always
  // shown at the username (it starts with "Username", which the field was once
  // matched by).
  username_or_email_taken: "username",
  // The editor's.
  schedule_conflict: "publish_at",
  invalid_slug: "slug",
};

/** The form's fields an error answer names: [{input, message}]. A 422 names them in
 * `detail[].loc` (its last name is the field: `["body", "tags", 2]` is the tags
 * field); other answers by their `code`. */
async function erroneousFields(form, response) {
  const body = await errorBody(response);
  if (!body) return [];
  const { detail, code } = body;
  const field = (name) => {
    const input = typeof name === "string" ? form.elements.namedItem(name) : null;
    return input instanceof HTMLElement && input.id && !input.hidden ? input : null;
  };
  if (response.status === 422 && Array.isArray(detail)) {
    return detail
      .map((item) => ({
        input: field((item.loc || []).findLast((part) => typeof part === "string")),
        message: fieldMessage(item),
      }))
      .filter(({ input, message }) => input && message);
  }
  const input = Object.hasOwn(FIELD_BY_CODE, code) ? field(FIELD_BY_CODE[code]) : null;
  if (input && typeof detail === "string" && detail) return [{ input, message: detail }];
  return [];
}

/**
 * The errors of a failed `response` to `form`: those that concern a field are shown
 * at it (and focus moves to the first); the message for above the form, if any, is
 * returned (a handler returns it to `onSubmit`).
 */
export async function formErrors(form, response, fallback) {
  const fields = await erroneousFields(form, response);
  if (!fields.length) return errorMessage(response, fallback);
  for (const { input, message } of fields) markField(input, message);
  fields[0].input.focus();
  return "";
}

/**
 * Send `form` through `handler` (see `run`) when it is submitted and valid.
 *   error:  the form's error element;  submit: its submit button;
 *   check:  optional, run before the browser checks the form (custom validity);
 *   ready:  optional, run once the form is valid; return false to send nothing.
 */
export function onSubmit(form, { error, submit, check, ready }, handler) {
  // Forms that cannot work without a script come disabled; this one now can.
  for (const fieldset of form.querySelectorAll("fieldset[data-needs-script]")) {
    fieldset.disabled = false;
  }
  clearErrorsOnInput(form);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearFields(form);
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
 * make them): `<prefix>-button`, if there is one, opens it with `<prefix>-error` cleared and
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
  part("button")?.addEventListener("click", open);
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
