"""Terminal benchmark: keystroke echo latency and bulk throughput through the whole stack (browser protocol,
uvicorn, Channels, session host, recording on, bubblewrap sandbox), embedded and with the session host as its
own process, beside a raw local PTY read by a bare loop (the limit for echo; for throughput a reader that
keeps the shell writing while it works, as ours does, can pass it) and terminado (Jupyter's terminal
server, a peer), measured in the same run and printed as ratios; then where a keystroke's time goes, hop by
hop, and the design checks behind the session host's output path.

    .venv/bin/python bench/terminal.py [--repeat 5] [--echoes 2000] [--mb 100] [--runs 3]
    .venv/bin/python bench/terminal.py --breakdown [--echoes 2000]               # the hops only
    .venv/bin/python bench/terminal.py --keeper-ab 3 [--echoes 1500] [--mb 20]   # keepers' cost

Echo: N one-byte round trips through `stty raw -echo; dd bs=1` (a bare `cat` for the raw PTY and
terminado). Bulk: `cat` of an N MB file of base64 text with the tty's usual output processing on (`stty
-echo` only: newlines become CRLF in the kernel, as in every shell); a repetition's bulk figure for a row is
the median of its --runs.

The whole set of rows runs --repeat times, the rows in turns (each repetition rotates their order by one and
every other one reverses it, so that no row always runs first, or right after the same neighbour), each
"ours" row on a fresh platform. Each row's figure is the median over the repetitions, with their range
(min-max); each ratio is computed within each repetition, then given as the median (range) of those. The
output ends with the same as a markdown table, as the docs quote it.

The breakdown (also --breakdown alone): the embedded shape and the production one (the session host as its
own process, the session in a keeper), each with TERMINAL_ECHO_TRACE on (terminal/trace.py: every process
on the path stamps each keystroke's frames at each hop), --echoes keystrokes typed one at a time; for each
hop its share of the round trip, median and p90, and the sum of those medians beside the round trip's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from terminal.wsclient import TerminalClient

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

Row = dict[str, Any]
NAN = float("nan")
ROWS = (
    ("raw", "raw PTY, bare reader (limit)"),
    ("sandbox", "our sandbox's PTY, bare reader"),
    ("terminado", "terminado (peer)"),
    ("ours", "ours, embedded (full stack, recording on)"),
    ("remote", "ours, session host + keeper (production)"),
    ("before", "ours, session host, no keeper"),
)


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


def row(lat: list[float], rates: list[float]) -> Row:
    """A row of one repetition: echo median and p99 (µs), and its bulk, the median of its runs (MB/s)."""
    med, p99 = summary(lat) if lat else (NAN, NAN)
    return {
        "echo_median_us": med,
        "echo_p99_us": p99,
        "bulk_MBps": statistics.median(rates) if rates else NAN,
        "bulk_runs": rates,
    }


def runs_text(rates: list[float]) -> str:
    return ", ".join(f"{r:.1f}" for r in rates)


# -- raw PTY: the physical limit ---------------------------------------------------------------------
def read_until_done(master: int) -> tuple[int, float]:
    """Read a PTY until the bulk marker: (bytes, seconds)."""
    total, t0, tail = 0, time.perf_counter(), b""
    while b"__BULK_DONE__" not in tail:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        total += len(chunk)
        tail = (tail + chunk)[-64:]
    return total, time.perf_counter() - t0


def bench_raw_pty(echoes: int, big: Path, runs: int) -> Row:
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

    rates = []
    for _ in range(runs):
        master, proc = spawn(f"stty -echo; cat {big}; echo __BULK_DONE__")
        total, elapsed = read_until_done(master)
        proc.kill()
        os.close(master)
        rates.append(total / elapsed / 1e6)
    print(f"  raw PTY, bulk runs: {runs_text(rates)} MB/s")
    return row(lat, rates)


# -- our sandbox's PTY, read bare ----------------------------------------------------------------------
def platform_env(data: Path, database_url: str = "") -> dict[str, str]:
    env = dict(os.environ, DATA_DIR=str(data), DJANGO_SETTINGS_MODULE="config.settings")
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    env.pop("SESSION_HOST_SOCKET", None)
    env.pop("TERMINAL_ECHO_TRACE", None)
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


def migrate_and_import(env: dict[str, str]) -> None:
    py = sys.executable
    subprocess.run([py, "manage.py", "migrate", "-v0"], cwd=REPO, env=env, check=True)
    subprocess.run(
        [py, "manage.py", "import_tasks", "examples/tasks/ssh_key"],
        cwd=REPO,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def setup_django(tmp: Path) -> None:
    """Django in this process, on a database of its own with the task imported: for the sandboxes that the
    bare-reader rows and the design checks provision themselves."""
    import django

    data = tmp / "data-bench"
    env = platform_env(data)
    migrate_and_import(env)
    os.environ.update(DATA_DIR=env["DATA_DIR"], DJANGO_SETTINGS_MODULE=env["DJANGO_SETTINGS_MODULE"])
    for name in ("DATABASE_URL", "REDIS_URL", "SESSION_HOST_SOCKET"):
        os.environ.pop(name, None)
    django.setup()


@contextlib.contextmanager
def sandboxed_cat(mb: int) -> Iterator[tuple[list[str], dict[str, str]]]:
    """A sandbox of ours holding an mb MB file of base64 text; the argv and environment that run, in it on
    a PTY, `stty -echo; cat` of that file and the bulk marker."""
    from sandbox import get_backend
    from sandbox.bubblewrap import BubblewrapSandbox
    from tasks.models import Task
    from tasks.services.environment import sandbox_spec

    tv = Task.objects.get().latest_version
    assert tv is not None
    sandbox = get_backend().provision(sandbox_spec(tv))
    try:
        make = f"head -c {mb * 3 // 4}000000 /dev/urandom | base64 -w 76 > /tmp/big"
        sandbox.exec(["sh", "-c", make], user="agent", timeout=300)
        assert isinstance(sandbox, BubblewrapSandbox)
        yield sandbox.command(
            ["bash", "-c", "stty -echo; cat /tmp/big; echo __BULK_DONE__"], user="agent", tty=True
        )
    finally:
        sandbox.destroy()


def bench_sandbox_pty(mb: int, runs: int) -> Row:
    """The same cat, in a bubblewrap sandbox of ours, read straight from its PTY by a bare loop."""
    rates = []
    with sandboxed_cat(mb) as (argv, env):
        for _ in range(runs):
            master, slave = os.openpty()
            proc = subprocess.Popen(
                argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True
            )
            os.close(slave)
            total, elapsed = read_until_done(master)
            proc.kill()
            os.close(master)
            rates.append(total / elapsed / 1e6)
    print(f"  our sandbox's PTY, bulk runs: {runs_text(rates)} MB/s")
    return row([], rates)


def design_checks(mb: int, runs: int) -> dict[tuple[str, int], list[float]]:
    """The sandboxed cat read on an event loop that works W ms per MB, from the PTY or through the copier:
    each case's --runs (MB/s)."""
    with sandboxed_cat(mb) as (argv, env):
        return {
            (how, work): [asyncio.run(loop_reader(argv, env, how, work)) for _ in range(runs)]
            for how in ("PTY read on the loop", "through the copier (ours)")
            for work in (0, 5, 10)
        }


