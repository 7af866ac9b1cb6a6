# Owns: the exceptions an operation raises to fail (`Error` and its five kinds, one per
# WIT handler-error case) and the exceptions a consumed call raises (`CallError` and its
# six kinds, one per WIT call-error case).
#
# Each call error is also an `Error`: raised out of an operation unhandled, it answers
# like the Rust SDK's `?` on a CallError: `Unavailable` (HTTP 503) for a tunnel that is
# down, `Upstream` (HTTP 502) for every other kind, with the message
# `<kind>: <reason>`.


class Error(Exception):
    """A handler failure; the host answers with the kind's HTTP status and `message`
    in the body. Raise one of the subclasses, not this class."""

    #: The WIT handler-error case this kind becomes.
    wit_case = "internal"
    #: The HTTP status the host answers with.
    http_status = 500

    def __init__(self, message):
        super().__init__(message)
        self.message = str(message)

    def __str__(self):
        return self.message


class InvalidInput(Error):
    """The caller's input is missing or malformed (HTTP 400)."""

    wit_case = "invalid-input"
    http_status = 400


class NotFound(Error):
    """The thing asked for does not exist (HTTP 404)."""

    wit_case = "not-found"
    http_status = 404


class Upstream(Error):
    """A consumed API failed or answered something unusable (HTTP 502)."""

    wit_case = "upstream"
    http_status = 502


class Internal(Error):
    """A bug or an unexpected condition in the component (HTTP 500)."""

    wit_case = "internal"
    http_status = 500


class Unavailable(Error):
    """A consumed API cannot be reached now: its tunnel is down and the host fails
    closed (HTTP 503; the caller may try again later)."""

    wit_case = "unavailable"
    http_status = 503


class CallError(Error):
    """A consumed call produced no upstream response. `kind` is the WIT call-error case
    name, `reason` the host's reason (never a secret); the message is
    `<kind>: <reason>`."""

    kind = ""

    def __init__(self, reason):
        super().__init__(f"{self.kind}: {reason}")
        self.reason = str(reason)


class UnknownOperation(CallError, Upstream):
    """No such consumes namespace, or no such operation in it."""

    kind = "unknown-operation"


class InvalidCallInput(CallError, Upstream):
    """A parameter is undeclared, missing, or not valid for its place (the WIT
    call-error `invalid-input`; named apart from the handler's `InvalidInput`)."""

    kind = "invalid-input"


class TunnelUnavailable(CallError, Unavailable):
    """The consumes entry routes through a tunnel that is not ready (fail closed)."""

    kind = "tunnel-unavailable"


class Timeout(CallError, Upstream):
    """The upstream did not answer within the configured time."""

    kind = "timeout"


class Transport(CallError, Upstream):
    """Connecting, TLS or the HTTP exchange failed."""

    kind = "transport"


class Denied(CallError, Upstream):
    """The host's policy refused the call (for example a per-request call budget)."""

    kind = "denied"


#: Call error classes by WIT call-error case name.
CALL_ERRORS = {
    cls.kind: cls
    for cls in (UnknownOperation, InvalidCallInput, TunnelUnavailable, Timeout, Transport, Denied)
}
