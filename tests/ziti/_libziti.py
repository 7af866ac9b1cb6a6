"""Loads the real OpenZiti C SDK (libziti 0.29.3 from the openziti==0.6.0 wheel) with
ctypes and exposes the few zitilib calls the test scripts use. The wheel's Python
wrapper is not used: its connect() is broken in 0.6.0.

Owns the ctypes bindings only; what to dial or host is the calling script's business.
"""

import ctypes
import socket
import sys


class LibZiti:
    def __init__(self, path):
        self.lib = ctypes.CDLL(path)
        lib = self.lib
        lib.Ziti_lib_init.argtypes = []
        lib.Ziti_load_context.argtypes = [ctypes.c_char_p]
        lib.Ziti_load_context.restype = ctypes.c_void_p
        lib.Ziti_last_error.restype = ctypes.c_int
        lib.ziti_errorstr.argtypes = [ctypes.c_int]
        lib.ziti_errorstr.restype = ctypes.c_char_p
        lib.Ziti_socket.argtypes = [ctypes.c_int]
        lib.Ziti_socket.restype = ctypes.c_int
        lib.Ziti_connect.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
        lib.Ziti_connect.restype = ctypes.c_int
        lib.Ziti_bind.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
        lib.Ziti_bind.restype = ctypes.c_int
        lib.Ziti_listen.argtypes = [ctypes.c_int, ctypes.c_int]
        lib.Ziti_listen.restype = ctypes.c_int
        lib.Ziti_accept.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.Ziti_accept.restype = ctypes.c_int
        lib.Ziti_lib_init()

    def last_error(self):
        err = self.lib.Ziti_last_error()
        text = self.lib.ziti_errorstr(err) if err < 0 else None
        if text:
            return "%d (%s)" % (err, text.decode(errors="replace"))
        return "%d (%s)" % (err, __import__("os").strerror(err) if err > 0 else "unknown")

    def load(self, identity_file):
        ztx = self.lib.Ziti_load_context(identity_file.encode())
        if not ztx:
            raise RuntimeError("Ziti_load_context(%s) failed: %s" % (identity_file, self.last_error()))
        return ztx

    def connect(self, ztx, service):
        fd = self.lib.Ziti_socket(socket.SOCK_STREAM)
        if fd < 0:
            raise RuntimeError("Ziti_socket failed: %s" % self.last_error())
        if self.lib.Ziti_connect(fd, ztx, service.encode(), None) != 0:
            raise RuntimeError("Ziti_connect(%s) failed: %s" % (service, self.last_error()))
        return socket.socket(fileno=fd)

    def bind(self, ztx, service, backlog=16):
        fd = self.lib.Ziti_socket(socket.SOCK_STREAM)
        if fd < 0:
            raise RuntimeError("Ziti_socket failed: %s" % self.last_error())
        if self.lib.Ziti_bind(fd, ztx, service.encode(), None) != 0:
            raise RuntimeError("Ziti_bind(%s) failed: %s" % (service, self.last_error()))
        if self.lib.Ziti_listen(fd, backlog) != 0:
            raise RuntimeError("Ziti_listen failed: %s" % self.last_error())
        return fd

    def accept(self, server_fd):
        caller = ctypes.create_string_buffer(256)
        fd = self.lib.Ziti_accept(server_fd, caller, len(caller))
        if fd < 0:
            raise RuntimeError("Ziti_accept failed: %s" % self.last_error())
        return socket.socket(fileno=fd), caller.value.decode(errors="replace")


def say(*parts):
    """One line on stdout, flushed: the test reads these as events."""
    print(*parts, flush=True)


def fail(message, code=2):
    print("ERROR " + message, flush=True)
    sys.stdout.flush()
    sys.stderr.flush()
    __import__("os")._exit(code)
