// The `crm-js` example capability: examples/crm-sidecar (reverse-tunnel guide, Path B)
// written in JavaScript. The private CRM API is reached through a sidecar that listens
// on 127.0.0.1:18081 (for example `ssh -L 18081:crm.internal:443 …`, or
// ../crm-sidecar/mock_crm.py for a local demo). The capability file
// (crm-js.ikanos.yaml) declares the consumed `crm` operations and the bearer token; the
// host adds the token, so this code never sees it.
//
// Owns: the component logic (built to crm-js.wasm by ./build).
// - `list-customers` (`GET /customers?limit=…`) calls `crm.list-customers`, passing
//   `limit` only when the caller gave one (it must be a non-negative integer).
// - `get-customer` (`GET /customers/{{id}}`) calls `crm.get-customer`.
//
// Both return the upstream's JSON as is. Upstream 404 becomes `not-found` (HTTP 404),
// any other non-2xx or a failed call becomes `upstream` (HTTP 502) — except a tunnel
// that is down, which becomes `unavailable` (HTTP 503) — and a body that is not JSON
// becomes `upstream` too.

import { call, capability, log, NotFound, Response } from "../../guest-sdk-js/index.js";

function listCustomers(req) {
  // Checked before calling out: 400 unless a non-negative integer (a u32, as in Rust).
  const limit = req.inputInt("limit", { min: 0, max: 0xffffffff });
  const upstream = call("crm", "list-customers").param("limit", limit).send();
  return Response.json(checked(upstream, "customers").json());
}

function getCustomer(req) {
  const id = req.require("id");
  const upstream = call("crm", "get-customer").param("id", id).send();
  return Response.json(checked(upstream, `customer \`${id}\``).json());
}

/** 404 -> NotFound naming `what`; other non-2xx -> Upstream (logged as a warning). */
function checked(upstream, what) {
  if (upstream.status === 404) throw new NotFound(`the CRM has no ${what}`);
  if (!upstream.isSuccess()) log.warn(`the CRM answered HTTP ${upstream.status} for ${what}`);
  return upstream.errorForStatus();
}

export const handler = capability({
  "list-customers": listCustomers,
  "get-customer": getCustomer,
});
