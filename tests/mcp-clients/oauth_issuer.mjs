#!/usr/bin/env node
// A real OAuth 2.1 authorization server for the e2e tests: `oidc-provider` (npm, an
// OpenID-certified implementation; pinned in package-lock.json), issuing JWT access
// tokens for one protected resource (RFC 8707 resource indicators) to one public
// client through the authorization code flow with PKCE (S256 required). Login and
// consent are answered at once for the test's user (there is no browser): an
// interaction for the client is finished as `agent-7`, granting `ships:read` on the
// resource. Used by tests/e2e/mcp/oauth.rs; it prints {"issuer": URL} once it listens.
//
// Usage: node oauth_issuer.mjs PORT RESOURCE REDIRECT_URI
import { generateKeyPairSync } from "node:crypto";
import Provider, { errors } from "oidc-provider";

const [port, resource, redirectUri] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
const USER = "agent-7";
const SCOPE = "ships:read";

const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: "jwk" }), kid: "e2e-rs256", use: "sig", alg: "RS256" };

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: "ikanos-e2e",
      token_endpoint_auth_method: "none",
      redirect_uris: [redirectUri],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
    },
  ],
  jwks: { keys: [jwk] },
  scopes: ["openid", "offline_access", SCOPE],
  pkce: { required: () => true },
  // Lifetimes of the in-memory artefacts (the defaults print a notice each).
  ttl: { AccessToken: 600, AuthorizationCode: 60, Grant: 3600, Interaction: 600, Session: 3600, RefreshToken: 3600 },
  features: {
    devInteractions: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, indicator) => {
        if (indicator !== resource) {
          throw new errors.InvalidTarget(`unknown resource ${indicator}`);
        }
        return { scope: SCOPE, audience: resource, accessTokenFormat: "jwt", jwt: { sign: { alg: "RS256" } } };
      },
    },
  },
  findAccount: (_ctx, id) => ({ accountId: id, claims: () => ({ sub: id }) }),
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
});

// Headless interactions: log the test user in, then grant what was asked.
provider.use(async (ctx, next) => {
  const m = ctx.path.match(/^\/interaction\/([^/]+)$/);
  if (!m || ctx.method !== "GET") return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  let result;
  if (details.prompt.name === "login") {
    result = { login: { accountId: USER } };
  } else {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: USER, clientId: details.params.client_id });
    // Grant exactly what the request lacks (the user says yes to everything).
    const missing = details.prompt.details;
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(" "));
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(" "));
    }
    result = { consent: { grantId: await grant.save() } };
  }
  await provider.interactionFinished(ctx.req, ctx.res, result, { mergeWithLastSubmission: true });
});

provider.listen(Number(port), "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ issuer }) + "\n");
});
