#!/usr/bin/env node
// Drives the server-to-client side of MCP with the official TypeScript SDK (pinned in
// package-lock.json): what the server sends while a request runs and on its own. Used
// by tests/e2e/mcp/streams.rs against the real `ikanos` binary; the Rust test asserts.
//
// Usage:
//   node ts_streams.mjs features URL|stdio COMMAND [ARG...]  (the crm-mcp test capability)
//   node ts_streams.mjs replacement URL  (any capability; `ikanos serve` replaces it)
//
// Both print `{"ready": true}` on a line once subscribed, then wait (at most 60 s)
// for the events the test causes, and print what they saw as one JSON line.
//   features: outputSchema and structuredContent of a declarative tool, progress and
//     log notifications of a tool call (after logging/setLevel debug), completion of a
//     resource-template and a prompt argument, then resources/subscribe on the guide
//     and waits for notifications/resources/updated (the test edits the file).
//   replacement: waits for notifications/tools/list_changed on the session's GET
//     stream, then lists the tools again in the same session.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import {
  LoggingMessageNotificationSchema,
  ResourceUpdatedNotificationSchema,
  ToolListChangedNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";

function waitFor(what, predicate) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const tick = () => {
      if (predicate()) return resolve();
      if (Date.now() - started > 60_000) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 50);
    };
    tick();
  });
}

async function features(client, transport, out) {
  out.capabilities = client.getServerCapabilities();
  const tools = (await client.listTools()).tools;
  out.outputSchema = tools.find((t) => t.name === "customer-names")?.outputSchema ?? null;
  // The SDK checks structuredContent against the outputSchema it listed.
  out.shaped = await client.callTool({ name: "customer-names", arguments: {} });

  const logs = [];
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => logs.push(n.params));
  await client.setLoggingLevel("debug");
  // Progress as it came off the wire, each kept only when it came before the answer
  // to the request its token names (the SDK makes the token the request's id). Not
  // the SDK's `onprogress`: the SDK hands a notification to its handler a microtask
  // later, but a response at once, and the response removes the progress handler; so
  // when both arrive in one read from the pipe, `onprogress` never sees the progress
  // the server sent first ("Received a progress notification for an unknown token").
  const progress = [];
  const answered = new Set();
  const deliver = transport.onmessage;
  transport.onmessage = (message, extra) => {
    if (message.method === "notifications/progress") {
      const { progressToken, ...params } = message.params;
      if (!answered.has(Number(progressToken))) progress.push(params);
    } else if (message.id !== undefined && message.method === undefined) {
      answered.add(Number(message.id));
    }
    deliver(message, extra);
  };
  out.call = await client.callTool(
    { name: "get-customer", arguments: { id: "2" } },
    undefined,
    // Asking for progress is what puts the token in the request.
    { onprogress: () => {} },
  );
  transport.onmessage = deliver;
  out.progress = progress;
  out.logs = logs;

  out.completeTemplate = (
    await client.complete({
      ref: { type: "ref/resource", uri: "notes://{name}" },
      argument: { name: "name", value: "he" },
    })
  ).completion;
  out.completePrompt = (
    await client.complete({
      ref: { type: "ref/prompt", name: "customer-summary" },
      argument: { name: "tone", value: "" },
    })
  ).completion;

  const updated = [];
  client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => updated.push(n.params.uri));
  await client.subscribeResource({ uri: "docs://crm/guide.md" });
  process.stdout.write(JSON.stringify({ ready: true }) + "\n");
  await waitFor("notifications/resources/updated", () => updated.length > 0);
  out.updated = updated;
  out.reread = await client.readResource({ uri: "docs://crm/guide.md" });
}

async function replacement(client, out) {
  let changed = 0;
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
    changed += 1;
  });
  out.before = (await client.listTools()).tools.map((t) => t.name);
  process.stdout.write(JSON.stringify({ ready: true }) + "\n");
  await waitFor("notifications/tools/list_changed", () => changed > 0);
  out.listChanged = changed;
  out.after = (await client.listTools()).tools.map((t) => t.name);
}

async function main() {
  const [scenario, target, ...command] = process.argv.slice(2);
  const transport =
    target === "stdio"
      ? new StdioClientTransport({ command: command[0], args: command.slice(1), stderr: "inherit" })
      : new StreamableHTTPClientTransport(new URL(target));
  const client = new Client({ name: "ikanos-e2e-streams", version: "1.0.0" });
  await client.connect(transport);
  const out = { sessionId: transport.sessionId ?? null };
  if (scenario === "features") {
    await features(client, transport, out);
  } else if (scenario === "replacement") {
    await replacement(client, out);
  } else {
    throw new Error(`unknown scenario ${scenario}`);
  }
  out.sessionIdAfter = transport.sessionId ?? null;
  if (target !== "stdio") {
    await transport.terminateSession();
  }
  await client.close();
  process.stdout.write(JSON.stringify(out) + "\n");
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
