// A real OpenID Connect provider (the certified `oidc-provider`) on
// loopback, for Yunying's sign-in tests (tests/it/people.rs).
//
//   node tests/oidc/idp.mjs            # listens on a free port of 127.0.0.1
//
// Prints one line, `issuer http://127.0.0.1:PORT`, once it serves, and runs
// until killed. Everything is static and for tests only:
//
// - clients: `yunying` (confidential, secret below: the archive's own
//   sign-in) and `bearer-test` (public, PKCE: the test's own way to get an
//   access token for a person). Any redirect URI on 127.0.0.1 ending in
//   /callback is accepted (the archive's port is chosen at its start).
// - accounts: `alice` (radiologist at INST-A), `root` (claims the IdP's
//   admin role). The interaction logs in `alice`, or the `login_hint`.
// - access tokens for the resource `urn:yunying` are JWTs (RFC 9068)
//   signed ES256; ID tokens are signed RS256; both carry the roles and
//   institution claims.
// - GET /test/mint?kind=good|expired|foreign|wrong-aud|none|hs256 signs
//   tokens the provider would not issue: for the refusal tests.

import http from 'node:http';
import Provider, { errors } from 'oidc-provider';
import * as jose from 'jose';

export const CLIENT_SECRET = 'idp-test-client-secret-5b1e9c';
const RESOURCE = 'urn:yunying';

const ACCOUNTS = {
  alice: { preferred_username: 'alice', name: 'Alice Zhang', institution: 'INST-A', roles: ['PACS-Reader'] },
  root: { preferred_username: 'root', name: 'Root Admin', institution: 'INST-A', roles: ['PACS-Admin'] },
};

async function keyPair(alg, kid) {
  const { privateKey } = await jose.generateKeyPair(alg, { extractable: true });
  return { ...(await jose.exportJWK(privateKey)), kid, alg, use: 'sig' };
}

const rsa = await keyPair('RS256', 'rsa-1');
const ec = await keyPair('ES256', 'ec-1');
// Another key under the same kid: its signatures must not verify.
const foreign = await keyPair('ES256', 'ec-1');

const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'yunying',
      client_secret: CLIENT_SECRET,
      redirect_uris: ['http://127.0.0.1/callback'],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
    {
      client_id: 'bearer-test',
      redirect_uris: ['http://127.0.0.1/callback'],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    },
  ],
  jwks: { keys: [rsa, ec] },
  cookies: { keys: ['idp-test-cookie-key-1'] },
  claims: { openid: ['sub'], profile: ['name', 'preferred_username', 'roles', 'institution'] },
  conformIdTokenClaims: false,
  ttl: { AccessToken: 600, AuthorizationCode: 60, Grant: 3600, IdToken: 600, Interaction: 600, Session: 3600 },
  findAccount: async (_ctx, id) => (ACCOUNTS[id] ? { accountId: id, claims: async () => ({ sub: id, ...ACCOUNTS[id] }) } : undefined),
  extraTokenClaims: async (_ctx, token) => (token.accountId && ACCOUNTS[token.accountId] ? { ...ACCOUNTS[token.accountId] } : undefined),
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  features: {
    devInteractions: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => RESOURCE,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, indicator) => {
        if (indicator !== RESOURCE) throw new errors.InvalidTarget();
        return { scope: 'dicomweb', audience: RESOURCE, accessTokenTTL: 600, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } };
      },
    },
  },
});

// The archive's port is not known when this starts.
provider.Client.prototype.redirectUriAllowed = (uri) => /^http:\/\/127\.0\.0\.1(:\d+)?\/.*callback$/.test(uri);

async function mint(kind) {
  const now = Math.floor(Date.now() / 1000);
  const claims = { ...ACCOUNTS.alice, client_id: 'bearer-test', scope: 'dicomweb', jti: crypto.randomUUID() };
  let aud = RESOURCE;
  let [iat, exp] = [now, now + 600];
  let key = ec;
  if (kind === 'expired') [iat, exp] = [now - 7200, now - 3600];
  if (kind === 'wrong-aud') aud = 'urn:another-archive';
  if (kind === 'foreign') key = foreign;
  if (kind === 'none') {
    return new jose.UnsecuredJWT(claims).setIssuer(issuer).setSubject('alice').setAudience(aud).setIssuedAt(iat).setExpirationTime(exp).encode();
  }
  const jwt = new jose.SignJWT(claims).setIssuer(issuer).setSubject('alice').setAudience(aud).setIssuedAt(iat).setExpirationTime(exp);
  if (kind === 'hs256') {
    // The algorithm-confusion attack: HMAC keyed with something public or shared.
    return jwt.setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: 'ec-1' }).sign(new TextEncoder().encode(CLIENT_SECRET));
  }
  return jwt.setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: key.kid }).sign(await jose.importJWK(key, 'ES256'));
}

provider.use(async (ctx, next) => {
  if (ctx.path.startsWith('/interaction/')) {
    // No pages: log in the account asked for (or alice) and consent to
    // everything asked, as a person clicking through would.
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    const { prompt, params } = details;
    let result;
    if (prompt.name === 'login') {
      result = { login: { accountId: ACCOUNTS[params.login_hint] ? params.login_hint : 'alice' } };
    } else {
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
      const missing = prompt.details;
      if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
      if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
      for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes || {})) grant.addResourceScope(indicator, scopes.join(' '));
      result = { consent: { grantId: await grant.save() } };
    }
    ctx.redirect(await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: true }));
    return;
  }
  if (ctx.path === '/test/mint') {
    ctx.type = 'text/plain';
    ctx.body = await mint(ctx.query.kind);
    return;
  }
  await next();
});

server.on('request', provider.callback());
console.log(`issuer ${issuer}`);