async def loop_reader(argv: list[str], env: dict[str, str], how: str, work_ms_per_mb: int) -> float:
    """Read the shell's output on an asyncio loop that spends work_ms_per_mb per MB (busy), either from
    the PTY itself or through terminal.host.Pty's copier: what the copier buys."""
    from terminal.host import READ_BATCH, Pty

    master, slave = os.openpty()
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True)
    os.close(slave)
    pty = Pty(master) if "copier" in how else None
    fd = pty.output if pty else master
    os.set_blocking(fd, False)
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    total, tail = 0, b""

    def readable() -> None:
        nonlocal total, tail
        got = b""
        try:
            while len(got) < READ_BATCH:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                got += chunk
        except OSError:  # BlockingIOError: all there is for now; EIO: the shell is gone
            pass
        total += len(got)
        tail = (tail + got)[-64:]
        spin_until = time.perf_counter() + work_ms_per_mb * len(got) / 1e9
        while time.perf_counter() < spin_until:
            pass
        if b"__BULK_DONE__" in tail and not done.done():
            done.set_result(None)

    t0 = time.perf_counter()
    loop.add_reader(fd, readable)
    await asyncio.wait_for(done, 120)
    elapsed = time.perf_counter() - t0
    loop.remove_reader(fd)
    proc.kill()
    proc.wait()
    if pty:
        pty.close()
        pty.reap()
    else:
        os.close(master)
    return total / elapsed / 1e6


