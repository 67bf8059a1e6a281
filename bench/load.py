"""Load benchmark: N live sessions at once on this machine, each typing at human speed, embedded and with the
session host as its own process (keepers), on a ladder of N; what it costs and where it breaks.

    .venv/bin/python bench/load.py [--ladder 10,30,60,100,200,300] [--seconds 60] [--repeat 1]
                                   [--modes embedded,production]

Each rung starts a fresh platform (PostgreSQL when DATABASE_URL names one, as in production: a fresh
database per run on that server; else SQLite), opens N sessions of ssh_key/find_key at the same moment (a
burst of Start presses: the time from each browser's hello to its first prompt is "prompt"), then for
--seconds each session types a key every 150-400 ms (the echo of each is timed: "echo") and once a minute,
at a random moment, prints 1 MB (`head -c 750000 /dev/urandom | base64`). "errors": sessions that did not
reach their prompt in 120 s, keystrokes not echoed within 5 s, connections closed under a client. The
platform's CPU (web, session host, keepers, their copier processes; not the sandboxes) is in cores over the
typing phase; its memory (PSS, the same processes) in all, and per live session over what it held before
the first (the web process's Django, the session host's). The client is a Python asyncio program
on the same 2 cores: its own latency is in every figure, the same for every rung.

With --repeat R every rung runs R times (modes interleaved) and the table gives the median and the range.

With --read SECONDS[,SECONDS...] the sessions are opened as contractors open theirs: N contractors, each
with a reserved assignment, open its page at the same moment (which warms its sandbox while they read),
read for SECONDS, then all press Start at once; "prompt" is then from the press (the form's POST, the
redirect to the session page, the WebSocket) to the first prompt. 0 is a Start pressed at once.

Against a running stack instead (`make run`, or the composed stack of docs/deployment.md):

    .venv/bin/python bench/load.py --url http://127.0.0.1:8000 --login staff:PASSWORD [--ladder 10,30]
                                   [--compose PROJECT | --pids PID,...] [--task ssh_key/find_key]

the staff account opens the sessions as Try a task does (over HTTP, its login and CSRF as a browser's),
and reads staff pages and exports (the Sessions page, Statistics, baselines.csv, tasks.csv) one after
another all along: their times are "staff pages". The platform's CPU and memory are those of the process
trees under --pids, or of the compose project's web, worker, beat and session host containers (the
sandboxes' containers are not counted). It ends with the largest number of sessions the stack held with no
error and echo p99 under 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import http.cookiejar
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.terminal import Keeper, cpu_seconds, start_platform  # noqa: E402
from terminal.keeper import keeper_pids  # noqa: E402

PROMPT_TIMEOUT = 120.0
ECHO_TIMEOUT = 5.0
BURST = "head -c 750000 /dev/urandom | base64 -w 76; echo BU''RST_DONE\r"


@dataclass
class Sample:
    prompt: list[float] = field(default_factory=list)
    page: list[float] = field(default_factory=list)  # with --read: from the press to the session page landed
    burst_cpu: tuple[float, float] = (float("nan"), float("nan"))  # client, web + host: CPU s while starting
    echo: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * q))]


def pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid: int) -> list[int]:
    try:
        out = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    return [int(c) for c in out]


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def web_and_host_cpu(procs: list[Any]) -> float:
    """CPU seconds of the web process (its uvicorn workers included) and the session host process."""
    web = [procs[0].pid, *children(procs[0].pid)]
    return sum(cpu_seconds(p) for p in [*web, *(p.pid for p in procs[1:])] if os.path.exists(f"/proc/{p}"))


def platform_pids(procs: list[Any], session_ids: list[str], remote: bool) -> tuple[list[int], list[int]]:
    """The platform's processes (web, session host, each session's keeper, and their copiers, `cat`), and
    of those the keepers."""
    keepers = keeper_pids(*session_ids) if remote else []  # (one pass over /proc for them all)
    pids = [p.pid for p in procs] + keepers
    copiers = [c for pid in pids for c in children(pid) if comm(c) in ("cat", "setpriv")]
    return pids + copiers, keepers


def fresh_database(base: str, name: str) -> str:
    """A new empty database on the server of `base` (a postgres:// URL); its URL."""
    import psycopg

    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return base.rsplit("/", 1)[0] + "/" + name


def drop_database(base: str, name: str) -> None:
    import psycopg

    with contextlib.suppress(Exception), psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def platform_shell(tmp: Path, remote: bool, database_url: str, code: str) -> Any:
    """Run `code` in `manage.py shell` on the rung's platform (its data directory and database); the JSON
    its last line printed."""
    env = dict(os.environ, DATA_DIR=str(tmp / ("data-remote" if remote else "data")))
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    for k in ("DATABASE_URL", "REDIS_URL", "SESSION_HOST_SOCKET"):
        env.pop(k, None)
    if database_url:
        env["DATABASE_URL"] = database_url
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code], cwd=REPO, env=env, check=True, capture_output=True
    )
    return json.loads(out.stdout.decode().strip().splitlines()[-1])


