// A page of this site, fetched and parsed, for scripts that move server-rendered
// parts of it into the current page (Load more): markup is rendered in
// one place only, the server's templates. Pages are public: no token is sent.
import { apiFetch } from "./api.js";

export async function fetchPage(path) {
  const response = await apiFetch(path, { auth: false, headers: { Accept: "text/html" } });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return new DOMParser().parseFromString(await response.text(), "text/html");
}
