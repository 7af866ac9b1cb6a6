#!/usr/bin/env python3
"""Drives an MCP server with the official Python SDK (PyPI `mcp`, pinned in
scripts/setup) and prints what it saw as one JSON object on stdout.

Used by tests/e2e/mcp.rs against the real `ikanos` binary; it asserts on the output.
Nothing here checks anything: the Rust test does.

Usage:
  python_client.py http URL MODE
  python_client.py stdio MODE COMMAND [ARG...]
MODE is the SDK's connect mode: `auto` (probe server/discover, i.e. the stateless
2026-07-28 revision, falling back to initialize) or `legacy` (initialize handshake).

The scenario (the crm tools of the test capability): list tools; call get-customer
{"id": "2"} (reaches the consumed API through the host); call get-customer
{"id": "99"} (the component answers not-found: a tool error); call list-customers
with a wrong argument type; call an unknown tool; list and read resources and
templates; list and get prompts.
"""

import asyncio
import json
import sys
from importlib.metadata import version

from mcp.client import Client
from mcp.client.stdio import StdioServerParameters
from mcp.shared.exceptions import MCPError


def dump(model):
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


async def scenario(target, mode):
    out = {"sdk": f"python mcp {version('mcp')}", "mode": mode}
    async with Client(target, mode=mode, cache=None) as client:
        out["protocolVersion"] = client.protocol_version
        out["serverInfo"] = dump(client.server_info) if client.server_info else None
        out["instructions"] = client.instructions
        out["tools"] = [dump(t) for t in (await client.list_tools()).tools]
        out["ok"] = dump(await client.call_tool("get-customer", {"id": "2"}))
        out["fail"] = dump(await client.call_tool("get-customer", {"id": "99"}))
        out["badArgs"] = dump(await client.call_tool("list-customers", {"limit": "ten"}))
        try:
            await client.call_tool("no-such-tool", {})
            out["unknownTool"] = None
        except MCPError as e:
            out["unknownTool"] = {"code": e.error.code, "message": e.error.message}
        out["resources"] = [dump(r) for r in (await client.list_resources()).resources]
        out["templates"] = [dump(r) for r in (await client.list_resource_templates()).resource_templates]
        out["read"] = dump(await client.read_resource(out["resources"][0]["uri"]))
        out["prompts"] = [dump(p) for p in (await client.list_prompts()).prompts]
        out["prompt"] = dump(await client.get_prompt("customer-summary", {"id": "2", "tone": "formal"}))
        if mode == "legacy":  # ping is gone from 2026-07-28
            await client.send_ping()
            out["ping"] = True
    return out


def main():
    kind = sys.argv[1]
    if kind == "http":
        target, mode = sys.argv[2], sys.argv[3]
    elif kind == "stdio":
        mode = sys.argv[2]
        target = StdioServerParameters(command=sys.argv[3], args=sys.argv[4:])
    else:
        sys.exit(f"unknown transport {kind}")
    print(json.dumps(asyncio.run(scenario(target, mode))))


if __name__ == "__main__":
    main()