def more_sessions(tmp: Path, remote: bool, database_url: str, n: int) -> list[str]:
    """n more trial sessions of the bench user (the one start_platform logged in), on the same database."""
    code = (
        "import json; from django.contrib.auth.models import User; from tasks.models import Task;"
        "from terminal.services import terminal_session_create;"
        "u = User.objects.get(username='bench'); tv = Task.objects.get().latest_version;"
        f"print(json.dumps([str(terminal_session_create(user=u, task_version=tv, purpose='trial').id)"
        f" for _ in range({n})]))"
    )
    return list(platform_shell(tmp, remote, database_url, code))


def contractors(tmp: Path, remote: bool, database_url: str, n: int) -> list[tuple[int, str]]:
    """n contractors, each with a reserved assignment of the task: (assignment id, session cookie)."""
    code = (
        "import json; from django.contrib.auth.models import User; from django.test import Client;"
        "from baselining.models import Assignment, ContractorProfile;"
        "from baselining.services import contractor_accept_rules; from tasks.models import Task;"
        "t = Task.objects.get(); out = []\n"
        f"for i in range({n}):\n"
        "    u = User.objects.create_user(f'contractor{i}')\n"
        "    ContractorProfile.objects.create(user=u, status='active'); contractor_accept_rules(user=u)\n"
        "    a = Assignment.objects.create(contractor=u, task=t, task_version=t.latest_version,"
        " kind='baseline', status='reserved')\n"
        "    c = Client(HTTP_HOST='127.0.0.1'); c.force_login(u); out.append([a.pk, c.cookies['sessionid'].value])\n"
        "print(json.dumps(out))"
    )
    return [(int(a), str(c)) for a, c in platform_shell(tmp, remote, database_url, code)]


def browse(url: str, cookie: str, form: bool = False) -> str:
    """A contractor's browser: GET url, or post its form (CSRF as a browser sends it); the page it lands on."""
    csrf = "b" * 32
    request = urllib.request.Request(  # noqa: S310  (the bench's own loopback server)
        url,
        data=urllib.parse.urlencode({"csrfmiddlewaretoken": csrf}).encode() if form else None,
        headers={"Cookie": f"sessionid={cookie}; csrftoken={csrf}", "Referer": url},
    )
    with urllib.request.urlopen(request, timeout=PROMPT_TIMEOUT) as r:  # noqa: S310
        return str(r.read().decode())


async def one_contractor(
    base: str,
    assignment: tuple[int, str],
    sample: Sample,
    opened: list[float],
    press: asyncio.Event,
    session_ids: list[str],
    start: asyncio.Event,
    until: list[float],
    pool: ThreadPoolExecutor,
) -> None:
    """Open the assignment's page (its sandbox warms while the instructions are read), press Start with the
    others when told, then as one_session, its prompt timed from the press."""
    loop = asyncio.get_running_loop()
    page = f"{base}/work/assignments/{assignment[0]}/"
    try:
        await loop.run_in_executor(pool, browse, page, assignment[1])
    finally:
        opened.append(time.perf_counter())
    await press.wait()
    pressed = time.perf_counter()
    try:
        landed = await loop.run_in_executor(pool, functools.partial(browse, page, assignment[1], form=True))
        sample.page.append(time.perf_counter() - pressed)
        found = re.search(r"/ws/terminal/([0-9a-f-]{36})/", landed)
        if found is None:
            raise ValueError("the session page has no terminal")
    except Exception as exc:
        sample.errors.append(f"start: {type(exc).__name__}: {exc}"[:200])
        return
    session_ids.append(found.group(1))
    ws = base.replace("http", "ws", 1) + f"/ws/terminal/{found.group(1)}/"
    await one_session(ws, f"sessionid={assignment[1]}", base, sample, start, until, pressed=pressed)


