// Navbar (who is signed in), theme toggle and the New Post dialog: on every page.
import { apiFetch, errorMessage, getCurrentUser, logout } from "./auth.js";
import { LEAVING, onSubmit, setUpDialog } from "./forms.js";

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

getCurrentUser().then(showUser);
window.addEventListener("inkwell:user", (event) => showUser(event.detail));
document.getElementById("logout-button").addEventListener("click", logout);

// --- New Post dialog ----------------------------------------------------------
const { form, error, submit } = setUpDialog("new-post", {
  after: () => form.elements.title.focus(),
});

onSubmit(form, { error, submit }, async () => {
  const response = await apiFetch("/api/posts", {
    method: "POST",
    json: { title: form.elements.title.value, content: form.elements.content.value },
  });
  if (!response.ok) return errorMessage(response);
  const post = await response.json();
  form.reset();
  location.assign(`/posts/${encodeURIComponent(post.id)}`);
  return LEAVING;
});

// --- Dates in the reader's own time zone and language ---------------------------
const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "long" });
for (const time of document.querySelectorAll("time[datetime]")) {
  const date = new Date(time.dateTime);
  if (!Number.isNaN(date.getTime())) {
    time.textContent = dateFormat.format(date);
    time.title = date.toLocaleString();
  }
}
