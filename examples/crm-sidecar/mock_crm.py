#!/usr/bin/env python3
"""A tiny stand-in for the private CRM API, for the crm-sidecar README demo only.

Owns: nothing the host or tests depend on. Python 3 standard library only.

Usage: python3 mock_crm.py [PORT] [TOKEN]
  PORT   default 18081 (what crm-sidecar.ikanos.yaml's baseUri points at)
  TOKEN  default $CRM_TOKEN, else the demo token in secrets.yaml

Every request needs `Authorization: Bearer <TOKEN>`, else 401.
  GET /customers          -> 200 JSON list of 3 customers {id, name, email}; ?limit=N
  GET /customers/<id>     -> 200 JSON customer, or 404 {"error": "..."}
  anything else           -> 404 {"error": "..."}
"""

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

DEMO_TOKEN = "demo-crm-token-not-a-real-secret"

CUSTOMERS = [
    {"id": "1", "name": "Ada Lovelace", "email": "ada@example.com"},
    {"id": "2", "name": "Grace Hopper", "email": "grace@example.com"},
    {"id": "3", "name": "Alan Turing", "email": "alan@example.com"},
]


class Handler(BaseHTTPRequestHandler):
    server_version = "mock-crm/1"
    token = DEMO_TOKEN

    def _send(self, status, payload):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.headers.get("Authorization") != f"Bearer {self.token}":
            return self._send(401, {"error": "missing or wrong bearer token"})
        url = urlsplit(self.path)
        path = url.path.rstrip("/")
        if path == "/customers":
            customers = CUSTOMERS
            limit = parse_qs(url.query).get("limit")
            if limit:
                try:
                    n = int(limit[0])
                except ValueError:
                    return self._send(400, {"error": "limit must be an integer"})
                customers = customers[: max(n, 0)]
            return self._send(200, customers)
        if path.startswith("/customers/"):
            wanted = unquote(path[len("/customers/"):])
            for customer in CUSTOMERS:
                if customer["id"] == wanted:
                    return self._send(200, customer)
            return self._send(404, {"error": f"no customer {wanted}"})
        return self._send(404, {"error": f"no route {url.path}"})


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 18081
    Handler.token = sys.argv[2] if len(sys.argv) > 2 else os.environ.get("CRM_TOKEN", DEMO_TOKEN)
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"mock CRM on http://127.0.0.1:{port} (bearer token required)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