async def one_session(
    url: str,
    cookie: str,
    origin: str,
    sample: Sample,
    start: asyncio.Event,
    until: list[float],
    pressed: float | None = None,
) -> None:
    """A browser's terminal: its prompt timed from the hello (or from pressing Start), then typing."""
    from terminal.wsclient import TerminalClient

    c = TerminalClient(url, cookie=cookie, origin=origin)
    try:
        t0 = pressed if pressed is not None else time.perf_counter()
        await c.connect(cols=120)
        await c.wait_for("$ ", timeout=PROMPT_TIMEOUT)
        sample.prompt.append(time.perf_counter() - t0)
    except Exception as exc:
        sample.errors.append(f"no prompt: {type(exc).__name__}: {exc}"[:200])
        with contextlib.suppress(Exception):
            await c.close()
        return
    await start.wait()
    rng = random.Random()
    burst_at = time.perf_counter() + rng.uniform(0, 60)
    typed = 0
    try:
        while time.perf_counter() < until[0]:
            if c.closed_code is not None:
                sample.errors.append(f"closed under the client: {c.closed_code}")
                return
            if time.perf_counter() >= burst_at:
                since = c.received
                await c.send_input("\x15" + BURST)
                await c.wait_for("BURST_DONE", since=since, timeout=60)
                burst_at += 60
                typed = 0
                continue
            await asyncio.sleep(rng.uniform(0.15, 0.4))
            if typed >= 40:
                await c.send_input("\x15")  # clear the line now and then
                typed = 0
            mark = c.received
            t = time.perf_counter()
            await c.send_input("x")
            try:
                await c.wait_for("x", since=mark, timeout=ECHO_TIMEOUT)
            except TimeoutError:
                sample.errors.append("a keystroke not echoed within 5 s")
                continue
            sample.echo.append(time.perf_counter() - t)
            typed += 1
    except Exception as exc:
        sample.errors.append(f"{type(exc).__name__}: {exc}"[:200])
    finally:
        with contextlib.suppress(Exception):
            await c.close()


def summary(n: int, sample: Sample, cores: float, mem: list[int], idle: int) -> dict[str, float]:
    """A rung's row (and its first errors, printed): prompt and echo percentiles, errors, the platform's CPU
    and memory (PSS KiB samples, `idle` before the first session)."""
    for e in sorted(set(sample.errors))[:5]:
        print(f"    error ({sample.errors.count(e)}x): {e}")
    live = max(1, len(sample.prompt))
    return {
        "n": n,
        "prompt_p50": pct(sample.prompt, 0.5),
        "prompt_p95": pct(sample.prompt, 0.95),
        "page_p95": pct(sample.page, 0.95),
        "burst_client_cpu": sample.burst_cpu[0],
        "burst_platform_cpu": sample.burst_cpu[1],
        "echo_p50": pct(sample.echo, 0.5) * 1e3,
        "echo_p95": pct(sample.echo, 0.95) * 1e3,
        "echo_p99": pct(sample.echo, 0.99) * 1e3,
        "keystrokes": len(sample.echo),
        "errors": len(sample.errors),
        "cores": cores,
        "platform_mib": statistics.median(mem) / 1024 if mem else float("nan"),
        "mib_per_session": (statistics.median(mem) - idle) / 1024 / live if mem else float("nan"),
    }


