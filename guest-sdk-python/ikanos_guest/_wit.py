# Owns: the one place that touches the bindings componentize-py generates from
# wit/capability.wit (world `capability`): the `wit_world` package and
# `componentize_py_types`. The rest of the SDK goes through the functions here.
#
# The bindings are never committed: `componentize-py componentize` generates them while
# it builds the component. Outside a component (plain `python3`, unit tests) they are
# missing, and this module falls back to stand-ins, like the Rust SDK off wasm32:
# consumed calls fail with `transport`, log records go to stderr, and errors the
# dispatcher raises are `WitErr` exceptions that tests can inspect.

import sys

try:
    from componentize_py_types import Err as _Err
    from wit_world.exports import handler as _handler
    from wit_world.imports import consumes as _consumes
    from wit_world.imports import log as _log

    IN_COMPONENT = True
except ImportError:  # not inside a component: plain CPython
    IN_COMPONENT = False


class _NativeErr(Exception):
    """Stand-in for componentize_py_types.Err outside a component."""

    def __init__(self, value):
        super().__init__(value)
        self.value = value


class _NativeCase:
    """Stand-in for one case of a WIT variant: `.kind` and `.value`."""

    def __init__(self, kind, value):
        self.kind = kind
        self.value = value

    def __eq__(self, other):
        return isinstance(other, _NativeCase) and (self.kind, self.value) == (
            other.kind,
            other.value,
        )

    def __repr__(self):
        return f"HandlerError({self.kind!r}, {self.value!r})"


class _NativeResponse:
    """Stand-in for wit_world.exports.handler.InboundResponse."""

    def __init__(self, status, content_type, body):
        self.status = status
        self.content_type = content_type
        self.body = body


WitErr = _Err if IN_COMPONENT else _NativeErr

if IN_COMPONENT:
    _HANDLER_ERRORS = {
        "invalid-input": _handler.HandlerError_InvalidInput,
        "not-found": _handler.HandlerError_NotFound,
        "upstream": _handler.HandlerError_Upstream,
        "internal": _handler.HandlerError_Internal,
        "unavailable": _handler.HandlerError_Unavailable,
    }
    _CALL_ERROR_KINDS = {
        _consumes.CallError_UnknownOperation: "unknown-operation",
        _consumes.CallError_InvalidInput: "invalid-input",
        _consumes.CallError_TunnelUnavailable: "tunnel-unavailable",
        _consumes.CallError_Timeout: "timeout",
        _consumes.CallError_Transport: "transport",
        _consumes.CallError_Denied: "denied",
    }
    _LEVELS = {
        "trace": _log.Level.TRACE,
        "debug": _log.Level.DEBUG,
        "info": _log.Level.INFO,
        "warn": _log.Level.WARN,
        "error": _log.Level.ERROR,
    }


def handler_error(kind, message):
    """The exception that makes `handle` return handler-error case `kind`."""
    if IN_COMPONENT:
        return _Err(_HANDLER_ERRORS[kind](message))
    return _NativeErr(_NativeCase(kind, message))


def inbound_response(status, content_type, body):
    """The WIT inbound-response record."""
    if IN_COMPONENT:
        return _handler.InboundResponse(status, content_type, body)
    return _NativeResponse(status, content_type, body)


def call(namespace, operation, params, body):
    """Calls consumed `namespace`.`operation`. Returns (status, headers, body), or
    raises `CallFailed(kind, reason)` with the WIT call-error case name."""
    if not IN_COMPONENT:
        raise CallFailed(
            "transport",
            f"cannot call `{namespace}.{operation}`: consumed calls only work "
            "inside the ikanos host (a component built with componentize-py)",
        )
    request = _consumes.OutboundRequest(namespace, operation, params, body)
    try:
        response = _consumes.call(request)
    except _Err as e:
        case = e.value
        raise CallFailed(_CALL_ERROR_KINDS.get(type(case), "transport"), str(case.value)) from None
    return response.status, list(response.headers), bytes(response.body)


class CallFailed(Exception):
    """A consumed call's WIT call-error, before the SDK turns it into a CallError."""

    def __init__(self, kind, reason):
        super().__init__(f"{kind}: {reason}")
        self.kind = kind
        self.reason = reason


def log(level, message):
    """Sends one record at `level` (`trace` … `error`) to the host's log."""
    if IN_COMPONENT:
        _log.log(_LEVELS[level], message)
    else:
        print(f"[{level}] {message}", file=sys.stderr)
