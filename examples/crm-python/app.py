# The `crm-python` example capability: examples/crm-sidecar written in Python with the
# Python guest SDK (guest-sdk-python/ikanos_guest), built into crm-python.wasm by
# ./build (componentize-py). The private CRM API is reached through a sidecar that
# listens on 127.0.0.1:18081 (for example `ssh -L 18081:crm.internal:443 ...`, or
# ../crm-sidecar/mock_crm.py for a local demo). The capability file
# (crm-python.ikanos.yaml) declares the consumed `crm` operations and the bearer token;
# the host adds the token, so this code never sees it.
#
# Owns: the component logic.
# - `list-customers` (`GET /customers?limit=...`) calls `crm.list-customers`, passing
#   `limit` only when the caller gave one (it must be a non-negative integer that
#   fits in 32 bits).
# - `get-customer` (`GET /customers/{{id}}`) calls `crm.get-customer`.
#
# Both return the upstream's JSON as is. Upstream 404 becomes `not-found` (HTTP 404),
# any other non-2xx or a failed call becomes `upstream` (HTTP 502) -- except a tunnel
# that is down, which becomes `unavailable` (HTTP 503) -- and a body that is not JSON
# becomes `upstream` too.

from ikanos_guest import NotFound, Response, capability, consumes, log

# `limit` is a u32 in crm-sidecar: the same range here, so both answer alike.
U32_MAX = 2**32 - 1


def list_customers(req):
    call = consumes.call("crm", "list-customers")
    limit = req.input_int("limit", min=0, max=U32_MAX)
    if limit is not None:
        call.param("limit", limit)
    customers = checked(call.send(), "customers").json()
    return Response.json(customers)


def get_customer(req):
    id = req.require("id")
    upstream = consumes.call("crm", "get-customer").param("id", id).send()
    customer = checked(upstream, f"customer `{id}`").json()
    return Response.json(customer)


def checked(upstream, what):
    """404 -> NotFound naming `what`; other non-2xx -> Upstream (with a warning)."""
    if upstream.status == 404:
        raise NotFound(f"the CRM has no {what}")
    if not upstream.is_success():
        log.warn(f"the CRM answered HTTP {upstream.status} for {what}")
    return upstream.error_for_status()


# componentize-py exports the class this module calls `Handler`.
Handler = capability({
    "list-customers": list_customers,
    "get-customer": get_customer,
})
