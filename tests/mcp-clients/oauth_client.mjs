#!/usr/bin/env node
// The MCP TypeScript SDK's OAuth client flow against a protected ikanos MCP adapter:
// the 401 and its `resource_metadata`, RFC 9728 and RFC 8414/OIDC discovery, the
// authorization request with PKCE and the resource indicator, the code exchange, and
// the retried connection with the access token — all the SDK's own code
// (`authProvider` of StreamableHTTPClientTransport). The only stand-in is the user's
// browser: `redirectToAuthorization` follows the issuer's redirects here (keeping its
// cookies) until the redirect URI, and takes the code from it.
//
// Usage: node oauth_client.mjs MCP_URL REDIRECT_URI
// Prints one JSON line: what the authorization request asked, the token's claims
// (decoded, not checked: the host checks them), and the tools/call answer.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";

const [url, redirectUri] = process.argv.slice(2);

class TestProvider {
  constructor() {
    this.saved = {};
  }
  get redirectUrl() {
    return redirectUri;
  }
  get clientMetadata() {
    return { client_name: "ikanos e2e", redirect_uris: [redirectUri], token_endpoint_auth_method: "none" };
  }
  clientInformation() {
    return { client_id: "ikanos-e2e" };
  }
  tokens() {
    return this.saved.tokens;
  }
  saveTokens(tokens) {
    this.saved.tokens = tokens;
  }
  saveCodeVerifier(v) {
    this.saved.verifier = v;
  }
  codeVerifier() {
    return this.saved.verifier;
  }
  redirectToAuthorization(authorizationUrl) {
    this.authorizationUrl = authorizationUrl;
  }
}

// The browser's part: follow redirects with the issuer's cookies until the redirect URI.
async function browse(start) {
  const jar = new Map();
  let next = start;
  const hops = [];
  for (let hop = 0; hop < 20; hop++) {
    const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join("; ");
    const r = await fetch(next, { redirect: "manual", headers: cookie ? { cookie } : {} });
    for (const c of r.headers.getSetCookie()) {
      const [pair] = c.split(";");
      const i = pair.indexOf("=");
      jar.set(pair.slice(0, i), pair.slice(i + 1));
    }
    const location = r.headers.get("location");
    hops.push(`${r.status} ${new URL(next).pathname}`);
    if (!location) throw new Error(`the issuer answered ${r.status} without a redirect: ${await r.text()}`);
    next = new URL(location, next);
    if (next.href.startsWith(redirectUri)) {
      const code = next.searchParams.get("code");
      if (!code) throw new Error(`no code in ${next.href}`);
      return code;
    }
  }
  throw new Error(`too many redirects: ${hops.join(" -> ")}`);
}

async function main() {
  const provider = new TestProvider();
  const out = {};
  let transport = new StreamableHTTPClientTransport(new URL(url), { authProvider: provider });
  try {
    await new Client({ name: "ikanos-e2e-oauth", version: "1.0.0" }).connect(transport);
    out.firstConnect = "connected without a token";
  } catch (e) {
    if (!(e instanceof UnauthorizedError)) throw e;
    out.firstConnect = "unauthorized";
  }
  const asked = provider.authorizationUrl;
  out.authorization = {
    endpoint: `${asked.origin}${asked.pathname}`,
    codeChallengeMethod: asked.searchParams.get("code_challenge_method"),
    resource: asked.searchParams.get("resource"),
    scope: asked.searchParams.get("scope"),
  };
  const code = await browse(asked);
  await transport.finishAuth(code);
  const token = provider.tokens().access_token;
  out.claims = JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString());

  transport = new StreamableHTTPClientTransport(new URL(url), { authProvider: provider });
  const client = new Client({ name: "ikanos-e2e-oauth", version: "1.0.0" });
  await client.connect(transport);
  out.tools = (await client.listTools()).tools.map((t) => t.name);
  out.call = await client.callTool({ name: "ping", arguments: {} });
  await transport.terminateSession();
  await client.close();
  out.tokenLength = token.length;
  process.stdout.write(JSON.stringify(out) + "\n");
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
