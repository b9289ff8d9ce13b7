// The account page's "Import posts" section: sends the chosen zip or .md file to
// /api/users/me/import and shows how many posts came in and what was skipped, and why.
import { apiFetch } from "./api.js";
import { byId } from "./dom.js";
import { errorMessage } from "./errors.js";
import { onSubmit } from "./forms.js";

function plural(count, one, many) {
  return `${count} ${count === 1 ? one : many}`;
}

/** Show the answer `{imported, skipped: [{file, reason}]}` (text only, never HTML). */
function showResult(answer) {
  const list = byId("import-skipped");
  list.replaceChildren(
    ...answer.skipped.map(({ file, reason }) => {
      const item = document.createElement("li");
      const name = document.createElement("strong");
      name.textContent = file;
      item.append(name, document.createTextNode(`: ${reason}`));
      return item;
    }),
  );
  list.hidden = answer.skipped.length === 0;
  const skipped = answer.skipped.length
    ? ` Not imported or changed: ${plural(answer.skipped.length, "item", "items")}, listed below.`
    : "";
  byId("import-summary").textContent =
    `Imported ${plural(answer.imported, "post", "posts")}.${skipped}`;
  byId("import-result").hidden = false;
}

export function setUpImport() {
  const form = byId("import-form");
  const input = form.elements.file;
  input.addEventListener("change", () => {
    byId("import-result").hidden = true;
  });
  onSubmit(form, { error: byId("import-error"), submit: byId("import-submit") }, async () => {
    byId("import-result").hidden = true;
    const body = new FormData();
    body.append("file", input.files[0]);
    const publish = form.elements.publish.checked ? "true" : "false";
    const response = await apiFetch(`/api/users/me/import?publish=${publish}`, {
      method: "POST",
      body,
    });
    if (!response.ok) return errorMessage(response);
    showResult(await response.json());
    form.reset();
    return undefined;
  });
}
