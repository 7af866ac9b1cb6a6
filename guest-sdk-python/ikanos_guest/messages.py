# Owns: `Request`, one inbound call to an exposed operation with its input lookups, and
# `Response`, what an operation returns on success.

import json
import re

from .errors import InvalidInput

_INTEGER = re.compile(r"[+-]?[0-9]+")


class Request:
    """One call to an exposed operation, as the host hands it to the component.

    `inputs` holds the declared input parameters the caller supplied (path, query,
    header, cookie) by their declared name; the host has already checked them against
    the capability file. Build one by hand in unit tests:
    `Request("get-customer", {"id": "2"})`.
    """

    def __init__(self, operation, inputs=None, body=None):
        #: The exposed operation key, e.g. `get-customer`.
        self.operation = operation
        #: Inputs by name (a name the host gave twice keeps its first value).
        self.inputs = {}
        pairs = inputs.items() if isinstance(inputs, dict) else (inputs or ())
        for name, value in pairs:
            self.inputs.setdefault(str(name), str(value))
        #: The request body as bytes, or None.
        self.body = bytes(body) if body is not None else None

    def __repr__(self):
        return f"Request({self.operation!r}, {self.inputs!r}, body={self.body!r})"

    def input(self, name, default=None):
        """The value of input `name`, or `default` if the caller did not supply it."""
        return self.inputs.get(name, default)

    def require(self, name):
        """The value of input `name`; `InvalidInput` (HTTP 400) when it is missing."""
        value = self.inputs.get(name)
        if value is None:
            raise InvalidInput(f"missing required input `{name}`")
        return value

    def input_int(self, name, min=None, max=None):
        """Input `name` as an int, None when absent. `InvalidInput` (HTTP 400) naming
        the input when it is not a plain decimal integer (ASCII digits, optional sign)
        or lies outside `min`..`max` (inclusive, each optional)."""
        raw = self.inputs.get(name)
        if raw is None:
            return None
        if not _INTEGER.fullmatch(raw):
            raise InvalidInput(f"input `{name}` has an invalid value `{raw}`: not an integer")
        value = int(raw)
        if min is not None and value < min:
            raise InvalidInput(f"input `{name}` has an invalid value `{raw}`: less than {min}")
        if max is not None and value > max:
            raise InvalidInput(f"input `{name}` has an invalid value `{raw}`: greater than {max}")
        return value

    def require_int(self, name, min=None, max=None):
        """Like `input_int`, but a missing input is an `InvalidInput` too."""
        value = self.input_int(name, min=min, max=max)
        if value is None:
            raise InvalidInput(f"missing required input `{name}`")
        return value

    def text(self):
        """The body as UTF-8 text; `InvalidInput` when it is missing or not UTF-8."""
        if self.body is None:
            raise InvalidInput("a request body is required")
        try:
            return self.body.decode("utf-8")
        except UnicodeDecodeError as e:
            raise InvalidInput(f"the request body is not UTF-8: {e}") from None

    def json(self):
        """The body parsed as JSON; `InvalidInput` when it is missing or malformed."""
        if self.body is None:
            raise InvalidInput("a JSON request body is required")
        try:
            return json.loads(self.body)
        except ValueError as e:  # JSONDecodeError and UnicodeDecodeError
            raise InvalidInput(f"the request body is not valid JSON: {e}") from None


class Response:
    """The successful answer of an operation: status, content type and body."""

    def __init__(self, body=b"", content_type="application/octet-stream", status=200):
        if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
            raise ValueError(f"invalid HTTP status {status!r}")
        self.status = status
        self.content_type = str(content_type)
        self.body = body.encode("utf-8") if isinstance(body, str) else bytes(body)

    def __repr__(self):
        return f"Response({self.body!r}, {self.content_type!r}, status={self.status})"

    @classmethod
    def json(cls, value, status=200):
        """An `application/json` response holding `value` serialized (compact, UTF-8).

        A value that does not serialize (a set, NaN, an object) makes a 500
        `text/plain` response naming the problem, as in the Rust SDK."""
        try:
            body = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as e:
            return cls.text(f"could not serialize the response as JSON: {e}", status=500)
        return cls(body, "application/json", status)

    @classmethod
    def text(cls, text, status=200):
        """A `text/plain; charset=utf-8` response."""
        return cls(str(text), "text/plain; charset=utf-8", status)

    @classmethod
    def bytes(cls, content_type, body, status=200):
        """A response with the given content type and body (bytes or str)."""
        return cls(body, content_type, status)
