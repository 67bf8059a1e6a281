#!/usr/bin/env python3
"""blackbox N: asks the black box (a service you cannot read) for f(N)."""
import socket
import sys

if len(sys.argv) != 2:
    sys.stderr.write("usage: blackbox N   (N an integer from 0 to 100000)\n")
    sys.exit(2)
with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
    s.connect("/run/blackbox/blackbox.sock")
    s.sendall(sys.argv[1].encode() + b"\n")
    reply = s.makefile().readline().strip()
if reply.startswith("error: "):
    sys.stderr.write("blackbox: " + reply[7:] + "\n")
    sys.exit(2)
print(reply)