async def rung(
    n: int, remote: bool, seconds: float, tmp: Path, database_url: str, read: float | None = None
) -> dict[str, float]:
    """One rung: n sessions opened at the same moment (their hello), or with `read`, n contractors who open
    their assignments' pages at the same moment and all press Start `read` seconds later."""
    procs, url, cookie, origin = start_platform(tmp, remote, database_url=database_url)
    base = url.rsplit("/", 2)[0]
    sample = Sample()
    start = asyncio.Event()
    until = [0.0]
    keepers: list[Keeper] = []
    idle = sum(pss_kib(p.pid) for p in procs)  # the platform before any session
    pool = ThreadPoolExecutor(max_workers=n)
    try:
        if read is None:
            session_ids = [
                url.rstrip("/").rsplit("/", 1)[-1],
                *more_sessions(tmp, remote, database_url, n - 1),
            ]
            tasks = [
                asyncio.ensure_future(one_session(f"{base}/{sid}/", cookie, origin, sample, start, until))
                for sid in session_ids
            ]
        else:
            session_ids = []
            opened: list[float] = []
            press = asyncio.Event()
            tasks = [
                asyncio.ensure_future(
                    one_contractor(origin, a, sample, opened, press, session_ids, start, until, pool)
                )
                for a in contractors(tmp, remote, database_url, n)
            ]
            while len(opened) < n:
                await asyncio.sleep(0.05)
            await asyncio.sleep(read)
            press.set()
        t0 = time.perf_counter()
        burst_cpu = (time.process_time(), web_and_host_cpu(procs))
        while len(sample.prompt) + len(sample.errors) < n and time.perf_counter() - t0 < PROMPT_TIMEOUT + 10:
            await asyncio.sleep(0.2)
        # CPU seconds over the burst of starts: this client's own (it shares the 2 cores), and the web
        # process's with the session host's (keepers and sandboxes not counted)
        sample.burst_cpu = (
            time.process_time() - burst_cpu[0],
            web_and_host_cpu(procs) - burst_cpu[1],
        )
        loop = asyncio.get_running_loop()
        pids, keeper_list = await loop.run_in_executor(None, platform_pids, procs, session_ids, remote)
        keepers = [Keeper(pid) for pid in keeper_list]
        cpu0 = sum(cpu_seconds(p) for p in pids if os.path.exists(f"/proc/{p}"))
        until[0] = time.perf_counter() + seconds
        t1 = time.perf_counter()
        start.set()
        mem = []
        while time.perf_counter() < until[0]:
            await asyncio.sleep(min(10, max(0.1, until[0] - time.perf_counter())))
            mem.append(sum(pss_kib(p) for p in pids))
        await asyncio.gather(*tasks)
        cpu = sum(cpu_seconds(p) for p in pids if os.path.exists(f"/proc/{p}")) - cpu0
        cores = cpu / (time.perf_counter() - t1)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in procs:
            proc.terminate()
            proc.wait()
        if remote:
            from terminal.keeper import instance_of
            from terminal.keepers import end_all

            instance = instance_of(str(tmp / "data-remote" / "session-host.sock"))
            await asyncio.get_running_loop().run_in_executor(None, end_all, instance, "bench over")
            for k in keepers:
                k.wait()
    return summary(n, sample, cores, mem, idle)


# -- a running stack (make run, the composed stack): sessions opened as staff do, over HTTP ------------
class Staff:
    """A staff member's browser against a running stack: logged in through the login form, CSRF as a
    browser sends it; starts trial sessions (Try a task), reads staff pages and exports."""

    def __init__(self, url: str, user: str, password: str) -> None:
        if not url.startswith(("http://", "https://")):
            raise SystemExit(f"--url must be http(s)://...: {url}")
        self.url = url.rstrip("/")
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.get("/login/")
        self.post("/login/", {"username": user, "password": password})
        if not self.cookie("sessionid"):
            raise SystemExit(f"could not log in to {self.url} as {user}")

    def cookie(self, name: str) -> str:
        return next((c.value or "" for c in self.jar if c.name == name), "")

    def get(self, path: str) -> bytes:
        with self.opener.open(self.url + path, timeout=60) as r:
            return bytes(r.read())

    def post(self, path: str, data: dict[str, str]) -> str:
        """The form posted; the URL it ended on (after redirects)."""
        body = urllib.parse.urlencode({**data, "csrfmiddlewaretoken": self.cookie("csrftoken")}).encode()
        request = urllib.request.Request(  # noqa: S310  (http(s) only: checked in __init__)
            self.url + path, data=body, headers={"Referer": self.url + path}
        )
        with self.opener.open(request, timeout=60) as r:
            return str(r.geturl())

    def trial_sessions(self, task: str, n: int) -> list[str]:
        page = self.get("/terminal/try/").decode()
        family, name = task.split("/")
        found = re.search(rf"{family}/<strong>{name}</strong>.*?action=\"/terminal/try/(\d+)/\"", page, re.S)
        if not found:
            raise SystemExit(f"{task} is not on {self.url}/terminal/try/: import it first")
        ids = []
        for _ in range(n):
            landed = self.post(f"/terminal/try/{found.group(1)}/", {})
            ids.append(landed.rstrip("/").rsplit("/", 1)[-1])
        return ids


STAFF_PAGES = ("/terminal/sessions/", "/stats/", "/stats/exports/baselines.csv", "/stats/exports/tasks.csv")


