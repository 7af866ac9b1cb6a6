#!/usr/bin/env python3
"""Dial an OpenZiti service with the real C SDK and do HTTP GETs over it.

usage: libziti_dial.py LIBZITI IDENTITY SERVICE [--path /x] [--count N] [--gate DIR]
                       [--until-eof] [--lengths] [--load-only]

--load-only: authenticate and load services (Ziti_load_context), print LOADED, then
stay up until killed (the test watches the router for the SDK's Hello).
Otherwise, for each of N rounds: Ziti_connect to SERVICE, send
`GET PATH HTTP/1.1`, read the response by its Content-Length and print
`RESPONSE <status> <body>` (body as JSON string; with --until-eof the request says
`Connection: close` and the body is whatever arrives before the far end's FIN;
with --lengths the line carries the body's length instead of the body). With --gate, round i > 0 first
prints `WAITING i` and waits for the file DIR/round-i (the test changes the network
between rounds, the same SDK context carries on). Exit 0 when all rounds answered,
2 on any failure (printed as `ERROR ...`).
"""

import argparse
import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _libziti import LibZiti, fail, say  # noqa: E402


def http_get_until_eof(sock, host, path):
    """GET with `Connection: close` and read until the far end's FIN arrives."""
    sock.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: libziti-test\r\n"
                  "Connection: close\r\n\r\n" % (path, host)).encode())
    buf = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    status = int(head.decode(errors="replace").split("\r\n")[0].split(" ")[1])
    return status, body.decode(errors="replace")


def http_get(sock, host, path):
    sock.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: libziti-test\r\n\r\n" % (path, host)).encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("connection closed before the response head (got %r)" % buf)
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode(errors="replace").split("\r\n")
    status = int(lines[0].split(" ")[1])
    length = 0
    for line in lines[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() == "content-length":
            length = int(v.strip())
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("connection closed inside the body")
        rest += chunk
    return status, rest[:length].decode(errors="replace")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("libziti")
    ap.add_argument("identity")
    ap.add_argument("service")
    ap.add_argument("--path", default="/")
    ap.add_argument("--count", type=int, default=1)
    ap.add_argument("--gate")
    ap.add_argument("--until-eof", action="store_true")
    ap.add_argument("--lengths", action="store_true")
    ap.add_argument("--load-only", action="store_true")
    args = ap.parse_args()

    z = LibZiti(args.libziti)
    try:
        ztx = z.load(args.identity)
    except RuntimeError as e:
        fail(str(e), 3)
    say("LOADED")
    if args.load_only:
        while True:
            time.sleep(3600)
    # Sockets stay open until the end: libziti forgets a closed fd asynchronously, and
    # Ziti_connect on a reused fd number it still knows fails with EALREADY.
    done = []
    for i in range(args.count):
        if args.gate and i > 0:
            say("WAITING", i)
            while not os.path.exists(os.path.join(args.gate, "round-%d" % i)):
                time.sleep(0.02)
        try:
            sock = z.connect(ztx, args.service)
            get = http_get_until_eof if args.until_eof else http_get
            status, body = get(sock, args.service, args.path)
            sock.shutdown(socket.SHUT_RDWR)
            done.append(sock)
        except Exception as e:  # noqa: BLE001 - reported to the test, which fails
            fail("%s: %s" % (type(e).__name__, e))
        say("RESPONSE", status, len(body) if args.lengths else json.dumps(body))
    say("DONE")
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
