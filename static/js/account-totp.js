// The account page's two-factor authentication: turn it on (a QR code and the key as
// text, then a code from the app), show the recovery codes once, replace them, turn
// it off. Each of these routes needs a recent sign-in; apiFetch asks for it when the
// server says so.
import { apiFetch } from "./api.js";
import { byId, showError } from "./dom.js";
import { errorMessage } from "./errors.js";
import { onClick, onSubmit, setUpDialog } from "./forms.js";
import { updateCurrentUser } from "./user.js";

const SVG_NS = "http://www.w3.org/2000/svg";

/** The server's QR code (an SVG string) as a node of this page. Parsed as SVG, never
 * as HTML, and only drawing elements are kept: the CSP would stop a script anyway. */
function qrNode(svgText) {
  const parsed = new DOMParser().parseFromString(svgText, "image/svg+xml");
  const root = parsed.documentElement;
  if (root.namespaceURI !== SVG_NS || root.localName !== "svg") return null;
  for (const unwanted of root.querySelectorAll("script, foreignObject, style")) unwanted.remove();
  const node = document.importNode(root, true);
  node.setAttribute("role", "img");
  node.setAttribute("aria-label", "QR code for your authenticator app");
  return node;
}

function codesText(codes) {
  return `Inkwell recovery codes (each works once):\n\n${codes.join("\n")}\n`;
}

export function setUpTotp(user) {
  const status = byId("totp-status");
  const error = byId("totp-error");
  const success = byId("totp-success");
  const offActions = byId("totp-off-actions");
  const onActions = byId("totp-on-actions");
  const enrolForm = byId("totp-enrol-form");
  const codesBlock = byId("totp-codes");
  const say = (message) => {
    success.textContent = message;
    success.hidden = !message;
  };
  let downloadUrl = null;

  /** Show the part for `current` (the /api/users/me answer): on, or off. */
  function show(current) {
    user = current;
    enrolForm.hidden = true;
    codesBlock.hidden = true;
    offActions.hidden = current.totp_enabled;
    onActions.hidden = !current.totp_enabled;
    if (current.totp_enabled) {
      const left = current.recovery_codes_left;
      status.textContent = `Two-factor authentication is on. ${left} unused recovery ${
        left === 1 ? "code is" : "codes are"
      } left.`;
    } else {
      status.textContent = "Two-factor authentication is off.";
    }
  }

  async function reload() {
    const response = await apiFetch("/api/users/me");
    if (!response.ok) return errorMessage(response);
    const current = await response.json();
    updateCurrentUser(current);
    show(current);
    return undefined;
  }

  /** The recovery codes, shown once, with a way to copy and download them. */
  function showCodes(codes) {
    enrolForm.hidden = true;
    offActions.hidden = true;
    onActions.hidden = true;
    const list = byId("totp-codes-list");
    list.replaceChildren(
      ...codes.map((code) => {
        const item = document.createElement("li");
        item.textContent = code;
        return item;
      }),
    );
    if (downloadUrl) URL.revokeObjectURL(downloadUrl);
    downloadUrl = URL.createObjectURL(new Blob([codesText(codes)], { type: "text/plain" }));
    byId("totp-codes-download").setAttribute("href", downloadUrl);
    byId("totp-codes-copy").onclick = async () => {
      try {
        await navigator.clipboard.writeText(codesText(codes));
        say("Recovery codes copied.");
      } catch {
        say("Copying is not allowed here: select the codes, or download them.");
      }
    };
    codesBlock.hidden = false;
    byId("totp-codes-done").focus();
  }

  byId("totp-codes-done").addEventListener("click", async () => {
    byId("totp-codes-list").replaceChildren();
    if (downloadUrl) URL.revokeObjectURL(downloadUrl);
    downloadUrl = null;
    say("");
    showError(error, await reload());
  });

  // Turning on: a new secret, then its first code.
  onClick(byId("totp-start"), { error }, async () => {
    say("");
    const response = await apiFetch("/api/users/me/totp", { method: "POST" });
    if (!response.ok) return errorMessage(response);
    const { secret, qr_svg: svg } = await response.json();
    const qr = qrNode(svg);
    byId("totp-qr").replaceChildren(...(qr ? [qr] : []));
    byId("totp-secret").textContent = secret.replace(/(.{4})(?=.)/g, "$1 ");
    enrolForm.reset();
    offActions.hidden = true;
    enrolForm.hidden = false;
    status.textContent = "Two-factor authentication is being set up.";
    enrolForm.elements.code.focus();
    return undefined;
  });

  onSubmit(enrolForm, { error: byId("totp-enrol-error"), submit: byId("totp-enrol-submit") }, async () => {
    const response = await apiFetch("/api/users/me/totp/confirmation", {
      method: "POST",
      json: { code: enrolForm.elements.code.value.replace(/\s/g, "") },
    });
    if (!response.ok) {
      enrolForm.elements.code.select();
      return errorMessage(response);
    }
    const { recovery_codes: codes } = await response.json();
    status.textContent = "Two-factor authentication is on.";
    showCodes(codes);
    return undefined;
  });

  byId("totp-enrol-cancel").addEventListener("click", () => {
    byId("totp-qr").replaceChildren();
    byId("totp-secret").textContent = "";
    show(user);
    byId("totp-start").focus();
  });

  onClick(byId("totp-replace"), { error }, async () => {
    say("");
    const response = await apiFetch("/api/users/me/recovery-codes", { method: "POST" });
    if (!response.ok) return errorMessage(response);
    const { recovery_codes: codes } = await response.json();
    say("New recovery codes made: the old ones no longer work.");
    showCodes(codes);
    return undefined;
  });

  const turningOff = setUpDialog("totp-off", { before: () => say("") });
  onClick(turningOff.confirm, turningOff, async () => {
    const response = await apiFetch("/api/users/me/totp", { method: "DELETE" });
    if (!response.ok) return errorMessage(response);
    turningOff.dialog.close();
    say("Two-factor authentication is off.");
    const failed = await reload();
    byId("totp-start").focus();
    return failed;
  });

  show(user);
}
