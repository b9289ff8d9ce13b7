// The account page's personal access tokens: list them, create one (its secret shown
// once, with a Copy button), revoke one.
import { apiFetch } from "./api.js";
import { readableDate } from "./dates.js";
import { byId } from "./dom.js";
import { errorMessage } from "./errors.js";
import { onClick, onSubmit, setUpDialog } from "./forms.js";
import { loadList } from "./lists.js";

const TOKENS = "/api/users/me/tokens";

/** One token as a list item, with its Revoke button. */
function tokenItem(token, revoke) {
  const item = document.createElement("li");
  item.className = "session";
  item.dataset.tokenId = String(token.id);

  const text = document.createElement("div");
  const name = document.createElement("p");
  name.className = "session-device";
  name.id = `token-${token.id}-name`;
  name.textContent = token.name;
  const scopes = document.createElement("p");
  scopes.className = "session-detail";
  scopes.textContent = token.scopes.join(", ");
  const detail = document.createElement("p");
  detail.className = "session-detail";
  const used = readableDate(token.last_used_at);
  const expires = readableDate(token.expires_at);
  detail.textContent = [
    `Created ${readableDate(token.created_at)}`,
    used ? `last used ${used}` : "never used yet",
    expires ? `expires ${expires}` : "never expires",
  ].join(" · ");
  text.append(name, scopes, detail);

  const button = document.createElement("button");
  button.type = "button";
  button.className = "btn btn-ghost";
  button.textContent = "Revoke";
  button.setAttribute("aria-describedby", name.id);
  button.addEventListener("click", () => revoke(token));
  item.append(text, button);
  return item;
}

export function setUpAccessTokens() {
  const list = byId("tokens-list");
  const error = byId("tokens-error");
  const success = byId("tokens-success");
  const say = (message) => {
    success.textContent = message;
    success.hidden = !message;
  };
  let target = null; // the token being revoked

  const revoking = setUpDialog("revoke-token", {
    before: () => {
      byId("revoke-token-heading").textContent = `Revoke “${target.name}”?`;
    },
  });

  async function load() {
    const tokens = await loadList(TOKENS, {
      list,
      loading: byId("tokens-loading"),
      error,
      item: (token) =>
        tokenItem(token, (chosen) => {
          target = chosen;
          say("");
          revoking.open();
        }),
      failed: "Could not load your tokens.",
    });
    if (tokens) byId("tokens-empty").hidden = tokens.length > 0;
  }

  onClick(revoking.confirm, revoking, async () => {
    const response = await apiFetch(`${TOKENS}/${encodeURIComponent(target.id)}`, {
      method: "DELETE",
    });
    // 404: already revoked (another tab); either way the list is now out of date.
    if (!response.ok && response.status !== 404) return errorMessage(response);
    revoking.dialog.close();
    say(`Token “${target.name}” revoked. Scripts that use it no longer work.`);
    await load();
    return undefined;
  });

  const form = byId("token-form");
  const secretBox = byId("token-secret-box");
  const secret = byId("token-secret");
  const scopeBoxes = () => [...form.querySelectorAll('input[name="scopes"]')];
  onSubmit(
    form,
    {
      error: byId("token-form-error"),
      submit: byId("token-submit"),
      check: () => {
        const none = !scopeBoxes().some((box) => box.checked);
        scopeBoxes()[0].setCustomValidity(none ? "Choose at least one scope." : "");
      },
    },
    async () => {
      const days = form.elements.expires_in_days.value;
      const response = await apiFetch(TOKENS, {
        method: "POST",
        json: {
          name: form.elements.name.value,
          scopes: scopeBoxes()
            .filter((box) => box.checked)
            .map((box) => box.value),
          expires_in_days: days ? Number(days) : null,
        },
      });
      if (!response.ok) return errorMessage(response);
      const made = await response.json();
      secret.value = made.token;
      secretBox.hidden = false;
      say(`Token “${made.name}” created.`);
      form.reset();
      secret.focus();
      secret.select();
      await load();
      return undefined;
    },
  );
  for (const box of scopeBoxes()) {
    box.addEventListener("change", () => scopeBoxes()[0].setCustomValidity(""));
  }

  byId("token-copy").addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(secret.value);
      say("Token copied.");
    } catch {
      secret.select();
      say("Could not copy: select the token and copy it yourself.");
    }
  });

  load();
}