def recorder_costs(big: Path) -> dict[str, float]:
    """Milliseconds per MB of terminal text (CRLF line ends, as a shell prints) to make asciicast events."""
    import codecs

    from terminal.recording import AsciicastWriter

    data = big.read_bytes()[:20_000_000].replace(b"\n", b"\r\n")
    chunks = [data[i : i + 65536] for i in range(0, len(data), 65536)]
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    t0 = time.perf_counter()
    lines = [json.dumps([1.0, "o", decoder.decode(c)], ensure_ascii=False).encode() for c in chunks]
    dumps = time.perf_counter() - t0
    del lines
    with tempfile.TemporaryDirectory() as d:
        writer = AsciicastWriter(Path(d) / "bench.cast", width=80, height=24)
        t0 = time.perf_counter()
        for c in chunks:
            writer.output(c)
        writer.close()
        ours = time.perf_counter() - t0
        # the same text past a 1 MB cap (RECORDING_MAX_MB): the marker, a sample, the rest dropped
        writer = AsciicastWriter(Path(d) / "capped.cast", width=80, height=24, max_bytes=1_000_000)
        t0 = time.perf_counter()
        for c in chunks:
            writer.output(c)
        writer.close()
        capped = time.perf_counter() - t0
    mb = len(data) / 1e6
    return {
        "json.dumps of the decoded text (a peer)": dumps * 1e3 / mb,
        "our writer (orjson), file included": ours * 1e3 / mb,
        "our writer past its size cap (1 MB)": capped * 1e3 / mb,
    }


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


async def bench_terminado(echoes: int, big: Path, runs: int) -> Row:
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
            rates = []
            for _ in range(runs):
                t0 = time.perf_counter()
                await ws.send(json.dumps(["stdin", f"cat {big}; echo __BULK_''DONE__\r"]))
                total = await until("__BULK_DONE__")
                rates.append(total / (time.perf_counter() - t0) / 1e6)
    finally:
        proc.kill()
        proc.wait()
    print(f"  terminado, bulk runs: {runs_text(rates)} MB/s")
    return row(lat, rates)


# -- ours: the whole stack ---------------------------------------------------------------------------
def start_platform(
    tmp: Path,
    remote: bool,
    in_process: bool = False,
    database_url: str = "",
    extra_env: dict[str, str] | None = None,
) -> tuple[list[subprocess.Popen[bytes]], str, str, str]:
    """The platform on SQLite in tmp (or on database_url): uvicorn, and with remote, its own session host
    process (production's shape: the web process relays frames to the host over a Unix socket). The first
    process is the web. extra_env: more environment for the web and session host processes (not for the
    database's set-up)."""
    data = tmp / ("data-in-process" if in_process else "data-remote" if remote else "data")
    env = platform_env(data, database_url)
    procs: list[subprocess.Popen[bytes]] = []
    py = sys.executable
    migrate_and_import(env)
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
    env.update(extra_env or {})
    if remote:
        sock = data / "session-host.sock"
        env["SESSION_HOST_SOCKET"] = str(sock)
        host = [py, "manage.py", "session_host", *(["--in-process"] if in_process else [])]
        procs.append(subprocess.Popen(host, cwd=REPO, env=env))
        for _ in range(400):
            if sock.exists():
                break
            time.sleep(0.05)
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
        [web, *procs],
        f"ws://127.0.0.1:{port}/ws/terminal/{session_id}/",
        f"sessionid={cookie}",
        f"http://127.0.0.1:{port}",
    )


