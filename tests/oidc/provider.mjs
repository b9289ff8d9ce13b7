// A real OpenID Provider for Inkwell's tests: panva's oidc-provider (OpenID Certified),
// with its development login screen, which accepts any login and any password.
//
//   node tests/oidc/provider.mjs <port>     (or OIDC_TEST_PORT)
//
// The issuer is http://127.0.0.1:<port>. One confidential client is registered for
// Inkwell from OIDC_TEST_CLIENT_ID, OIDC_TEST_CLIENT_SECRET and OIDC_TEST_REDIRECT_URIS
// (space-separated); it must use the authorization code flow with PKCE (S256).
// Accounts are made up from the login: "alice" is alice@example.com, verified; a login
// starting with "unverified-" has an email the provider does not vouch for, one starting
// with "noemail-" shares no email. "<sub>/<local>" is the person <sub> after changing
// their email at the provider to <local>@example.com (the same `sub`, a new email).
import Provider from 'oidc-provider';

const port = Number(process.argv[2] || process.env.OIDC_TEST_PORT);
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node provider.mjs <port>');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;

// Known people: the tests may rely on these names; any other login is made up alike.
const people = {
  alice: { name: 'Alice Liddell' },
  bob: { name: 'Bob Builder' },
};

function account(login) {
  const [sub, local] = login.split('/', 2);
  const person = people[sub] || {};
  const claims = {
    sub,
    email: `${local || sub}@example.com`,
    email_verified: !sub.startsWith('unverified-'),
    preferred_username: sub,
    name: person.name || sub,
  };
  if (sub.startsWith('noemail-')) {
    delete claims.email;
    delete claims.email_verified;
  }
  return {
    accountId: login,
    async claims() {
      return claims;
    },
  };
}

const redirectUris = (process.env.OIDC_TEST_REDIRECT_URIS || '').split(/\s+/).filter(Boolean);

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: process.env.OIDC_TEST_CLIENT_ID || 'inkwell',
      client_secret: process.env.OIDC_TEST_CLIENT_SECRET || 'inkwell-test-secret',
      redirect_uris: redirectUris.length ? redirectUris : ['http://127.0.0.1/auth/oidc/test/callback'],
      response_types: ['code'],
      grant_types: ['authorization_code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  // The ID token carries the scopes' claims (as Google's and Keycloak's do), not only
  // the userinfo endpoint.
  conformIdTokenClaims: false,
  pkce: { methods: ['S256'], required: () => true },
  features: { devInteractions: { enabled: true } },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['preferred_username', 'name'],
  },
  async findAccount(ctx, id) {
    return account(id);
  },
  cookies: { keys: ['inkwell-tests-only'] },
});

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${issuer}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
