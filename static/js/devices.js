// A short, human name for a browser from its User-Agent: "Chrome on Linux",
// "Safari on iPhone", "Firefox on Windows". Good enough to tell one's own devices
// apart; it is a label, never a security decision.

const BROWSERS = [
  [/\bEdg(?:e|A|iOS)?\//, "Edge"],
  [/\b(?:OPR|Opera)\//, "Opera"],
  [/\bSamsungBrowser\//, "Samsung Internet"],
  [/\b(?:Firefox|FxiOS)\//, "Firefox"],
  [/\b(?:HeadlessChrome|Chrome|Chromium|CriOS)\//, "Chrome"],
  [/\bVersion\/[\d.]+.*\bSafari\//, "Safari"],
];

const SYSTEMS = [
  [/\biPhone\b/, "iPhone"],
  [/\biPad\b/, "iPad"],
  [/\bAndroid\b/, "Android"],
  [/\bCrOS\b/, "ChromeOS"],
  [/\bWindows\b/, "Windows"],
  [/\bMac OS X\b|\bMacintosh\b/, "macOS"],
  [/\bLinux\b/, "Linux"],
];

function first(table, text) {
  for (const [pattern, name] of table) if (pattern.test(text)) return name;
  return null;
}

export function deviceLabel(userAgent) {
  const text = typeof userAgent === "string" ? userAgent.trim() : "";
  if (!text) return "Unknown device";
  const browser = first(BROWSERS, text);
  const system = first(SYSTEMS, text);
  // Not a browser we know (a script, curl, an app): its first product name.
  const name = browser || text.split(/[/\s;]/)[0].slice(0, 40) || "Unknown browser";
  return system ? `${name} on ${system}` : name;
}
