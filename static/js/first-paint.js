// Classic script in <head>: what must be settled before the first paint.
// - The theme: remembered, or the system's preference.
// - Whether the navbar starts signed in: auth.js keeps the last known user (display
//   data only, never a token) under "last_user"; with none, or without JavaScript,
//   the page shows "Log in" and "Register", as the server rendered it.
(function () {
  var root = document.documentElement;
  var theme;
  var lastUser = null;
  try {
    theme = localStorage.getItem("theme");
    lastUser = localStorage.getItem("last_user");
  } catch {
    theme = null;
  }
  if (theme !== "light" && theme !== "dark") {
    var dark = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
    theme = dark ? "dark" : "light";
  }
  root.setAttribute("data-theme", theme);
  if (lastUser) root.setAttribute("data-auth", "user");
})();
