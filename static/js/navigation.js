// Where a page sends the person next: `?next=` addresses, honoured only when same-site.

/** Only same-site relative paths are honoured as `next`; anything else means "/". */
export function safeNext(value) {
  if (typeof value !== "string" || !value.startsWith("/")) return "/";
  if (value.startsWith("//") || value.startsWith("/\\")) return "/";
  // Browsers drop tabs and newlines inside URLs ("/\t/evil" becomes "//evil"), and
  // treat "\" like "/": refuse any control character or backslash outright.
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  if (/[\u0000-\u001f\u007f\\]/.test(value)) return "/";
  try {
    const url = new URL(value, location.origin);
    if (url.origin !== location.origin) return "/";
    return url.pathname + url.search + url.hash;
  } catch {
    return "/";
  }
}

/** The honoured `?next=` of the current address. */
export function nextFromQuery() {
  return safeNext(new URLSearchParams(location.search).get("next"));
}

/** `/login?next=<path>` for the given same-site path (the current one by default). */
export function loginUrl(path = location.pathname + location.search) {
  return "/login?next=" + encodeURIComponent(path).replace(/%2F/gi, "/");
}
