"""The black box: root's service on a Unix socket. One line in (N), one line out (f(N) or an error).

It runs as the sandbox's root from start() on; its source stays under /root (0700) and its memory belongs
to root, so the agent can ask it questions but cannot read it (no file to dump, no process to trace).
"""

import os
import socket
import sys

SOCKET = "/run/blackbox/blackbox.sock"


def f(x):
    return ((x * 7) ^ (x >> 2)) + 3


def answer(line):
    text = line.strip()
    if not text.isdigit() or len(text) > 6 or int(text) > 100000:
        return "error: N must be an integer from 0 to 100000"
    return str(f(int(text)))


def serve(sock):
    while True:
        conn, _ = sock.accept()
        with conn:
            conn.settimeout(2)
            try:
                data = b""
                while b"\n" not in data and len(data) < 64:
                    chunk = conn.recv(64)
                    if not chunk:
                        break
                    data += chunk
                conn.sendall((answer(data.split(b"\n")[0].decode("ascii", "replace")) + "\n").encode())
            except OSError:
                pass


def main():
    os.makedirs(os.path.dirname(SOCKET), mode=0o755, exist_ok=True)
    if os.path.exists(SOCKET):
        os.unlink(SOCKET)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(SOCKET)
    os.chmod(SOCKET, 0o666)
    sock.listen(16)
    # Detach: start() returns while the service keeps running for the agent.
    if os.fork():
        os._exit(0)
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    serve(sock)


if __name__ == "__main__":
    sys.exit(main())
