# Owns: log records for the host's tracing output (tagged there with the capability),
# over the WIT `log` import. Outside a component they go to stderr as
# `[level] message`.
#
#     from ikanos_guest import log
#     log.warn(f"customer {id} has no email")

from . import _wit


def _text(message, args):
    message = str(message)
    return message % args if args else message


def trace(message, *args):
    """Logs `message` at trace level (`%`-formatted with `args` when given)."""
    _wit.log("trace", _text(message, args))


def debug(message, *args):
    """Logs `message` at debug level (`%`-formatted with `args` when given)."""
    _wit.log("debug", _text(message, args))


def info(message, *args):
    """Logs `message` at info level (`%`-formatted with `args` when given)."""
    _wit.log("info", _text(message, args))


def warn(message, *args):
    """Logs `message` at warn level (`%`-formatted with `args` when given)."""
    _wit.log("warn", _text(message, args))


def error(message, *args):
    """Logs `message` at error level (`%`-formatted with `args` when given)."""
    _wit.log("error", _text(message, args))
