// The account page's "Sign in with another account": the OpenID Connect providers
// linked to this account (GET /api/users/me/identities), each with "Unlink"; a "Link"
// button for each configured provider not linked yet (to the provider and back, by
// routers/oidc.py's callback, to /account#sign-in-methods). Both are sensitive
// actions: on a session that signed in a while ago apiFetch asks to confirm it is you.
// An account with no password is told how to set one.
import { apiFetch } from "./api.js";
import { readableDate } from "./dates.js";
import { byId, showError } from "./dom.js";
import { errorMessage, GENERIC_ERROR, NetworkError, NETWORK_ERROR } from "./errors.js";
import { LEAVING, onClick } from "./forms.js";
import { configuredProviders, providerLabel } from "./oidc-providers.js";

const PATH = "/api/users/me/identities";
const FAILED = "Could not load the accounts that sign in to yours.";

/** One linked provider as a list item, with its Unlink button. */
function identityItem(identity, unlink) {
  const item = document.createElement("li");
  item.className = "session identity";
  item.dataset.identityId = String(identity.id);
  item.dataset.provider = String(identity.provider);

  const text = document.createElement("div");
  const name = document.createElement("p");
  name.className = "session-device";
  name.id = `identity-${identity.id}-name`;
  name.textContent = providerLabel(identity.provider);
  const detail = document.createElement("p");
  detail.className = "session-detail";
  const used = readableDate(identity.last_used_at);
  detail.textContent = [
    identity.email ? String(identity.email) : "",
    `Linked ${readableDate(identity.created_at)}`,
    used ? `last used ${used}` : "not used to sign in yet",
  ]
    .filter(Boolean)
    .join(" · ");
  text.append(name, detail);

  const button = document.createElement("button");
  button.type = "button";
  button.className = "btn btn-ghost";
  button.textContent = "Unlink";
  button.dataset.busyLabel = "Unlinking…";
  button.setAttribute("aria-describedby", name.id);
  unlink(identity, button);
  item.append(text, button);
  return item;
}

export function setUpIdentities(user) {
  const section = byId("sign-in-methods");
  const list = byId("sign-in-methods-list");
  const loading = byId("sign-in-methods-loading");
  const empty = byId("sign-in-methods-empty");
  const error = byId("sign-in-methods-error");
  const success = byId("sign-in-methods-success");
  const noPassword = byId("sign-in-methods-no-password");
  const linkButtons = Array.from(byId("sign-in-methods-link").querySelectorAll("button"));
  const configured = configuredProviders();

  const say = (message) => {
    success.textContent = message;
    success.hidden = !message;
  };
  noPassword.hidden = user.has_password !== false;
  // Shown at once when there is something to offer; else once a linked one is found.
  section.hidden = configured.size === 0 && noPassword.hidden;

  function unlink(identity, button) {
    onClick(button, { error }, async () => {
      say("");
      const response = await apiFetch(`${PATH}/${encodeURIComponent(identity.id)}`, {
        method: "DELETE",
      });
      // 404: already unlinked (another tab); either way the list is now out of date.
      if (!response.ok && response.status !== 404) return errorMessage(response);
      say(`${providerLabel(identity.provider)} no longer signs in to your account.`);
      await load();
      // The button is gone with its item: keyboard users carry on from its Link button.
      const relink = linkButtons.find((link) => link.dataset.oidcProvider === identity.provider);
      if (!button.isConnected && relink && !relink.hidden) relink.focus();
      return undefined;
    });
  }

  async function load() {
    let response;
    try {
      response = await apiFetch(PATH);
    } catch (failure) {
      if (!(failure instanceof NetworkError)) throw failure;
      loading.hidden = true;
      showError(error, NETWORK_ERROR);
      return;
    }
    loading.hidden = true;
    if (!response.ok) {
      showError(error, await errorMessage(response, FAILED));
      return;
    }
    const identities = await response.json();
    list.replaceChildren(...identities.map((identity) => identityItem(identity, unlink)));
    list.hidden = identities.length === 0;
    empty.hidden = identities.length > 0;
    const linked = new Set(identities.map((identity) => identity.provider));
    for (const button of linkButtons) button.hidden = linked.has(button.dataset.oidcProvider);
    if (identities.length > 0) section.hidden = false;
  }

  for (const button of linkButtons) {
    onClick(button, { error }, async () => {
      say("");
      const response = await apiFetch(PATH, {
        method: "POST",
        json: { provider: button.dataset.oidcProvider },
      });
      if (!response.ok) return errorMessage(response);
      const { authorization_url: url } = await response.json();
      if (typeof url !== "string") return GENERIC_ERROR;
      location.assign(url);
      return LEAVING;
    });
  }

  load().catch((failure) => {
    showError(error, GENERIC_ERROR);
    throw failure;
  });
}
