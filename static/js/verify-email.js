// /verify-email?token=...: the link from a sign-up or new-address mail. The page, not
// the GET, verifies: mail scanners open links, and must not change anything by it.
import { apiFetch } from "./api.js";
import { getToken } from "./auth.js";
import { showError } from "./dom.js";
import { errorMessage, NetworkError, NETWORK_ERROR } from "./errors.js";
import { takeLinkToken } from "./link-token.js";
import { reloadCurrentUser } from "./user.js";

const status = document.getElementById("verify-status");
const error = document.getElementById("verify-error");
const next = document.getElementById("verify-next");

async function verify(token) {
  if (!token) return "This page needs the link from your mail. Open it again from there.";
  let response;
  try {
    response = await apiFetch("/api/users/verify-email", {
      method: "POST",
      auth: false,
      json: { token },
    });
  } catch (failure) {
    if (failure instanceof NetworkError) return NETWORK_ERROR;
    throw failure;
  }
  if (!response.ok) return errorMessage(response);
  return "";
}

const problem = await verify(takeLinkToken());
status.textContent = problem
  ? "Your address could not be verified."
  : "Your email address is verified. Thank you!";
showError(error, problem);
next.hidden = false;
// Signed in here: the navbar's notice goes, and the account page will say so.
if (!problem && getToken()) reloadCurrentUser();
