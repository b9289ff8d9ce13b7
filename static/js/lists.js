// The account page's lists (sessions, passkeys): fetched from the API and drawn in one
// way, with the loading note, the empty list and a failure handled alike.
import { apiFetch } from "./api.js";
import { showError } from "./dom.js";
import { errorMessage, NetworkError, NETWORK_ERROR } from "./errors.js";

/**
 * Fetch the list at `path` and show it in `list`, one `item(entry)` each (hidden when
 * empty). `loading` hides once the API answers; a failure is said in `error` (`failed`
 * when the answer has no message of its own). Resolves with the entries, or null.
 */
export async function loadList(path, { list, loading, error, item, failed }) {
  showError(error, "");
  let response;
  try {
    response = await apiFetch(path);
  } catch (failure) {
    if (!(failure instanceof NetworkError)) throw failure;
    showError(error, NETWORK_ERROR);
    return null;
  }
  loading.hidden = true;
  if (!response.ok) {
    showError(error, await errorMessage(response, failed));
    return null;
  }
  const entries = await response.json();
  list.replaceChildren(...entries.map(item));
  list.hidden = entries.length === 0;
  return entries;
}