async def bench_ours(
    echoes: int,
    mb: int,
    tmp: Path,
    runs: int = 1,
    remote: bool = False,
    in_process: bool = False,
    extra_env: dict[str, str] | None = None,
    client: ClientStamps | None = None,
) -> Row:
    """One row of ours on a fresh platform: --echoes keystrokes, then `runs` bulk runs (none: no bulk).
    client, if given, gets the client's own stamps of each keystroke."""
    from terminal.wsclient import TerminalClient

    procs, url, cookie, origin = start_platform(tmp, remote, in_process, extra_env=extra_env)
    try:
        c = TerminalClient(url, cookie=cookie, origin=origin)
        await c.connect(cols=200)
        await c.wait_for("$ ", timeout=60)
        if client is not None:
            client.watch(c)  # (from the reader's next message on: the one it waits for now is not stamped)
        if remote and not in_process:  # the session's keeper does the terminal's work: count its CPU too
            procs = [*procs, *keepers_of(url.rstrip("/").rsplit("/", 1)[-1])]  # type: ignore[list-item]
        if runs:
            # the file is made inside the sandbox (its /tmp), the same bytes cat sends through every layer
            await c.send_input(
                f"head -c {mb * 3 // 4}000000 /dev/urandom | base64 -w 76 > /tmp/big; echo MA''DE\r"
            )
            await c.wait_for("MADE", timeout=120)
        await c.send_input(
            f"stty raw -echo; echo RE''ADY; dd bs=1 count={echoes} status=none; stty sane -echo; clear\r"
        )
        await c.wait_for("READY", timeout=10)
        await asyncio.sleep(0.2)
        lat = []
        for _ in range(echoes):
            mark = c.received
            sent = time.monotonic_ns()
            await c.send_input(b"x")
            returned = time.monotonic_ns()
            await c.wait_for(b"x", since=mark, timeout=5)
            received = time.monotonic_ns()
            lat.append((received - sent) / 1e9)
            if client is not None:
                client.keystrokes.append((sent, received))
                client.send_calls.append(returned - sent)
        await asyncio.sleep(0.5)
        rates = []
        for run in range(runs):
            start = c.received
            cpu0 = sum(cpu_seconds(p.pid) for p in procs), time.process_time()
            t0 = time.perf_counter()
            if run == 0 and os.environ.get("BENCH_PROFILE"):
                subprocess.Popen(  # samples the server (where it holds the GIL) for 4 s while the bulk runs
                    [
                        str(Path(sys.executable).parent / "py-spy"),
                        "record",
                        "-o",
                        os.environ["BENCH_PROFILE"],
                        "-f",
                        "raw",
                        "--gil",
                        "-d",
                        "4",
                        "-p",
                        str(procs[-1].pid),  # the session host: the web process, or its own
                    ]
                )
                await asyncio.sleep(0.5)
            await c.send_input("cat /tmp/big; echo __BULK_''DONE__\r")
            end = await c.wait_for("__BULK_DONE__", since=start, timeout=300)
            elapsed = time.perf_counter() - t0
            server_cpu = sum(cpu_seconds(p.pid) for p in procs) - cpu0[0]
            client_cpu = time.process_time() - cpu0[1]
            rates.append((end - start) / elapsed / 1e6)
            print(
                f"  ours{' (remote)' if remote else ''}, bulk {rates[-1]:.1f} MB/s: server"
                f" {server_cpu / elapsed:.0%} of a core (copiers not included), client {client_cpu / elapsed:.0%}"
            )
        await c.close()
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait()
    return row(lat, rates)


@dataclass
class ClientStamps:
    """The bench client's side of each keystroke, in CLOCK_MONOTONIC nanoseconds: (sent, echo seen by the
    typing loop), how long its send() call took, and when its reader got each output frame (before its ack
    and before the typing loop is woken)."""

    keystrokes: list[tuple[int, int]] = field(default_factory=list)
    send_calls: list[int] = field(default_factory=list)
    frames: list[int] = field(default_factory=list)

    def watch(self, c: TerminalClient) -> None:
        recv = c.ws.recv  # (the reader's `async for` calls the connection's recv() for each message)

        async def stamped(*args: Any, **kwargs: Any) -> Any:
            msg = await recv(*args, **kwargs)
            if isinstance(msg, bytes) and msg[:1] == b"o":
                self.frames.append(time.monotonic_ns())
            return msg

        c.ws.recv = stamped


