// What a person reads when something fails: the one place that turns an API error
// answer ({"detail", "code"}), or a request that never reached the server, into text.

export const GENERIC_ERROR = "Something went wrong. Please try again.";
export const NETWORK_ERROR = "Could not reach the server. Check your connection and try again.";

/**
 * The server could not be reached: fetch failed before any answer came (apiFetch turns
 * its TypeError into this), or a token refresh found the server down. The one failure
 * reported as NETWORK_ERROR: any other exception is a bug, and is not disguised as one.
 */
export class NetworkError extends Error {
  constructor(cause) {
    super(NETWORK_ERROR, { cause });
    this.name = "NetworkError";
  }
}

/** The JSON body of an error answer ({detail, code}), or null when it has none. */
export async function errorBody(response) {
  try {
    const data = await response.clone().json();
    return data && typeof data === "object" ? data : null;
  } catch {
    return null;
  }
}

function capitalise(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function humanField(name) {
  return capitalise(String(name).replace(/_/g, " "));
}

/** A 422 item's `msg` as a sentence for a person: Pydantic's "Value error, " goes. */
export function validationMessage(item) {
  return String((item && item.msg) || "").replace(/^Value error, /, "").trim();
}

/** The same, to show at the field it concerns (which names the field already). */
export function fieldMessage(item) {
  return capitalise(validationMessage(item));
}

/** The human message of a failed response: its `detail`, or a generic fallback. */
export async function errorMessage(response, fallback = GENERIC_ERROR) {
  const data = await errorBody(response);
  const detail = data && data.detail;
  if (typeof detail === "string" && detail.trim()) return detail;
  if (Array.isArray(detail) && detail.length) {
    const first = detail[0] || {};
    const message = validationMessage(first);
    if (message) {
      const loc = Array.isArray(first.loc) ? first.loc : [];
      const field = loc.length > 1 ? loc[loc.length - 1] : null;
      return typeof field === "string" ? `${humanField(field)}: ${message}` : capitalise(message);
    }
  }
  if (response.status === 429) return "Too many attempts. Please wait a moment and try again.";
  if (response.status === 413) return "That is too long to send.";
  return fallback;
}
