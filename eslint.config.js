// The JavaScript linter, run by .ci/run (`npx eslint static/js`): ESLint's
// recommended rules, for browser code. Vendored third-party files are not ours to lint.
import js from "@eslint/js";
import globals from "globals";

export default [
  {
    ignores: ["node_modules/", "static/swagger/", "tests/browser/vendor/", ".venv/"],
  },
  js.configs.recommended,
  {
    files: ["static/js/**/*.js"],
    languageOptions: {
      ecmaVersion: "latest",
      sourceType: "module",
      globals: globals.browser,
    },
  },
  {
    // The one classic script: it runs in <head> before the first paint (layout.html).
    files: ["static/js/first-paint.js"],
    languageOptions: { sourceType: "script" },
  },
  {
    files: ["eslint.config.js"],
    languageOptions: { ecmaVersion: "latest", sourceType: "module" },
  },
];
