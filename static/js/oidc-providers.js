// The OpenID Connect providers this site is configured with, as the server rendered
// them into the page (elements with `data-oidc-provider` and `data-oidc-label`: the
// login page's "Continue with" links, the account page's "Link" buttons).

/** Map of provider name -> label, in the page's order; empty when none is shown. */
export function configuredProviders() {
  const providers = new Map();
  for (const element of document.querySelectorAll("[data-oidc-provider]")) {
    const name = element.dataset.oidcProvider;
    if (name && !providers.has(name)) providers.set(name, element.dataset.oidcLabel || name);
  }
  return providers;
}

/** A provider's label if this page knows it, else its name (one no longer configured). */
export function providerLabel(name) {
  return configuredProviders().get(name) ?? String(name);
}
