"""Terminal benchmark: keystroke echo latency and bulk throughput through the whole stack (browser protocol,
uvicorn, Channels, session host, recording on, bubblewrap sandbox), embedded and with the session host as its
own process, beside a raw local PTY read by a bare loop (the limit for echo; for throughput a reader that
keeps the shell writing while it works, as ours does, can pass it) and terminado (Jupyter's terminal
server, a peer), measured in the same run and printed as ratios; then the design checks behind the session
host's output path.

    .venv/bin/python bench/terminal.py [--echoes 2000] [--mb 100] [--runs 3]
    .venv/bin/python bench/terminal.py --keeper-ab 3 [--echoes 1500] [--mb 20]   # keepers' cost

Echo: N one-byte round trips through `stty raw -echo; cat`. Bulk: `cat` of an N MB file of base64 text
with the tty's usual output processing on (`stty -echo` only: newlines become CRLF in the kernel, as in
every shell), best of --runs for each row, so that one slow run of a peer does not flatter us.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
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


def bench_raw_pty(echoes: int, big: Path, runs: int) -> dict[str, float]:
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
    print(f"  raw PTY, bulk runs: {', '.join(f'{r:.1f}' for r in rates)} MB/s")
    med, p99 = summary(lat)
    return {"echo_median_us": med, "echo_p99_us": p99, "bulk_MBps": max(rates)}


def bench_sandbox_pty(mb: int, tmp: Path, runs: int) -> tuple[dict[str, float], dict[tuple[str, int], float]]:
    """The same cat, in a bubblewrap sandbox of ours, read straight from its PTY by a bare loop."""
    import django

    os.environ["DATA_DIR"] = str(tmp / "data")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from sandbox import get_backend
    from tasks.models import Task
    from tasks.services.environment import sandbox_spec

    tv = Task.objects.get().latest_version
    assert tv is not None
    sandbox = get_backend().provision(sandbox_spec(tv))
    try:
        make = f"head -c {mb * 3 // 4}000000 /dev/urandom | base64 -w 76 > /tmp/big"
        sandbox.exec(["sh", "-c", make], user="agent", timeout=300)
        from sandbox.bubblewrap import BubblewrapSandbox

        assert isinstance(sandbox, BubblewrapSandbox)
        argv, env = sandbox.command(
            ["bash", "-c", "stty -echo; cat /tmp/big; echo __BULK_DONE__"], user="agent", tty=True
        )
        rates = []
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
        pipeline = {
            (how, work): max(asyncio.run(loop_reader(argv, env, how, work)) for _ in range(runs))
            for how in ("PTY read on the loop", "through the copier (ours)")
            for work in (0, 5, 10)
        }
    finally:
        sandbox.destroy()
    row = {"echo_median_us": float("nan"), "echo_p99_us": float("nan"), "bulk_MBps": max(rates)}
    return row, pipeline


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


async def bench_terminado(echoes: int, big: Path, runs: int) -> dict[str, float]:
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
    print(f"  terminado, bulk runs: {', '.join(f'{r:.1f}' for r in rates)} MB/s")
    med, p99 = summary(lat)
    return {"echo_median_us": med, "echo_p99_us": p99, "bulk_MBps": max(rates)}


# -- ours: the whole stack ---------------------------------------------------------------------------
def start_platform(
    tmp: Path, remote: bool, in_process: bool = False, database_url: str = ""
) -> tuple[list[subprocess.Popen[bytes]], str, str, str]:
    """The platform on SQLite in tmp (or on database_url): uvicorn, and with remote, its own session host
    process (production's shape: the web process relays frames to the host over a Unix socket). The first
    process is the web."""
    data = tmp / ("data-in-process" if in_process else "data-remote" if remote else "data")
    env = dict(os.environ, DATA_DIR=str(data), DJANGO_SETTINGS_MODULE="config.settings")
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    env.pop("SESSION_HOST_SOCKET", None)
    if database_url:
        env["DATABASE_URL"] = database_url
    procs: list[subprocess.Popen[bytes]] = []
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
    echoes: int, mb: int, tmp: Path, runs: int = 1, remote: bool = False, in_process: bool = False
) -> dict[str, float]:
    from terminal.wsclient import TerminalClient

    procs, url, cookie, origin = start_platform(tmp, remote, in_process)
    try:
        c = TerminalClient(url, cookie=cookie, origin=origin)
        await c.connect(cols=200)
        await c.wait_for("$ ", timeout=60)
        if remote and not in_process:  # the session's keeper does the terminal's work: count its CPU too
            procs = [*procs, *keepers_of(url.rstrip("/").rsplit("/", 1)[-1])]  # type: ignore[list-item]
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
        del since
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait()
    med, p99 = summary(lat)
    return {
        "echo_median_us": med,
        "echo_p99_us": p99,
        "bulk_MBps": max(rates),
        "bulk_median_MBps": statistics.median(rates),
    }


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
    rows: dict[str, list[dict[str, float]]] = {"keeper": [], "in-process": []}
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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--echoes", type=int, default=2000)
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3, help="bulk runs per row; the best counts")
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
        big = tmp / "big.txt"
        subprocess.run(
            f"head -c {args.mb * 3 // 4}000000 /dev/urandom | base64 -w 76 > {big}", shell=True, check=True
        )
        raw = bench_raw_pty(args.echoes, big, args.runs)
        peer = asyncio.run(bench_terminado(args.echoes, big, args.runs))
        ours = asyncio.run(bench_ours(args.echoes, args.mb, tmp, args.runs))
        remote = asyncio.run(bench_ours(args.echoes, args.mb, tmp, args.runs, remote=True))
        before = asyncio.run(bench_ours(args.echoes, args.mb, tmp, args.runs, remote=True, in_process=True))
        sandboxed, pipeline = bench_sandbox_pty(args.mb, tmp, args.runs)
        recording = recorder_costs(big)
    rows = [
        ("raw PTY, bare reader (limit)", raw),
        ("our sandbox's PTY, bare reader", sandboxed),
        ("terminado (peer)", peer),
        ("ours (full stack, recording on)", ours),
        ("ours, session host + keeper", remote),
        ("ours, session host, no keeper", before),
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
    print(f"  the same, session host process:   {remote['echo_median_us'] - raw['echo_median_us']:+.0f} µs")
    print(
        f"keeper / no keeper (session host process): echo median {remote['echo_median_us'] / before['echo_median_us']:.2f}x,"
        f" bulk median {remote['bulk_median_MBps'] / before['bulk_median_MBps']:.2f}x"
    )
    print(f"echo median, ours / terminado:      {ours['echo_median_us'] / peer['echo_median_us']:.2f}x")
    print(
        f"bulk throughput, ours / terminado:  {ours['bulk_MBps'] / peer['bulk_MBps']:.2f}x (aim: at least 2x)"
    )
    print(f"  the same, session host process:   {remote['bulk_MBps'] / peer['bulk_MBps']:.2f}x")
    print(f"bulk throughput, ours / raw PTY:    {ours['bulk_MBps'] / raw['bulk_MBps']:.2f}x")
    print(
        f"bulk throughput, ours / our sandbox's PTY read bare: {ours['bulk_MBps'] / sandboxed['bulk_MBps']:.2f}x"
    )
    print()
    print("Design checks, the same sandboxed cat read on an event loop that does W ms of work per MB:")
    for (how, work), rate in pipeline.items():
        print(f"  {how:28} W = {work:>2} ms/MB: {rate:6.1f} MB/s")
    for name, ms in recording.items():
        print(f"  recording, {name:36} {ms:5.2f} ms per MB of terminal text")


if __name__ == "__main__":
    main()