def keepers_of(session_id: str) -> list[Keeper]:
    """The keeper process of a session (terminal/keeper.py), found by its command line."""
    from terminal.keeper import keeper_pids

    return [Keeper(pid) for pid in keeper_pids(session_id)]


class Keeper:
    """A keeper process, where a Popen stands: not our child (it forked away), so it is ended by SIGTERM
    (its session ends cleanly) and waited for by polling."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def terminate(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)

    def wait(self) -> None:
        for _ in range(200):
            if not os.path.exists(f"/proc/{self.pid}"):
                return
            time.sleep(0.05)


def keeper_ab(pairs: int, echoes: int, mb: int) -> None:
    """The keeper's cost on the production path: the session host as its own process with each session in
    a keeper, against the same host holding the sessions itself (`session_host --in-process`, the shape
    before keepers), in interleaved pairs (ABBA...), each on a fresh platform. Medians and ranges."""
    rows: dict[str, list[Row]] = {"keeper": [], "in-process": []}
    with tempfile.TemporaryDirectory(prefix="bench-keeper-") as d:
        tmp = Path(d)
        tmp.chmod(0o755)
        for i in range(pairs):
            order = [("keeper", False), ("in-process", True)]
            for name, in_process in order if i % 2 == 0 else order[::-1]:
                run_dir = tmp / f"{name}-{i}"
                run_dir.mkdir(mode=0o755)
                r = asyncio.run(bench_ours(echoes, mb, run_dir, 1, remote=True, in_process=in_process))
                rows[name].append(r)
                print(
                    f"  pair {i}, {name}: echo median {r['echo_median_us']:.0f} µs, bulk {r['bulk_MBps']:.1f} MB/s"
                )
    for key, unit in (("echo_median_us", "µs"), ("echo_p99_us", "µs"), ("bulk_MBps", "MB/s")):
        k = [r[key] for r in rows["keeper"]]
        n = [r[key] for r in rows["in-process"]]
        print(
            f"{key}: keeper {statistics.median(k):.0f} {unit} ({min(k):.0f}-{max(k):.0f}),"
            f" in-process {statistics.median(n):.0f} {unit} ({min(n):.0f}-{max(n):.0f}),"
            f" ratio of medians {statistics.median(k) / statistics.median(n):.2f}x"
        )


# -- where a keystroke's time goes ---------------------------------------------------------------------
# Each share is the time from one stamp of terminal/trace.py to the next, the client's own send and receive
# at either end; what happens in between.
SHARES = {
    ("client_send", "asgi_recv"): "client's send, loopback TCP, uvicorn: frame parsed, queued to the app",
    ("asgi_recv", "ws_recv"): "Channels: the receive task ends, its dispatch loop wakes",
    ("ws_recv", "sock_send"): "consumer: frame parsed, gateway",
    ("sock_send", "host_recv"): "Unix socket to the keeper, its stream reader",
    ("host_recv", "pty_write"): "keeper: frame parsed, input recorded",
    ("ws_recv", "pty_write"): "consumer: frame parsed, host: input recorded",
    ("pty_write", "pty_read"): "input pipe, copier, PTY, the shell's echo, PTY, copier, output pipe",
    ("pty_read", "pump"): "output into the ring and the recording, the client's pump wakes",
    ("pump", "host_send"): "keeper: the socket's send lock",
    ("host_send", "web_recv"): "Unix socket to the web process, its relay's read",
    ("web_recv", "ws_send"): "relay to the consumer",
    ("pump", "ws_send"): "pump to the consumer",
    ("ws_send", "asgi_send"): "consumer: send lock, Channels' send",
    ("asgi_send", "client_frame"): "uvicorn: frame written; loopback TCP; the client's websockets read",
    ("client_frame", "client_recv"): "client: its ack sent, the typing loop woken",
}


def keystroke_hops(
    stamps: list[tuple[int, int, str]], keystrokes: list[tuple[int, int]], hops: tuple[str, ...]
) -> list[list[int]]:
    """For each keystroke (typed alone, sent-received in ns), the times of its hops in path order,
    client_send first and client_recv last; a keystroke whose stamps are not exactly `hops`, once each and
    in that order, is left out."""
    from terminal.trace import keystroke_stamps

    complete = []
    for (sent, received), mine in zip(keystrokes, keystroke_stamps(stamps, keystrokes), strict=True):
        if tuple(hop for _, hop in mine) == hops:
            complete.append([sent, *(ns for ns, _ in mine), received])
    return complete


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * q))]


def breakdown_table(shape: str, hops: tuple[str, ...], times: list[list[int]], total: int) -> None:
    names = ("client_send", *hops, "client_recv")  # hops: the trace's, and the client's frame
    rtt = [(t[-1] - t[0]) / 1e3 for t in times]
    print(f"\n{shape}: {len(times)} of {total} keystrokes with every hop stamped once, in order")
    print("| from | to | what happens | median µs | p90 µs |")
    print("|---|---|---|---|---|")
    medians = []
    for i in range(len(names) - 1):
        share = [(t[i + 1] - t[i]) / 1e3 for t in times]
        medians.append(statistics.median(share))
        what = SHARES.get((names[i], names[i + 1]), "")
        print(f"| {names[i]} | {names[i + 1]} | {what} | {medians[-1]:.0f} | {pct(share, 0.9):.0f} |")
    print(f"| | | the shares' medians, summed | {sum(medians):.0f} | |")
    print(
        f"| client_send | client_recv | the round trip | {statistics.median(rtt):.0f} | {pct(rtt, 0.9):.0f} |"
    )


def stamp_cost() -> float:
    """µs per trace stamp (a record packed into a memory map, as terminal/trace.py does), measured here."""
    import mmap

    from terminal.trace import RECORD

    n = 20000
    m = mmap.mmap(-1, RECORD.size * n)
    t0 = time.perf_counter()
    for i in range(n):
        RECORD.pack_into(m, i * RECORD.size, time.monotonic_ns(), b"pty_write")
    return (time.perf_counter() - t0) / n * 1e6


def breakdown(echoes: int, tmp: Path) -> None:
    """Both shapes with TERMINAL_ECHO_TRACE on: each hop's share of a keystroke's round trip."""
    from terminal.trace import EMBEDDED_HOPS, HOPS, read

    print(
        f"\nWhere a keystroke's time goes ({echoes} keystrokes typed one at a time, TERMINAL_ECHO_TRACE on)"
    )
    for shape, remote in (("embedded", False), ("session host + keeper (production)", True)):
        run_dir = tmp / f"breakdown-{'remote' if remote else 'embedded'}"
        run_dir.mkdir(mode=0o755)
        path = run_dir / "echo-trace"
        client = ClientStamps()
        env = {"TERMINAL_ECHO_TRACE": str(path)}
        asyncio.run(bench_ours(echoes, 0, run_dir, 0, remote, extra_env=env, client=client))
        stamps = sorted([*read(path), *((ns, os.getpid(), "client_frame") for ns in client.frames)])
        hops = (*(HOPS if remote else EMBEDDED_HOPS), "client_frame")
        breakdown_table(shape, hops, keystroke_hops(stamps, client.keystrokes, hops), len(client.keystrokes))
        calls = [n / 1e3 for n in client.send_calls]
        print(
            f"(of the first share, the client's own send() call: median {statistics.median(calls):.0f} µs,"
            f" p90 {pct(calls, 0.9):.0f}; its write(2) is its last step)"
        )
        shutil.rmtree(run_dir, ignore_errors=True)
    print(
        f"\nThe trace's own cost: {stamp_cost():.2f} µs a stamp (into a memory map, measured here);"
        f" {len(EMBEDDED_HOPS)} stamps per keystroke embedded, {len(HOPS)} in production, in the shares above."
    )


# -- the repeated set ------------------------------------------------------------------------------------
def turns(i: int) -> list[tuple[str, str]]:
    """Repetition i's order of the rows: rotated by i, every other one reversed."""
    n = i % len(ROWS)
    order = [*ROWS[n:], *ROWS[:n]]
    return order[::-1] if i % 2 else order


