// The single-use token of a mailed link (`?token=...`), read once and then removed
// from the address bar, so it stays out of the history, bookmarks and screenshots.
export function takeLinkToken() {
  const params = new URLSearchParams(location.search);
  const token = params.get("token");
  if (params.has("token")) {
    params.delete("token");
    const query = params.toString();
    const address = location.pathname + (query ? `?${query}` : "") + location.hash;
    history.replaceState(history.state, "", address);
  }
  return token || "";
}
