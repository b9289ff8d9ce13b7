// The account page's "Download your data" (and the delete dialog's "Download your data
// first"): GET /api/users/me/export through apiFetch (the token, and the step-up dialog
// on a 401 reauthentication_required), the zip saved as a blob through a temporary
// <a download> on an object URL.
import { apiFetch } from "./api.js";
import { byId } from "./dom.js";
import { errorMessage } from "./errors.js";
import { onClick } from "./forms.js";

const EXPORT_PATH = "/api/users/me/export";
const FALLBACK_NAME = "inkwell-export.zip";

/** The file name the server gave (Content-Disposition), or a plain one. */
function fileName(response) {
  const header = response.headers.get("Content-Disposition") || "";
  const match = /filename="([^"]+)"/.exec(header);
  return match ? match[1] : FALLBACK_NAME;
}

/** Save `blob` as `name`: the browser's download, as if a link had been followed. */
function save(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  // The download has started from the URL; it may go once this task is over.
  setTimeout(() => URL.revokeObjectURL(url), 0);
}

/** Fetch the archive and save it: an error message for the button's error line, or
 * nothing once the download has started. */
async function download(status) {
  status.textContent = "";
  status.hidden = true;
  const response = await apiFetch(EXPORT_PATH, { headers: { Accept: "application/zip" } });
  if (!response.ok) return errorMessage(response, "Could not prepare your data.");
  save(await response.blob(), fileName(response));
  status.textContent = "Your data is downloading.";
  status.hidden = false;
  return undefined;
}

export function setUpExport() {
  const status = byId("export-success");
  onClick(byId("export-button"), { error: byId("export-error") }, () => download(status));
  // The same from the delete-account dialog, whose own error line says what failed.
  const first = byId("delete-account-export");
  onClick(first, { error: byId("delete-account-error") }, () => download(status));
}
