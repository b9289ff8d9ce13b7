// The account page's picture section: a preview of the crop before uploading, the
// upload (busy state, the API's error inline), and removal.
import { apiFetch } from "./api.js";
import { byId } from "./dom.js";
import { errorMessage } from "./errors.js";
import { onClick, onSubmit } from "./forms.js";
import { updateCurrentUser } from "./user.js";

/** Draw the centred square the server will keep, upright (EXIF orientation applied,
 * as the server applies it). Returns false when the browser cannot read the file:
 * the server will say why. */
async function preview(file, canvas) {
  try {
    const bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
    const side = Math.min(bitmap.width, bitmap.height);
    const context = canvas.getContext("2d");
    context.clearRect(0, 0, canvas.width, canvas.height);
    context.drawImage(
      bitmap,
      (bitmap.width - side) / 2,
      (bitmap.height - side) / 2,
      side,
      side,
      0,
      0,
      canvas.width,
      canvas.height,
    );
    bitmap.close();
    return true;
  } catch {
    return false;
  }
}

/** Wire the section for `user`; `changed(user)` is told of every new picture. */
export function setUpPicture(user, changed) {
  const form = byId("picture-form");
  const input = form.elements.file;
  const canvas = byId("picture-preview");
  const current = byId("picture-current");
  const error = byId("picture-error");
  const success = byId("picture-success");
  const remove = byId("picture-remove");

  const show = (who) => {
    current.setAttribute("src", who.image_path);
    remove.hidden = !who.image_file;
  };
  show(user);

  input.addEventListener("change", async () => {
    success.hidden = true;
    const file = input.files[0];
    canvas.hidden = !file || !(await preview(file, canvas));
  });

  const done = async (response, message) => {
    if (!response.ok) return errorMessage(response);
    const updated = await response.json();
    show(updated);
    updateCurrentUser(updated);
    changed(updated);
    form.reset();
    canvas.hidden = true;
    success.textContent = message;
    success.hidden = false;
    return undefined;
  };

  onSubmit(form, { error, submit: byId("picture-submit") }, async () => {
    const body = new FormData();
    body.append("file", input.files[0]);
    const response = await apiFetch("/api/users/me/picture", { method: "PUT", body });
    return done(response, "Picture saved.");
  });
  onClick(remove, { error }, async () => {
    const response = await apiFetch("/api/users/me/picture", { method: "DELETE" });
    return done(response, "Picture removed.");
  });
}
