#!/usr/bin/env python3
"""A slowloris client: connects, sends one byte every INTERVAL seconds, and says when the
server closes the connection.

Usage: drip.py HOST PORT [INTERVAL]   (INTERVAL defaults to 1 second)

Prints `connected HOST:PORT` (its own address) once connected, then `closed after SECONDS`
when the server ends the connection (EOF or a reset), and exits 0. Whatever the server
sends back is read and ignored. Gives up after 60 seconds: prints `still open after 60 s`
and exits 1.
"""

import select
import socket
import sys
import time

LIMIT = 60.0

host, port = sys.argv[1], int(sys.argv[2])
interval = float(sys.argv[3]) if len(sys.argv) > 3 else 1.0

sock = socket.create_connection((host, port))
started = time.monotonic()
print("connected %s:%d" % sock.getsockname()[:2], flush=True)

next_drip = started
while time.monotonic() - started < LIMIT:
    if time.monotonic() >= next_drip:
        try:
            sock.send(b"x")
        except OSError:
            break
        next_drip += interval
    readable, _, _ = select.select([sock], [], [], max(0.0, next_drip - time.monotonic()))
    if readable:
        try:
            if not sock.recv(4096):
                break
        except OSError:
            break
else:
    print("still open after %d s" % LIMIT, flush=True)
    sys.exit(1)
print("closed after %.3f" % (time.monotonic() - started), flush=True)
