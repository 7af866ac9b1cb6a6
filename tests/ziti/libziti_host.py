#!/usr/bin/env python3
"""Host an OpenZiti service with the real C SDK: Ziti_bind + Ziti_listen, then for
each Ziti_accept open a TCP connection to TARGET (a loopback server) and relay bytes
both ways until both sides are done.

usage: libziti_host.py LIBZITI IDENTITY SERVICE TARGET_HOST:PORT

Prints `BOUND` once the router accepted the Bind, `ACCEPTED <caller>` per client and
`ERROR ...` (exit 2) when binding fails. Runs until killed.
"""

import argparse
import os
import socket
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _libziti import LibZiti, fail, say  # noqa: E402


def pump(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


finished = []
finished_lock = threading.Lock()


def retire(client):
    """Shut an accepted socket down but never close it: libziti forgets a closed fd
    asynchronously, and a later Ziti_accept may hand out the same fd number, which the
    late clean-up of the old one then closes under the new circuit (seen as a dialer's
    circuit ending before any answer). The dialing script keeps its sockets open for
    the same reason."""
    try:
        client.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    with finished_lock:
        finished.append(client)


def serve(client, target):
    try:
        upstream = socket.create_connection(target)
    except OSError as e:
        say("UPSTREAM_FAILED", e)
        retire(client)
        return
    a = threading.Thread(target=pump, args=(client, upstream), daemon=True)
    b = threading.Thread(target=pump, args=(upstream, client), daemon=True)
    a.start()
    b.start()
    a.join()
    b.join()
    retire(client)
    upstream.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("libziti")
    ap.add_argument("identity")
    ap.add_argument("service")
    ap.add_argument("target")
    args = ap.parse_args()
    host, _, port = args.target.rpartition(":")
    target = (host, int(port))

    z = LibZiti(args.libziti)
    try:
        ztx = z.load(args.identity)
        server = z.bind(ztx, args.service)
    except RuntimeError as e:
        fail(str(e))
    say("BOUND")
    while True:
        try:
            client, caller = z.accept(server)
        except RuntimeError as e:
            fail(str(e))
        say("ACCEPTED", caller)
        threading.Thread(target=serve, args=(client, target), daemon=True).start()


if __name__ == "__main__":
    main()