def run_row(key: str, args: argparse.Namespace, big: Path, rep_dir: Path) -> Row:
    if key == "raw":
        return bench_raw_pty(args.echoes, big, args.runs)
    if key == "sandbox":
        return bench_sandbox_pty(args.mb, args.runs)
    if key == "terminado":
        return asyncio.run(bench_terminado(args.echoes, big, args.runs))
    remote, in_process = key in ("remote", "before"), key == "before"
    return asyncio.run(bench_ours(args.echoes, args.mb, rep_dir, args.runs, remote, in_process))


# Ratios, each computed within one repetition: (label, unit, its value from that repetition's rows).
RATIOS: list[tuple[str, str, Callable[[dict[str, Row]], float]]] = [
    (
        "echo median, ours embedded - raw PTY",
        "µs",
        lambda r: r["ours"]["echo_median_us"] - r["raw"]["echo_median_us"],
    ),
    (
        "echo median, session host + keeper - raw PTY",
        "µs",
        lambda r: r["remote"]["echo_median_us"] - r["raw"]["echo_median_us"],
    ),
    ("echo p99, ours embedded - raw PTY", "µs", lambda r: r["ours"]["echo_p99_us"] - r["raw"]["echo_p99_us"]),
    (
        "echo p99, session host + keeper - raw PTY",
        "µs",
        lambda r: r["remote"]["echo_p99_us"] - r["raw"]["echo_p99_us"],
    ),
    (
        "echo median, ours embedded / terminado",
        "x",
        lambda r: r["ours"]["echo_median_us"] / r["terminado"]["echo_median_us"],
    ),
    (
        "echo median, session host + keeper / terminado",
        "x",
        lambda r: r["remote"]["echo_median_us"] / r["terminado"]["echo_median_us"],
    ),
    (
        "echo median, keeper / no keeper",
        "x",
        lambda r: r["remote"]["echo_median_us"] / r["before"]["echo_median_us"],
    ),
    ("bulk, ours embedded / terminado", "x", lambda r: r["ours"]["bulk_MBps"] / r["terminado"]["bulk_MBps"]),
    (
        "bulk, session host + keeper / terminado",
        "x",
        lambda r: r["remote"]["bulk_MBps"] / r["terminado"]["bulk_MBps"],
    ),
    ("bulk, keeper / no keeper", "x", lambda r: r["remote"]["bulk_MBps"] / r["before"]["bulk_MBps"]),
    ("bulk, ours embedded / raw PTY", "x", lambda r: r["ours"]["bulk_MBps"] / r["raw"]["bulk_MBps"]),
    (
        "bulk, ours embedded / our sandbox's PTY read bare",
        "x",
        lambda r: r["ours"]["bulk_MBps"] / r["sandbox"]["bulk_MBps"],
    ),
]
AIMS = {
    "echo median, ours embedded - raw PTY": "at most 250 µs (issue 20)",
    "echo median, session host + keeper - raw PTY": "at most 250 µs",
    "echo p99, ours embedded - raw PTY": "at most 600 µs",
    "echo p99, session host + keeper - raw PTY": "at most 600 µs",
    "bulk, ours embedded / terminado": "at least 2x",
}


