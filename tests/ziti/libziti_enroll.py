#!/usr/bin/env python3
"""Enroll an OpenZiti identity with the real C SDK (Ziti_enroll_identity): verify the
one-time JWT against the controller's certificate, fetch /.well-known/est/cacerts,
make a key and CSR, POST /enroll?method=ott, and write the identity JSON it returns.

usage: libziti_enroll.py LIBZITI JWT_FILE OUT_JSON

Prints `ENROLLED` (exit 0) or `ERROR ...` (exit 2).
"""

import ctypes
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _libziti import LibZiti, fail, say  # noqa: E402


def main():
    if len(sys.argv) != 4:
        fail(__doc__.strip().splitlines()[-3])
    libziti, jwt_file, out = sys.argv[1:]
    z = LibZiti(libziti)
    lib = z.lib
    lib.Ziti_enroll_identity.argtypes = [
        ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
        ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_ulong),
    ]
    lib.Ziti_enroll_identity.restype = ctypes.c_int
    with open(jwt_file, "rb") as f:
        jwt = f.read().strip()
    id_json = ctypes.c_char_p()
    id_len = ctypes.c_ulong()
    rc = lib.Ziti_enroll_identity(jwt, None, None, ctypes.byref(id_json), ctypes.byref(id_len))
    if rc != 0:
        fail("Ziti_enroll_identity failed: %d (%s)" % (rc, lib.ziti_errorstr(rc).decode(errors="replace")))
    with open(out, "wb") as f:
        f.write(id_json.value)
    say("ENROLLED")
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
