// Navbar (who is signed in) and theme toggle: on every page.
import { apiFetch } from "./api.js";
import { localizeDates } from "./dates.js";
import { errorMessage } from "./errors.js";
import { onClick } from "./forms.js";
import { getCurrentUser, lastKnownUser, logout } from "./user.js";

const root = document.documentElement;

// --- Theme toggle -------------------------------------------------------------
const themeButton = document.getElementById("theme-toggle");

function currentTheme() {
  return root.getAttribute("data-theme") === "dark" ? "dark" : "light";
}

// A toggle keeps one name ("Dark theme") and says its state with aria-pressed.
function labelThemeButton() {
  themeButton.setAttribute("aria-pressed", String(currentTheme() === "dark"));
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
  let chosen;
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
// Which block shows is the stylesheet's business, from `data-auth` on <html>.
const usernameText = document.getElementById("nav-username-text");
const navAvatar = document.getElementById("nav-avatar");
const navAdmin = document.getElementById("nav-admin");

function showUser(user) {
  usernameText.textContent = user ? user.username : "";
  // An uploaded picture, once /api/users/me has answered (the last known user keeps
  // no more than a name).
  const picture = user && user.image_file && user.image_path;
  if (picture) navAvatar.setAttribute("src", picture);
  navAvatar.hidden = !picture;
  // Only /api/users/me knows the role (the last known user keeps a name alone).
  navAdmin.hidden = !(user && user.role === "admin");
  root.setAttribute("data-auth", user ? "user" : "guest");
}

// Until /api/users/me answers, the last known user (no empty or guest navbar flash).
showUser(lastKnownUser());

// --- The menu on small screens ------------------------------------------------
const menuButton = document.getElementById("nav-menu-button");
const menu = document.getElementById("nav-user");

function setMenuOpen(open) {
  menuButton.setAttribute("aria-expanded", String(open));
  menu.classList.toggle("is-open", open);
}

menuButton.addEventListener("click", () => {
  const open = menuButton.getAttribute("aria-expanded") !== "true";
  setMenuOpen(open);
  if (open) menu.querySelector("button, a").focus();
});
menu.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && menuButton.getAttribute("aria-expanded") === "true") {
    setMenuOpen(false);
    menuButton.focus();
  }
});
document.addEventListener("click", (event) => {
  if (!menu.contains(event.target) && !menuButton.contains(event.target)) setMenuOpen(false);
});

// --- Unverified address: a notice under the header, with a button to resend ------
const notice = document.getElementById("verify-notice");
const noticeSent = document.getElementById("verify-notice-sent");
const resendButton = document.getElementById("verify-notice-resend");

function showVerifyNotice(user) {
  notice.hidden = !user || user.email_verified !== false;
  if (user) document.getElementById("verify-notice-email").textContent = user.email;
}

onClick(resendButton, { error: document.getElementById("verify-notice-error") }, async () => {
  noticeSent.hidden = true;
  const response = await apiFetch("/api/users/me/verify-email/resend", { method: "POST" });
  if (!response.ok) return errorMessage(response);
  noticeSent.textContent = "Sent. Check your inbox, and the spam folder too.";
  noticeSent.hidden = false;
});

window.addEventListener("inkwell:user", (event) => {
  showUser(event.detail);
  showVerifyNotice(event.detail);
});
const logoutButton = document.getElementById("logout-button");
logoutButton.addEventListener("click", () => {
  logoutButton.disabled = true;
  logout();
});

getCurrentUser().then((user) => {
  showUser(user);
  showVerifyNotice(user);
});

// --- Dates in the reader's own time zone and language ---------------------------
localizeDates();