def report(
    results: dict[str, list[Row]],
    args: argparse.Namespace,
    checks: dict[tuple[str, int], list[float]],
    recording: dict[str, float],
) -> None:
    from bench.load import cell  # (not at the top: bench/load.py imports this module)

    reps = len(results["raw"])
    per_rep = [{key: results[key][i] for key, _ in ROWS} for i in range(reps)]
    what = (
        f"{reps} repetitions, rows in turns; each: {args.echoes} echoes, bulk the median of {args.runs}"
        f" runs of {args.mb} MB; figures: median (min-max) over the repetitions"
    )

    def fig(values: list[float], fmt: str) -> str:
        return "—" if any(v != v for v in values) else cell(values, fmt)

    print(f"\n{what}")
    print(f"{'':44}{'echo median µs':>22}{'echo p99 µs':>22}{'bulk MB/s':>24}")
    for key, name in ROWS:
        rs = results[key]
        echo = fig([r["echo_median_us"] for r in rs], "{:.0f}")
        p99 = fig([r["echo_p99_us"] for r in rs], "{:.0f}")
        bulk = fig([r["bulk_MBps"] for r in rs], "{:.1f}")
        print(f"{name:44}{echo:>22}{p99:>22}{bulk:>24}")
    print()
    ratios = []
    for label, unit, value in RATIOS:
        values = [value(r) for r in per_rep]
        text = fig(values, "{:.0f}" if unit == "µs" else "{:.2f}") + ("" if unit == "x" else " ") + unit
        ratios.append((label, text))
        aim = f" (aim: {AIMS[label]})" if label in AIMS else ""
        print(f"{label + ':':52}{text}{aim}")
    print()
    print("Design checks, the same sandboxed cat read on an event loop that does W ms of work per MB")
    print(f"(median of {args.runs} runs, and their range):")
    for (how, work), rates in checks.items():
        print(f"  {how:28} W = {work:>2} ms/MB: {fig(rates, '{:.1f}'):>20} MB/s")
    for name, ms in recording.items():
        print(f"  recording, {name:36} {ms:5.2f} ms per MB of terminal text")
    print(f"\nAs markdown ({what}):\n")
    print("| | echo median µs | echo p99 µs | bulk MB/s |")
    print("|---|---|---|---|")
    for key, name in ROWS:
        rs = results[key]
        cells = [
            fig([r[k] for r in rs], f)
            for k, f in (("echo_median_us", "{:.0f}"), ("echo_p99_us", "{:.0f}"), ("bulk_MBps", "{:.1f}"))
        ]
        print(f"| {name} | {' | '.join(cells)} |")
    print("\n| ratio (within each repetition) | median (range) |")
    print("|---|---|")
    for label, text in ratios:
        print(f"| {label} | {text} |")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--echoes", type=int, default=2000)
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument(
        "--runs", type=int, default=3, help="bulk runs per row and repetition; their median counts"
    )
    parser.add_argument(
        "--repeat", type=int, default=5, help="repetitions of the whole set of rows, in turns"
    )
    parser.add_argument(
        "--breakdown", action="store_true", help="instead: only where a keystroke's time goes (both shapes)"
    )
    parser.add_argument(
        "--keeper-ab",
        type=int,
        default=0,
        metavar="N",
        help="instead: N interleaved pairs of the production shape with and without keepers",
    )
    args = parser.parse_args()
    if args.keeper_ab:
        keeper_ab(args.keeper_ab, args.echoes, args.mb)
        return
    with tempfile.TemporaryDirectory(prefix="bench-terminal-") as d:
        tmp = Path(d)
        tmp.chmod(0o755)  # the sandboxes' unprivileged uids must reach their files under it
        if args.breakdown:
            breakdown(args.echoes, tmp)
            return
        big = tmp / "big.txt"
        subprocess.run(
            f"head -c {args.mb * 3 // 4}000000 /dev/urandom | base64 -w 76 > {big}", shell=True, check=True
        )
        setup_django(tmp)
        results: dict[str, list[Row]] = {key: [] for key, _ in ROWS}
        for i in range(args.repeat):
            rep_dir = tmp / f"rep-{i}"
            rep_dir.mkdir(mode=0o755)
            for key, name in turns(i):
                print(f"repetition {i + 1} of {args.repeat}: {name}", flush=True)
                results[key].append(run_row(key, args, big, rep_dir))
            shutil.rmtree(rep_dir, ignore_errors=True)  # its platforms' recordings (up to --mb x --runs each)
        checks = design_checks(args.mb, args.runs)
        report(results, args, checks, recorder_costs(big))
        breakdown(args.echoes, tmp)


if __name__ == "__main__":
    main()
