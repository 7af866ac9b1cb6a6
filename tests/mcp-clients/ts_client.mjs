#!/usr/bin/env node
// Drives an MCP server with the official TypeScript SDK (npm
// `@modelcontextprotocol/sdk`, pinned in package.json / package-lock.json) and prints
// what it saw as one JSON object on stdout. Used by tests/e2e/mcp.rs against the real
// `ikanos` binary; the Rust test asserts on the output.
//
// Usage:
//   node ts_client.mjs http URL
//   node ts_client.mjs stdio COMMAND [ARG...]
//
// The SDK speaks the initialize handshake (it offers its newest revision and takes
// the server's answer); the negotiated revision is reported as `protocolVersion`.
// Scenario: as python_client.py.
import { readFileSync } from "node:fs";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const sdkVersion = JSON.parse(
  readFileSync(new URL("./node_modules/@modelcontextprotocol/sdk/package.json", import.meta.url)),
).version;

async function main() {
  const [kind, ...rest] = process.argv.slice(2);
  let transport;
  if (kind === "http") {
    transport = new StreamableHTTPClientTransport(new URL(rest[0]));
  } else if (kind === "stdio") {
    transport = new StdioClientTransport({ command: rest[0], args: rest.slice(1), stderr: "inherit" });
  } else {
    throw new Error(`unknown transport ${kind}`);
  }
  // The client hands the negotiated revision to the transport; keep a copy.
  let negotiated = null;
  const setVersion = transport.setProtocolVersion?.bind(transport);
  transport.setProtocolVersion = (v) => {
    negotiated = v;
    setVersion?.(v);
  };
  const client = new Client({ name: "ikanos-e2e", version: "1.0.0" });
  await client.connect(transport);
  const out = { sdk: `typescript @modelcontextprotocol/sdk ${sdkVersion}`, protocolVersion: negotiated };
  out.sessionId = transport.sessionId ?? null;
  out.serverInfo = client.getServerVersion();
  out.instructions = client.getInstructions();
  out.tools = (await client.listTools()).tools;
  out.ok = await client.callTool({ name: "get-customer", arguments: { id: "2" } });
  out.fail = await client.callTool({ name: "get-customer", arguments: { id: "99" } });
  out.badArgs = await client.callTool({ name: "list-customers", arguments: { limit: "ten" } });
  try {
    await client.callTool({ name: "no-such-tool", arguments: {} });
    out.unknownTool = null;
  } catch (e) {
    out.unknownTool = { code: e.code ?? null, message: String(e.message) };
  }
  out.resources = (await client.listResources()).resources;
  out.templates = (await client.listResourceTemplates()).resourceTemplates;
  out.read = await client.readResource({ uri: out.resources[0].uri });
  out.prompts = (await client.listPrompts()).prompts;
  out.prompt = await client.getPrompt({ name: "customer-summary", arguments: { id: "2", tone: "formal" } });
  out.ping = await client.ping();
  if (kind === "http") {
    await transport.terminateSession();
  }
  await client.close();
  process.stdout.write(JSON.stringify(out) + "\n");
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
