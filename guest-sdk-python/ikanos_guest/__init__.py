# Owns: the public API of the Python guest SDK and `capability()`, which turns a
# mapping of operation functions into the `Handler` class that componentize-py exports
# as the WIT `handler` interface (the dispatch and the error mapping live here).
"""Write Ikanos capabilities in Python, as WebAssembly components for the `ikanos` host.

The Python counterpart of the Rust SDK in guest-sdk/. It hides the bindings that
componentize-py generates from wit/capability.wit (world `capability`) behind plain
Python: `Request`, `Response`, the `Error` exceptions, the `consumes.call` builder,
`log` and `capability()`.

A capability component has no ambient authority. Everything that reaches the outside
goes through `consumes.call`, naming an operation that the capability file declares
under `capability.consumes`; the host builds the HTTP request, adds the authentication
and routes it. Secrets never enter the component.

Example (app.py): one plain function per exposed operation, registered by its
operation key with `capability()`. componentize-py exports the class that the app
module calls `Handler`, so assign the result to that name::

    from ikanos_guest import NotFound, Response, capability, consumes, log

    # GET /customers?limit=... (exposed operation `list-customers`)
    def list_customers(req):
        call = consumes.call("crm", "list-customers")
        limit = req.input_int("limit", min=0)   # bad value -> InvalidInput (400)
        if limit is not None:
            call.param("limit", limit)
        customers = call.send().error_for_status().json()  # failures -> Upstream (502)
        return Response.json(customers)

    # GET /customers/{{id}} (exposed operation `get-customer`)
    def get_customer(req):
        id = req.require("id")                  # missing -> InvalidInput (400)
        upstream = consumes.call("crm", "get-customer").param("id", id).send()
        if upstream.status == 404:
            raise NotFound(f"no customer {id}")  # HTTP 404
        log.info(f"fetched customer {id}")
        return Response.json({"customer": upstream.error_for_status().json()})

    Handler = capability({
        "list-customers": list_customers,
        "get-customer": get_customer,
    })

Build it into a component (the bindings are generated during the build, never
committed; `-p` puts the app's folder and the folder holding `ikanos_guest/` on the
path)::

    componentize-py -d wit -w capability componentize app -p . -p SDK_DIR -o NAME.wasm

How answers map to the host's HTTP answers:

- an operation returns a `Response` (`Response.json(value, status=200)`,
  `Response.text(text, status=200)`, `Response.bytes(content_type, body)`);
- it raises `InvalidInput`, `NotFound`, `Upstream`, `Internal` or `Unavailable`
  (HTTP 400, 404, 502, 500, 503; the message is the body);
- a consumed call with no answer raises a `CallError` subclass (`consumes.Timeout`,
  `consumes.Transport`, ...): each is an `Upstream`, except `TunnelUnavailable`, an
  `Unavailable`, so left unhandled it answers 502, or 503 for a tunnel that is down;
- any other exception (or a return value that is not a `Response`) becomes `internal`
  (HTTP 500) naming the exception, with the traceback in the host's log: never a trap;
- an operation key with no function answers `not-found` (HTTP 404).

Outside a component (plain `python3`, unit tests) the SDK still imports: consumed calls
raise `consumes.Transport`, `log` writes to stderr, and `Handler().handle(...)` can be
driven with `Request`-like objects.

Vendoring: the SDK is exactly these files of the Python standard library only, copied
as they are into a project's `ikanos_guest/` folder: __init__.py, _wit.py, errors.py,
messages.py, consumes.py, log.py.
"""

import traceback

from . import _wit, consumes, log
from .consumes import UpstreamResponse
from .errors import (
    CallError,
    Error,
    Internal,
    InvalidInput,
    NotFound,
    Unavailable,
    Upstream,
)
from .messages import Request, Response

__all__ = [
    "CallError",
    "Error",
    "Internal",
    "InvalidInput",
    "NotFound",
    "Request",
    "Response",
    "Unavailable",
    "Upstream",
    "UpstreamResponse",
    "capability",
    "consumes",
    "log",
]


def capability(operations):
    """Returns the `Handler` class to export, routing each exposed operation key (as
    written in the capability file) to one function `fn(request) -> Response`.

    Assign it to `Handler` at module level in the app module: componentize-py looks the
    export up by that name.
    """
    routes = dict(operations)
    for key, function in routes.items():
        if not isinstance(key, str) or not callable(function):
            raise TypeError(
                f"capability() takes a mapping of operation key (str) to function; got {key!r}: {function!r}"
            )

    class Handler:
        """The WIT `handler` export: dispatches to the registered operations."""

        operations = routes

        def handle(self, request):
            return dispatch(routes, request)

    return Handler


def dispatch(routes, request):
    """Runs the operation `request.operation` names. Returns the WIT inbound-response;
    raises the WIT handler-error (as componentize-py expects for a `result` error)."""
    operation = request.operation
    function = routes.get(operation)
    if function is None:
        raise _wit.handler_error(
            "not-found", f"the component has no handler for operation `{operation}`"
        )
    try:
        response = function(Request(operation, request.inputs, request.body))
        if not isinstance(response, Response):
            raise TypeError(f"returned {type(response).__name__}, not a Response")
    except Error as e:
        raise _wit.handler_error(e.wit_case, e.message) from None
    except BaseException as e:  # noqa: BLE001  never let an exception trap the instance
        try:
            log.error(f"operation `{operation}` failed:\n{traceback.format_exc()}")
        except BaseException:  # noqa: BLE001
            pass
        detail = str(e)
        message = f"operation `{operation}` failed: {type(e).__name__}"
        raise _wit.handler_error("internal", f"{message}: {detail}" if detail else message) from None
    return _wit.inbound_response(response.status, response.content_type, response.body)
