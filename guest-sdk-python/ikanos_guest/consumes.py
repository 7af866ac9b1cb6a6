# Owns: calls to the operations the capability file declares under
# `capability.consumes`: the `call` builder and `UpstreamResponse`, over the WIT
# `consumes.call` import. The host builds the HTTP request from the declaration (path,
# query, headers, authentication, tunnel), so the component only names the operation
# and passes parameter values.
#
#     customers = consumes.call("crm", "list-customers").param("limit", 2).send() \
#         .error_for_status().json()
#
# A call that produces no response raises a `CallError` subclass (re-exported here):
# `TunnelUnavailable` is an `Unavailable` (HTTP 503), the others are `Upstream` (502).

import json

from . import _wit
from .errors import (  # noqa: F401  (re-exported: consumes.Timeout etc.)
    CALL_ERRORS,
    CallError,
    Denied,
    InvalidCallInput,
    Timeout,
    Transport,
    TunnelUnavailable,
    UnknownOperation,
    Upstream,
)


def call(namespace, operation):
    """Starts a call to consumed operation `operation` of consumes namespace
    `namespace`, e.g. `call("crm", "list-customers")`. Nothing happens until `send()`."""
    return Call(namespace, operation)


def _param_text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Call:
    """A consumed call being built; see `call`."""

    def __init__(self, namespace, operation):
        self.namespace = str(namespace)
        self.operation = str(operation)
        self.params = []
        self.payload = None
        self._body_error = None

    def param(self, name, value):
        """Adds parameter `name` (the value is turned into text; booleans as
        `true`/`false`). The capability file decides where it goes (path, query,
        header, cookie, body); a name it does not declare makes the call fail with
        `InvalidCallInput`. Returns the call, for chaining."""
        self.params.append((str(name), _param_text(value)))
        return self

    def body(self, body):
        """Sets the request body: bytes (or bytearray) and str are sent as they are (str
        as UTF-8); any other value is serialized as JSON, as `json_body` does."""
        if isinstance(body, (bytes, bytearray, memoryview)):
            self.payload, self._body_error = bytes(body), None
            return self
        if isinstance(body, str):
            self.payload, self._body_error = body.encode("utf-8"), None
            return self
        return self.json_body(body)

    def json_body(self, value):
        """Sets the request body to `value` serialized as JSON (a str too). If it does
        not serialize, `send()` raises `InvalidCallInput` without calling out."""
        try:
            text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as e:
            self.payload = None
            self._body_error = f"could not serialize the body as JSON: {e}"
        else:
            self.payload, self._body_error = text.encode("utf-8"), None
        return self

    def send(self):
        """Calls the operation and waits for the upstream's answer. Every HTTP status
        arrives as an `UpstreamResponse`; use `error_for_status()` to raise on non-2xx.
        Raises a `CallError` subclass when there is no answer."""
        if self._body_error is not None:
            raise InvalidCallInput(self._body_error)
        try:
            status, headers, body = _wit.call(self.namespace, self.operation, self.params, self.payload)
        except _wit.CallFailed as e:
            raise CALL_ERRORS.get(e.kind, Transport)(e.reason) from None
        return UpstreamResponse(status, headers, body)


class UpstreamResponse:
    """What the upstream answered. Every status, 2xx or not, arrives here."""

    def __init__(self, status, headers=(), body=b""):
        #: The HTTP status (int).
        self.status = status
        #: Response headers as (name, value) tuples, in the order the host gave them.
        self.headers = list(headers)
        #: The response body (bytes).
        self.body = bytes(body)

    def __repr__(self):
        return f"UpstreamResponse({self.status}, {self.headers!r}, {self.body!r})"

    def header(self, name, default=None):
        """The first header called `name`, compared case-insensitively."""
        wanted = name.lower()
        for n, v in self.headers:
            if n.lower() == wanted:
                return v
        return default

    def is_success(self):
        """Whether the status is 2xx."""
        return 200 <= self.status < 300

    def error_for_status(self):
        """`self` if the status is 2xx, else raises `Upstream` naming the status."""
        if not self.is_success():
            raise Upstream(f"the upstream answered HTTP {self.status}")
        return self

    def text(self):
        """The body as UTF-8 text; `Upstream` if it is not UTF-8."""
        try:
            return self.body.decode("utf-8")
        except UnicodeDecodeError as e:
            raise Upstream(f"the upstream body is not UTF-8: {e}") from None

    def json(self):
        """The body parsed as JSON; `Upstream` (HTTP 502) if it is not valid JSON."""
        try:
            return json.loads(self.body)
        except ValueError as e:  # JSONDecodeError and UnicodeDecodeError
            raise Upstream(f"the upstream body is not the expected JSON: {e}") from None
