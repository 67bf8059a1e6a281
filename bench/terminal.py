"""Terminal benchmark: keystroke echo latency and bulk throughput through the whole stack (browser protocol,
uvicorn, Channels, session host, recording on, bubblewrap sandbox), beside a raw local PTY (the limit) and
terminado (Jupyter's terminal server, a peer), measured in the same run and printed as ratios.

    .venv/bin/python bench/terminal.py [--echoes 2000] [--mb 100]

Echo: N one-byte round trips through `stty raw -echo; cat`. Bulk: `cat` of an N MB file of base64 text.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def summary(samples: list[float]) -> tuple[float, float]:
    s = sorted(samples)
    return statistics.median(s) * 1e6, s[int(len(s) * 0.99) - 1] * 1e6


# -- raw PTY: the physical limit ---------------------------------------------------------------------
def bench_raw_pty(echoes: int, big: Path) -> dict[str, float]:
    def spawn(cmd: str) -> tuple[int, subprocess.Popen[bytes]]:
        master, slave = os.openpty()
        proc = subprocess.Popen(
            ["bash", "-c", cmd], stdin=slave, stdout=slave, stderr=slave, start_new_session=True
        )
        os.close(slave)
        return master, proc

    master, proc = spawn("stty raw -echo; echo READY; exec cat")
    buf = b""
    while b"READY" not in buf:
        buf += os.read(master, 4096)
    lat = []
    for _ in range(echoes):
        t0 = time.perf_counter()
        os.write(master, b"x")
        got = b""
        while not got:
            got = os.read(master, 4096)
        lat.append(time.perf_counter() - t0)
    proc.kill()
    os.close(master)

    master, proc = spawn(f"stty raw -echo; cat {big}; echo; echo __BULK_DONE__")
    total, t0, tail = 0, time.perf_counter(), b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        total += len(chunk)
        tail = (tail + chunk)[-64:]
        if b"__BULK_DONE__" in tail:
            break
    elapsed = time.perf_counter() - t0
    proc.kill()
    os.close(master)
    med, p99 = summary(lat)
    return {"echo_median_us": med, "echo_p99_us": p99, "bulk_MBps": total / elapsed / 1e6}


def bench_sandbox_pty(mb: int, tmp: Path) -> dict[str, float]:
    """The same cat, in a bubblewrap sandbox of ours, read straight from its PTY: the limit for our stack."""
    import django

    os.environ["DATA_DIR"] = str(tmp / "data")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from tasks.models import Task
    from tasks.services.environment import sandbox_spec
    from terminal.sandbox import get_backend

    tv = Task.objects.get().latest_version
    assert tv is not None
    sandbox = get_backend().provision(sandbox_spec(tv))
    try:
        make = f"head -c {mb * 3 // 4}000000 /dev/urandom | base64 -w 76 > /tmp/big"
        sandbox.exec(["sh", "-c", make], user="agent", timeout=300)
        from terminal.sandbox.bubblewrap import BubblewrapSandbox

        assert isinstance(sandbox, BubblewrapSandbox)
        argv, env = sandbox.command(
            ["bash", "-c", "stty -echo; cat /tmp/big; echo __BULK_DONE__"], user="agent", tty=True
        )
        master, slave = os.openpty()
        proc = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True
        )
        os.close(slave)
        total, t0, tail = 0, time.perf_counter(), b""
        while b"__BULK_DONE__" not in tail:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            total += len(chunk)
            tail = (tail + chunk)[-64:]
        elapsed = time.perf_counter() - t0
        proc.kill()
        os.close(master)
    finally:
        sandbox.destroy()
    return {"echo_median_us": float("nan"), "echo_p99_us": float("nan"), "bulk_MBps": total / elapsed / 1e6}


# -- terminado: the peer -----------------------------------------------------------------------------
TERMINADO_SERVER = """
import sys, tornado.ioloop, tornado.web
from terminado import TermSocket, UniqueTermManager
mgr = UniqueTermManager(shell_command=["bash"])
app = tornado.web.Application([(r"/ws", TermSocket, {"term_manager": mgr})])
app.listen(int(sys.argv[1]), "127.0.0.1")
print("READY", flush=True)
tornado.ioloop.IOLoop.current().start()
"""


async def bench_terminado(echoes: int, big: Path) -> dict[str, float]:
    import websockets

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", TERMINADO_SERVER, str(port)], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    proc.stdout.readline()
    try:
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws", max_size=2**24, compression=None) as ws:

            async def until(marker: str) -> int:
                seen, total = "", 0
                while marker not in seen:
                    msg = json.loads(await ws.recv())
                    if msg[0] == "stdout":
                        total += len(msg[1].encode())
                        seen = (seen + msg[1])[-200:]
                return total

            await ws.send(json.dumps(["stdin", "stty raw -echo; echo RE''ADY; exec cat\r"]))
            await until("READY")
            lat = []
            for _ in range(echoes):
                t0 = time.perf_counter()
                await ws.send(json.dumps(["stdin", "x"]))
                while True:
                    msg = json.loads(await ws.recv())
                    if msg[0] == "stdout" and "x" in msg[1]:
                        break
                lat.append(time.perf_counter() - t0)
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws", max_size=2**24, compression=None) as ws:
            await ws.send(json.dumps(["stdin", "stty -echo\r"]))
            await asyncio.sleep(0.3)
            t0 = time.perf_counter()
            await ws.send(json.dumps(["stdin", f"cat {big}; echo __BULK_DONE__\r"]))
            total = await until("__BULK_DONE__")
            elapsed = time.perf_counter() - t0
    finally:
        proc.kill()
    med, p99 = summary(lat)
    return {"echo_median_us": med, "echo_p99_us": p99, "bulk_MBps": total / elapsed / 1e6}


# -- ours: the whole stack ---------------------------------------------------------------------------
def start_platform(tmp: Path) -> tuple[subprocess.Popen[bytes], str, str, str]:
    env = dict(os.environ, DATA_DIR=str(tmp / "data"), DJANGO_SETTINGS_MODULE="config.settings")
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    env.pop("SESSION_HOST_SOCKET", None)
    py = sys.executable
    subprocess.run([py, "manage.py", "migrate", "-v0"], cwd=REPO, env=env, check=True)
    subprocess.run(
        [py, "manage.py", "import_tasks", "examples/tasks/ssh_key"],
        cwd=REPO,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    setup = (
        "from django.contrib.auth.models import User; from django.test import Client;"
        "from tasks.models import Task; from terminal.services import terminal_session_create;"
        "u = User.objects.create_user('bench', password='x', is_staff=True);"
        "s = terminal_session_create(user=u, task_version=Task.objects.get().latest_version, purpose='trial');"
        "c = Client(HTTP_HOST='127.0.0.1'); c.force_login(u);"
        "print(s.id, c.cookies['sessionid'].value)"
    )
    out = subprocess.run(
        [py, "manage.py", "shell", "-c", setup], cwd=REPO, env=env, check=True, capture_output=True, text=True
    ).stdout.split()
    session_id, cookie = out[-2], out[-1]
    port = free_port()
    web = subprocess.Popen(
        [
            py,
            "-m",
            "uvicorn",
            "config.asgi:application",
            "--port",
            str(port),
            "--ws-per-message-deflate",
            "false",
            "--log-level",
            "warning",
        ],
        cwd=REPO,
        env=env,
    )
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.05)
    return (
        web,
        f"ws://127.0.0.1:{port}/ws/terminal/{session_id}/",
        f"sessionid={cookie}",
        f"http://127.0.0.1:{port}",
    )


async def bench_ours(echoes: int, mb: int, tmp: Path) -> dict[str, float]:
    from terminal.wsclient import TerminalClient

    web, url, cookie, origin = start_platform(tmp)
    try:
        c = TerminalClient(url, cookie=cookie, origin=origin)
        await c.connect(cols=200)
        await c.wait_for("$ ", timeout=60)
        # the file is made inside the sandbox (its /tmp), the same bytes cat sends through every layer
        await c.send_input(
            f"head -c {mb * 3 // 4}000000 /dev/urandom | base64 -w 76 > /tmp/big; echo MA''DE\r"
        )
        await c.wait_for("MADE", timeout=120)
        await c.send_input(
            f"stty raw -echo; echo RE''ADY; dd bs=1 count={echoes} status=none; stty sane -echo; clear\r"
        )
        since = await c.wait_for("READY", timeout=10)
        await asyncio.sleep(0.2)
        lat = []
        for _ in range(echoes):
            mark = c.received
            t0 = time.perf_counter()
            await c.send_input(b"x")
            await c.wait_for(b"x", since=mark, timeout=5)
            lat.append(time.perf_counter() - t0)
        await asyncio.sleep(0.5)
        start = c.received
        cpu0 = cpu_seconds(web.pid), time.process_time()
        t0 = time.perf_counter()
        if os.environ.get("BENCH_PROFILE"):
            subprocess.Popen(  # samples the server for 4 s while the bulk runs
                [
                    str(Path(sys.executable).parent / "py-spy"),
                    "record",
                    "-o",
                    os.environ["BENCH_PROFILE"],
                    "-f",
                    "raw",
                    "-d",
                    "4",
                    "-p",
                    str(web.pid),
                ]
            )
            await asyncio.sleep(0.5)
        await c.send_input("cat /tmp/big; echo __BULK_''DONE__\r")
        end = await c.wait_for("__BULK_DONE__", since=start, timeout=300)
        elapsed = time.perf_counter() - t0
        server_cpu = cpu_seconds(web.pid) - cpu0[0]
        client_cpu = time.process_time() - cpu0[1]
        print(f"  ours, bulk: server {server_cpu / elapsed:.0%} of a core, client {client_cpu / elapsed:.0%}")
        await c.close()
        del since
    finally:
        web.terminate()
        web.wait()
    med, p99 = summary(lat)
    return {"echo_median_us": med, "echo_p99_us": p99, "bulk_MBps": (end - start) / elapsed / 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--echoes", type=int, default=2000)
    parser.add_argument("--mb", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-terminal-") as d:
        tmp = Path(d)
        tmp.chmod(0o755)  # the sandboxes' unprivileged uids must reach their files under it
        big = tmp / "big.txt"
        subprocess.run(
            f"head -c {args.mb * 3 // 4}000000 /dev/urandom | base64 -w 76 > {big}", shell=True, check=True
        )
        raw = bench_raw_pty(args.echoes, big)
        peer = asyncio.run(bench_terminado(args.echoes, big))
        ours = asyncio.run(bench_ours(args.echoes, args.mb, tmp))
        sandboxed = bench_sandbox_pty(args.mb, tmp)
    rows = [
        ("raw PTY (limit)", raw),
        ("raw PTY in our sandbox (limit)", sandboxed),
        ("terminado (peer)", peer),
        ("ours (full stack, recording on)", ours),
    ]
    print(f"{'':34}{'echo median':>14}{'echo p99':>12}{'bulk':>12}")
    for name, r in rows:
        echo = (
            "           —           —"
            if r["echo_median_us"] != r["echo_median_us"]
            else (f"{r['echo_median_us']:>11.0f} µs{r['echo_p99_us']:>9.0f} µs")
        )
        print(f"{name:34}{echo}{r['bulk_MBps']:>8.1f} MB/s")
    print()
    print(
        f"echo median, ours - raw PTY:        {ours['echo_median_us'] - raw['echo_median_us']:+.0f} µs (aim: within 1000 µs)"
    )
    print(f"echo median, ours / terminado:      {ours['echo_median_us'] / peer['echo_median_us']:.2f}x")
    print(
        f"bulk throughput, ours / terminado:  {ours['bulk_MBps'] / peer['bulk_MBps']:.2f}x (aim: at least 2x)"
    )
    print(f"bulk throughput, ours / raw PTY:    {ours['bulk_MBps'] / raw['bulk_MBps']:.2f}x")
    print(f"bulk throughput, ours / sandbox PTY: {ours['bulk_MBps'] / sandboxed['bulk_MBps']:.2f}x")
    print(
        f"bulk throughput, sandbox PTY / terminado: {sandboxed['bulk_MBps'] / peer['bulk_MBps']:.2f}x (the ceiling of that ratio here)"
    )


if __name__ == "__main__":
    main()