async def staff_traffic(staff: Staff, until: list[float], seconds: list[float], errors: list[str]) -> None:
    """Staff pages and exports, one after another, while the contractors type."""
    loop = asyncio.get_running_loop()
    while not until[0] or time.perf_counter() < until[0]:
        for path in STAFF_PAGES:
            t = time.perf_counter()
            try:
                await loop.run_in_executor(None, staff.get, path)
                seconds.append(time.perf_counter() - t)
            except Exception as exc:
                errors.append(f"staff {path}: {type(exc).__name__}: {exc}"[:200])
        await asyncio.sleep(1)


def tree(roots: list[int]) -> list[int]:
    """The processes under these (themselves included), as they are now."""
    seen: list[int] = []
    todo = list(roots)
    while todo:
        pid = todo.pop()
        if pid not in seen and os.path.exists(f"/proc/{pid}"):
            seen.append(pid)
            todo.extend(children(pid))
    return seen


def compose_roots(project: str) -> list[int]:
    """The main processes of a composed stack's platform services (not its database, Redis or sandboxes)."""
    ids = subprocess.run(
        ["docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={project}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    roots = []
    for cid in ids:
        service, pid = subprocess.run(
            [
                "docker",
                "inspect",
                "-f",
                '{{index .Config.Labels "com.docker.compose.service"}} {{.State.Pid}}',
                cid,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        if service in ("web", "worker", "beat", "sessionhost"):
            roots.append(int(pid))
    return roots


async def running_rung(staff: Staff, n: int, seconds: float, task: str, roots: list[int]) -> dict[str, float]:
    """n trial sessions on the running stack, typing for `seconds`, while staff read pages and exports."""
    loop = asyncio.get_running_loop()
    before = tree(roots)
    idle = sum(pss_kib(p) for p in before)
    session_ids = await loop.run_in_executor(None, staff.trial_sessions, task, n)
    ws = staff.url.replace("http", "ws", 1) + "/ws/terminal"
    cookie = f"sessionid={staff.cookie('sessionid')}"
    sample, start, until = Sample(), asyncio.Event(), [0.0]
    staff_seconds: list[float] = []
    try:
        tasks = [
            asyncio.ensure_future(one_session(f"{ws}/{sid}/", cookie, staff.url, sample, start, until))
            for sid in session_ids
        ]
        t0 = time.perf_counter()
        while len(sample.prompt) + len(sample.errors) < n and time.perf_counter() - t0 < PROMPT_TIMEOUT + 10:
            await asyncio.sleep(0.2)
        pids = tree(roots)
        cpu0 = sum(cpu_seconds(p) for p in pids if os.path.exists(f"/proc/{p}"))
        until[0] = time.perf_counter() + seconds
        t1 = time.perf_counter()
        start.set()
        pages = asyncio.ensure_future(staff_traffic(staff, until, staff_seconds, sample.errors))
        mem = []
        while time.perf_counter() < until[0]:
            await asyncio.sleep(min(10, max(0.1, until[0] - time.perf_counter())))
            mem.append(sum(pss_kib(p) for p in tree(roots)))
        await asyncio.gather(*tasks, pages)
        cpu = sum(cpu_seconds(p) for p in pids if os.path.exists(f"/proc/{p}")) - cpu0
        cores = cpu / (time.perf_counter() - t1)
    finally:
        for sid in session_ids:
            with contextlib.suppress(Exception):
                await loop.run_in_executor(None, staff.post, f"/terminal/sessions/{sid}/end/", {})
    return {
        **summary(n, sample, cores, mem, idle),
        "staff_p50": pct(staff_seconds, 0.5),
        "staff_p95": pct(staff_seconds, 0.95),
    }


COLUMNS = (
    ("prompt_p50", "prompt p50 s", "{:.2f}"),
    ("prompt_p95", "prompt p95 s", "{:.2f}"),
    ("page_p95", "of it pages p95 s", "{:.2f}"),
    ("burst_platform_cpu", "start CPU s: platform", "{:.2f}"),
    ("burst_client_cpu", "start CPU s: client", "{:.2f}"),
    ("echo_p50", "echo p50 ms", "{:.1f}"),
    ("echo_p95", "echo p95 ms", "{:.1f}"),
    ("echo_p99", "echo p99 ms", "{:.1f}"),
    ("errors", "errors", "{:.0f}"),
    ("cores", "platform cores", "{:.2f}"),
    ("platform_mib", "platform MiB", "{:.0f}"),
    ("mib_per_session", "MiB/session", "{:.2f}"),
)
STAFF_COLUMNS = (("staff_p50", "staff pages p50 s", "{:.2f}"), ("staff_p95", "staff pages p95 s", "{:.2f}"))


def cell(values: list[float], fmt: str) -> str:
    med = statistics.median(values)
    if len(values) == 1:
        return fmt.format(med)
    return f"{fmt.format(med)} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ladder", default="10,30,60,100,200,300")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--modes", default="embedded,production")
    parser.add_argument("--url", help="a running stack instead (make run, the composed stack)")
    parser.add_argument("--login", default="staff:staff", help="USER:PASSWORD of a staff account there")
    parser.add_argument("--task", default="ssh_key/find_key")
    parser.add_argument("--compose", default="", help="the running stack's compose project (CPU, memory)")
    parser.add_argument("--pids", default="", help="or its processes' pids, comma-separated (make run's)")
    parser.add_argument(
        "--read",
        default="",
        help="seconds, comma-separated: contractors open their assignment's page, read this long, then all "
        "press Start at once; prompt is timed from the press (warm starts); unset: sessions opened at once",
    )
    args = parser.parse_args()
    if args.url:
        running_stack(args)
        return
    base_db = os.environ.get("DATABASE_URL", "")
    shapes = [m.strip() for m in args.modes.split(",")]
    reads = [float(x) for x in args.read.split(",")] if args.read else [None]
    modes = [(m, read) for m in shapes for read in reads]
    results: dict[tuple[str, int], list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-load-") as d:
        root = Path(d)
        root.chmod(0o755)  # the sandboxes' unprivileged uids must reach their files under it
        for n in [int(x) for x in args.ladder.split(",")]:
            for r in range(args.repeat):
                for k, (shape, read) in enumerate(modes if r % 2 == 0 else modes[::-1]):
                    mode = shape if read is None else f"{shape}, Start after {read:g} s of reading"
                    tmp = root / f"{shape}-{n}-{r}-{k}"
                    tmp.mkdir(mode=0o755)
                    name = f"bench_load_{os.getpid()}_{shape}_{n}_{r}_{k}"
                    url = fresh_database(base_db, name) if base_db.startswith("postgres") else ""
                    try:
                        row = asyncio.run(rung(n, shape == "production", args.seconds, tmp, url, read))
                    finally:
                        if url:
                            drop_database(base_db, name)
                    results.setdefault((mode, n), []).append(row)
                    print(f"  {mode} {n}: " + ", ".join(f"{k} {v:.3g}" for k, v in row.items()), flush=True)
    print()
    print("| mode | sessions | " + " | ".join(h for _, h, _ in COLUMNS) + " |")
    print("|---|---|" + "---|" * len(COLUMNS))
    for (mode, n), rows in results.items():
        cells = [cell([row[k] for row in rows], fmt) for k, _, fmt in COLUMNS]
        print(f"| {mode} | {n} | " + " | ".join(cells) + " |")


def running_stack(args: argparse.Namespace) -> None:
    """The ladder against a running stack: the largest number of sessions it holds with no error and echo
    p99 under 50 ms, with staff reading pages and exports all along."""
    user, _, password = args.login.partition(":")
    staff = Staff(args.url, user, password)
    roots = compose_roots(args.compose) if args.compose else [int(p) for p in args.pids.split(",") if p]
    columns = COLUMNS + STAFF_COLUMNS
    results: dict[int, list[dict[str, float]]] = {}
    for n in [int(x) for x in args.ladder.split(",")]:
        for _ in range(args.repeat):
            row = asyncio.run(running_rung(staff, n, args.seconds, args.task, roots))
            results.setdefault(n, []).append(row)
            print(f"  {args.url} {n}: " + ", ".join(f"{k} {v:.3g}" for k, v in row.items()), flush=True)
    print()
    print("| sessions | " + " | ".join(h for _, h, _ in columns) + " |")
    print("|---|" + "---|" * len(columns))
    for n, rows in results.items():
        print(f"| {n} | " + " | ".join(cell([row[k] for row in rows], fmt) for k, _, fmt in columns) + " |")
    held = [n for n, rows in results.items() if all(r["errors"] == 0 and r["echo_p99"] < 50 for r in rows)]
    print(f"\nlargest number of sessions held (no error, echo p99 < 50 ms): {max(held) if held else 'none'}")


if __name__ == "__main__":
    main()
