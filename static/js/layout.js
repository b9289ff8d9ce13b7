// Navbar (who is signed in), theme toggle and the New Post dialog: on every page.
import { apiFetch, errorMessage, getCurrentUser, logout } from "./auth.js";
import { localizeDates } from "./dates.js";
import { setUpDraftDialog } from "./drafts.js";
import { LEAVING, onSubmit } from "./forms.js";

const root = document.documentElement;

// --- Theme toggle -------------------------------------------------------------
const themeButton = document.getElementById("theme-toggle");

function currentTheme() {
  return root.getAttribute("data-theme") === "dark" ? "dark" : "light";
}

function labelThemeButton() {
  const dark = currentTheme() === "dark";
  const label = dark ? "Switch to light theme" : "Switch to dark theme";
  themeButton.setAttribute("aria-pressed", String(dark));
  themeButton.setAttribute("aria-label", label);
  themeButton.title = label;
}

themeButton.addEventListener("click", () => {
  const next = currentTheme() === "dark" ? "light" : "dark";
  root.setAttribute("data-theme", next);
  try {
    localStorage.setItem("theme", next);
  } catch {
    // not remembered, but still switched
  }
  labelThemeButton();
});

// Follow the system while the person has not chosen.
const media = window.matchMedia("(prefers-color-scheme: dark)");
media.addEventListener("change", (event) => {
  let chosen = null;
  try {
    chosen = localStorage.getItem("theme");
  } catch {
    chosen = null;
  }
  if (!chosen) {
    root.setAttribute("data-theme", event.matches ? "dark" : "light");
    labelThemeButton();
  }
});
labelThemeButton();

// --- Navbar -------------------------------------------------------------------
const userBlock = document.getElementById("nav-user");
const guestBlock = document.getElementById("nav-guest");
const emailLink = document.getElementById("nav-email");

function showUser(user) {
  if (user) {
    emailLink.textContent = user.email;
    userBlock.hidden = false;
    guestBlock.hidden = true;
  } else {
    emailLink.textContent = "";
    userBlock.hidden = true;
    guestBlock.hidden = false;
  }
}

let currentUser = null;
window.addEventListener("inkwell:user", (event) => {
  currentUser = event.detail;
  showUser(event.detail);
});
const logoutButton = document.getElementById("logout-button");
logoutButton.addEventListener("click", () => {
  logoutButton.disabled = true;
  logout();
});

// --- New Post dialog ----------------------------------------------------------
// Its text is kept as a draft while the person types (see drafts.js).
const newPost = setUpDraftDialog("new-post", "draft:new", {
  original: () => ({ title: "", content: "" }),
  userId: () => (currentUser ? currentUser.id : null),
  after: () => newPost.form.elements.title.focus(),
});
const { form, error, submit, draft } = newPost;

onSubmit(form, { error, submit }, async () => {
  const response = await apiFetch("/api/posts", {
    method: "POST",
    json: { title: form.elements.title.value, content: form.elements.content.value },
  });
  if (!response.ok) return errorMessage(response);
  const post = await response.json();
  draft.clear();
  form.reset();
  location.assign(`/posts/${encodeURIComponent(post.id)}`);
  return LEAVING;
});

getCurrentUser().then((user) => {
  currentUser = user;
  showUser(user);
  // Back from a forced login with a draft in the dialog: carry on where it stopped.
  if (user && draft.reopenRequested()) newPost.open();
});

// --- Dates in the reader's own time zone and language ---------------------------
localizeDates();
