// The account page's passkeys: list them, add one, rename or remove one.
import { apiFetch } from "./api.js";
import { readableDate } from "./dates.js";
import { deviceLabel } from "./devices.js";
import { byId } from "./dom.js";
import { errorMessage } from "./errors.js";
import { onClick, onSubmit, setUpDialog } from "./forms.js";
import { loadList } from "./lists.js";
import { addPasskey, PasskeyError, passkeysSupported } from "./passkeys.js";

/** One passkey as a list item, with its Rename and Remove buttons. */
function passkeyItem(passkey, { rename, remove }) {
  const item = document.createElement("li");
  item.className = "session";
  item.dataset.passkeyId = String(passkey.id);

  const text = document.createElement("div");
  const name = document.createElement("p");
  name.className = "session-device";
  name.id = `passkey-${passkey.id}-name`;
  name.textContent = passkey.name;
  const detail = document.createElement("p");
  detail.className = "session-detail";
  const used = readableDate(passkey.last_used_at);
  detail.textContent = [
    `Added ${readableDate(passkey.created_at)}`,
    used ? `last used ${used}` : "never used yet",
  ].join(" · ");
  text.append(name, detail);

  const actions = document.createElement("div");
  actions.className = "passkey-actions";
  for (const [label, action] of [
    ["Rename", rename],
    ["Remove", remove],
  ]) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "btn btn-ghost";
    button.textContent = label;
    button.setAttribute("aria-describedby", name.id);
    button.addEventListener("click", () => action(passkey));
    actions.append(button);
  }
  item.append(text, actions);
  return item;
}

export function setUpPasskeys() {
  const list = byId("passkeys-list");
  const error = byId("passkeys-error");
  const success = byId("passkeys-success");
  const say = (message) => {
    success.textContent = message;
    success.hidden = !message;
  };
  let target = null; // the passkey being renamed or removed

  async function load() {
    const passkeys = await loadList("/api/users/me/passkeys", {
      list,
      loading: byId("passkeys-loading"),
      error,
      item: (passkey) => passkeyItem(passkey, actions),
      failed: "Could not load your passkeys.",
    });
    if (passkeys) byId("passkeys-empty").hidden = passkeys.length > 0;
  }

  // Adding: the browser's own passkey dialog (after apiFetch's step-up dialog, on a
  // session that signed in a while ago).
  const adding = setUpDialog("add-passkey", {
    before: () => say(""),
    after: () => adding.submit.focus(),
  });
  onSubmit(adding.form, { error: adding.error, submit: adding.submit }, async () => {
    let passkey;
    try {
      passkey = await addPasskey(deviceLabel(navigator.userAgent));
    } catch (failure) {
      if (failure instanceof PasskeyError) return failure.message;
      throw failure;
    }
    adding.dialog.close();
    say(`Passkey added: “${passkey.name}”. You can now sign in with it.`);
    await load();
    return undefined;
  });

  const renaming = setUpDialog("rename-passkey", {
    before: () => {
      renaming.form.elements.name.value = target.name;
    },
    after: () => renaming.form.elements.name.select(),
  });
  onSubmit(renaming.form, { error: renaming.error, submit: renaming.submit }, async () => {
    const response = await apiFetch(`/api/users/me/passkeys/${encodeURIComponent(target.id)}`, {
      method: "PATCH",
      json: { name: renaming.form.elements.name.value },
    });
    if (!response.ok) return errorMessage(response);
    renaming.dialog.close();
    say(`Passkey renamed to “${(await response.json()).name}”.`);
    await load();
    return undefined;
  });

  const removing = setUpDialog("remove-passkey", {
    before: () => {
      byId("remove-passkey-heading").textContent = `Remove “${target.name}”?`;
    },
  });
  onClick(removing.confirm, removing, async () => {
    const response = await apiFetch(`/api/users/me/passkeys/${encodeURIComponent(target.id)}`, {
      method: "DELETE",
    });
    // 404: already removed (another tab); either way the list is now out of date.
    if (!response.ok && response.status !== 404) return errorMessage(response);
    removing.dialog.close();
    say(`Passkey “${target.name}” removed. It no longer signs you in.`);
    await load();
    return undefined;
  });

  const actions = {
    rename: (passkey) => {
      target = passkey;
      say("");
      renaming.open();
    },
    remove: (passkey) => {
      target = passkey;
      say("");
      removing.open();
    },
  };

  if (passkeysSupported()) byId("add-passkey-button").hidden = false;
  else byId("passkeys-unsupported").hidden = false;
  load();
}
