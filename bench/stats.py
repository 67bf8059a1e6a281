"""Statistics and exports benchmark: a generated suite (10,000 tasks, 60,000 attempts, each with its terminal
session, and 6,000 flags by default) in a throw-away database; the time and peak memory of suite_statistics
and of each export, beside the database read of the same rows alone and a bare csv.writer of them (the
limits) and pandas (peers: writing the same table from memory; reading it all, then writing), in one run,
printed as ratios.

    .venv/bin/python bench/stats.py [--tasks 10000] [--attempts-per-task 6] [--flags 6000]
    .venv/bin/python bench/stats.py --database-url postgres://postgres@127.0.0.1:5432/bench_stats

SQLite by default (a fresh file in a temporary directory); with --database-url, a PostgreSQL database of
that name is created for the run and dropped after it (never test or test_test). Each step runs three times:
twice plain, for the wall time (the faster run) and the process's peak RSS (reset through
/proc/self/clear_refs), and once under tracemalloc, for the peak of Python allocations during the step. Memory against size: a quarter of the
tasks are `ready` (the rest `qa`) and the exports run again with status=ready, a quarter of the rows; a
streamed export's peak should not follow the rows.
"""

from __future__ import annotations

import argparse
import csv
import gc
import math
import os
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

MB = 1e6
PROTECTED_DATABASES = {"test", "test_test", "postgres", "template0", "template1"}


@dataclass
class Result:
    rows: int
    nbytes: int  # bytes written (0 where nothing is written)
    seconds: float
    py_peak: float  # bytes, tracemalloc peak during the step
    rss_peak: float  # bytes, the process's peak RSS during the step (plain run)


# -- memory ------------------------------------------------------------------------------------------
def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _reset_rss_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    except OSError:
        return False
    return True


REPEAT = 2  # plain runs of each step; the fastest counts (the machine may be shared)


def measure(step: Callable[[], tuple[int, int]], *, traced: bool = True) -> Result:
    """Run the step plain (time, RSS peak), then again under tracemalloc (Python peak)."""
    seconds = math.inf
    for _ in range(REPEAT):
        gc.collect()
        can_reset = _reset_rss_peak()
        t0 = time.perf_counter()
        rows, nbytes = step()
        seconds = min(seconds, time.perf_counter() - t0)
    rss_peak = _status_kb("VmHWM") * 1024.0 if can_reset else float("nan")
    py_peak = float("nan")
    if traced:
        gc.collect()
        tracemalloc.start()
        step()
        py_peak = float(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    return Result(rows, nbytes, seconds, py_peak, rss_peak)


# -- the database ------------------------------------------------------------------------------------
def create_postgres(url: str) -> str:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not name or name in PROTECTED_DATABASES:
        raise SystemExit(f"refusing to create and drop the database {name!r}: name a throw-away one")
    admin = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin


def drop_postgres(admin: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- the suite ---------------------------------------------------------------------------------------
def make_flags(n: int, seed: int) -> None:
    import numpy as np
    from django.contrib.auth import get_user_model

    from baselining.models import BaselineSession
    from tasks.models import Flag, FlagCategory, FlagSeverity, FlagStatus, Task

    rng = np.random.default_rng(seed)
    tasks = list(Task.objects.values_list("id", "latest_version_id"))
    terminals = dict(  # one attempt's terminal session per task, for the flags raised from a session
        BaselineSession.objects.filter(terminal__isnull=False).values_list(
            "assignment__task_id", "terminal_id"
        )
    )
    users = list(get_user_model().objects.values_list("id", flat=True))
    cats, sevs = list(FlagCategory.values), list(FlagSeverity.values)
    statuses = [FlagStatus.OPEN, FlagStatus.CONFIRMED, FlagStatus.FIXED, FlagStatus.REJECTED]
    picks = rng.integers(0, len(tasks), size=n)
    Flag.objects.bulk_create(
        [
            Flag(
                task_id=tasks[p][0], task_version_id=tasks[p][1], raised_by_id=users[int(p) % len(users)],
                category=cats[k % len(cats)], severity=sevs[k % len(sevs)], status=statuses[k % len(statuses)],
                source="page" if k % 3 else "session", recording_offset=None if k % 3 else float(k % 900),
                terminal_session_id=None if k % 3 else terminals.get(tasks[p][0]),
                description=f'Flag {k}: "quoted", with commas,\nand a second line.',
            )
            for k, p in enumerate(picks)
        ],
        batch_size=2000,
    )  # fmt: skip


def attach_terminals(seed: int) -> int:
    """A terminal session for every attempt, as a real attempt has: baselines.csv links each recording."""
    import uuid

    from django.db import connection, transaction

    from baselining.models import BaselineSession
    from terminal.models import SessionPurpose, SessionStatus, TerminalSession

    rows = list(
        BaselineSession.objects.values_list(
            "id", "assignment__task_version_id", "assignment__contractor_id", "assignment__kind", "ended_at"
        )
    )
    ids = [uuid.UUID(int=(seed << 64) + pk, version=4) for pk, *_ in rows]
    field = BaselineSession._meta.get_field("terminal")
    table, column = (connection.ops.quote_name(n) for n in (BaselineSession._meta.db_table, field.column))
    with transaction.atomic():
        TerminalSession.objects.bulk_create(
            [
                TerminalSession(
                    id=u, task_version_id=tv, user_id=user, status=SessionStatus.ENDED, ended_at=ended,
                    purpose=SessionPurpose.QA if kind == "qa" else SessionPurpose.BASELINE,
                )
                for u, (_, tv, user, kind, ended) in zip(ids, rows, strict=True)
            ],
            batch_size=5000,
        )  # fmt: skip
        with connection.cursor() as cur:
            cur.executemany(
                f"UPDATE {table} SET {column} = %s WHERE id = %s",  # noqa: S608 (names from the model)
                [(field.get_db_prep_save(u, connection), r[0]) for u, r in zip(ids, rows, strict=True)],
            )
    return len(rows)


def quarter_ready() -> int:
    """A quarter of the tasks ready, the rest in QA: status=ready selects a quarter of every export."""
    from django.db.models.functions import Mod

    from tasks.models import Task, TaskStatus

    Task.objects.alias(m=Mod("id", 4)).exclude(m=0).update(status=TaskStatus.QA)
    return Task.objects.filter(status=TaskStatus.READY).count()


# -- the steps ---------------------------------------------------------------------------------------
def write_lines(lines: Iterable[str], path: Path) -> tuple[int, int]:
    n = 0
    with path.open("w", encoding="utf-8", newline="") as f:
        for line in lines:
            f.write(line)
            n += 1
    return n, path.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=10000)
    parser.add_argument("--attempts-per-task", type=int, default=6)
    parser.add_argument("--flags", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--database-url", default="", help="postgres://... (created and dropped); default SQLite"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-stats-") as d:
        tmp = Path(d)
        os.environ["DATA_DIR"] = str(tmp / "data")
        os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
        os.environ["DEBUG"] = "0"  # no query log
        for var in ("REDIS_URL", "SESSION_HOST_SOCKET"):
            os.environ.pop(var, None)
        admin = ""
        if args.database_url:
            admin = create_postgres(args.database_url)
            os.environ["DATABASE_URL"] = args.database_url
        else:
            os.environ["DATABASE_URL"] = f"sqlite:///{tmp / 'bench.sqlite3'}"
        try:
            run(args, tmp)
        finally:
            from django.db import connections

            connections.close_all()
            if admin:
                drop_postgres(admin, urlsplit(args.database_url).path.lstrip("/"))


def run(args: argparse.Namespace, tmp: Path) -> None:
    import django

    django.setup()
    import pandas as pd
    from django.core.management import call_command
    from django.db import connection

    from baselining.exports import ATTEMPT_FIELDS, CHUNK, export_lines, load_frames, suite_statistics
    from baselining.selectors import ExportFilters, attempt_rows
    from baselining.statistics import task_statistics
    from baselining.synthetic import generate_suite
    from tasks.models import TaskFamily

    with connection.cursor() as cur:
        cur.execute("SELECT sqlite_version()" if connection.vendor == "sqlite" else "SHOW server_version")
        vendor = f"{connection.vendor} {cur.fetchone()[0]}"
    call_command("migrate", verbosity=0)
    t0 = time.perf_counter()
    suite = generate_suite(n_tasks=args.tasks, attempts_per_task=args.attempts_per_task, seed=args.seed)
    generate_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    terminals = attach_terminals(args.seed)
    terminals_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    make_flags(args.flags, args.seed)
    flags_s = time.perf_counter() - t0
    ready = quarter_ready()
    with connection.cursor() as cur:  # planner statistics, as a live database has them
        cur.execute("ANALYZE")
    print(
        f"{vendor}: generated {suite.n_tasks:,} tasks and {suite.n_attempts:,} attempts in {generate_s:.1f} s "
        f"({suite.n_attempts / generate_s:,.0f} attempts/s), {terminals:,} terminal sessions in {terminals_s:.1f} s, "
        f"{args.flags:,} flags in {flags_s:.1f} s; {ready:,} tasks ready (the quarter)"
    )

    everything, quarter = ExportFilters(), ExportFilters(status="ready")
    one_family = ExportFilters(family=str(TaskFamily.objects.values_list("name", flat=True).first()))
    for name in ("tasks.csv", "baselines.csv", "flags.csv", "runs.jsonl"):  # imports, URL resolver: once
        write_lines(export_lines(name, one_family), tmp / name)
    results: dict[str, Result] = {}

    def export_step(name: str, filters: ExportFilters) -> Callable[[], tuple[int, int]]:
        def step() -> tuple[int, int]:
            lines, nbytes = write_lines(export_lines(name, filters), tmp / name)
            return lines - (1 if name.endswith(".csv") else 0), nbytes

        return step

    # the statistics: the whole, and its two halves (the read into frames, the computation)
    def stats_step() -> tuple[int, int]:
        return len(suite_statistics(everything)), 0

    results["suite_statistics"] = measure(stats_step)
    frames: list[tuple[pd.DataFrame, pd.DataFrame]] = []

    def load_step() -> tuple[int, int]:
        frames[:] = [load_frames(everything)]
        return len(frames[0][1]), 0

    results["  load_frames"] = measure(load_step)

    def compute_step() -> tuple[int, int]:
        tasks, attempts = frames[0]
        return len(task_statistics(tasks, attempts)), 0

    results["  task_statistics"] = measure(compute_step)
    frames.clear()

    names = ["tasks.csv", "baselines.csv", "flags.csv", "runs.jsonl"]
    for name in names:
        results[name] = measure(export_step(name, everything))
    for name in names:
        results[f"{name} (ready)"] = measure(export_step(name, quarter))

    # baselines.csv beside the database read of its rows alone and a plain csv.writer of them (the limits),
    # and pandas: writing the same table from memory, and reading everything into a frame first (peers)
    def db_read(qs: Any, write: bool = False) -> Callable[[], tuple[int, int]]:
        def step() -> tuple[int, int]:
            sql, params = qs.query.sql_with_params()
            n = 0
            path = tmp / "raw.csv"
            with connection.chunked_cursor() as cur, path.open("w", encoding="utf-8", newline="") as f:
                writer = csv.writer(f, lineterminator="\n")
                cur.execute(sql, params)
                while rows := cur.fetchmany(CHUNK):
                    n += len(rows)
                    if write:
                        writer.writerows(rows)
            return n, path.stat().st_size if write else 0

        return step

    def pandas_read_all(filters: ExportFilters) -> Callable[[], tuple[int, int]]:
        def step() -> tuple[int, int]:
            frame = pd.DataFrame.from_records(list(attempt_rows(filters)))
            frame.to_csv(tmp / "pandas.csv", index=False, lineterminator="\n")
            return len(frame), (tmp / "pandas.csv").stat().st_size

        return step

    results["limit: database read alone"] = measure(db_read(attempt_rows(everything)))
    results["limit: read + csv.writer"] = measure(db_read(attempt_rows(everything), write=True))
    lines = list(csv.reader(export_lines("baselines.csv", everything)))
    in_memory = {"frame": pd.DataFrame(lines[1:], columns=lines[0])}
    del lines
    held = float(in_memory["frame"].memory_usage(deep=True).sum())

    def pandas_step() -> tuple[int, int]:
        in_memory["frame"].to_csv(tmp / "pandas.csv", index=False, lineterminator="\n")
        return len(in_memory["frame"]), (tmp / "pandas.csv").stat().st_size

    results["peer: pandas to_csv from memory"] = measure(pandas_step)
    in_memory.clear()
    results["peer: pandas read all, to_csv"] = measure(pandas_read_all(everything))
    results["peer: pandas read all (ready)"] = measure(pandas_read_all(quarter))
    stats_rows = attempt_rows(everything, with_invalid=True).values_list(*ATTEMPT_FIELDS)
    results["limit: read of the stats rows"] = measure(db_read(stats_rows))

    print()
    print(f"{'':32}{'rows':>9}{'MB':>7}{'seconds':>9}{'MB/s':>7}{'rows/s':>9}{'py peak':>11}{'RSS max':>10}")
    for label, r in results.items():
        size = f"{r.nbytes / MB:7.1f}" if r.nbytes else f"{'':7}"
        rate = f"{r.nbytes / MB / r.seconds:7.1f}" if r.nbytes else f"{'':7}"
        print(
            f"{label:32}{r.rows:>9,}{size}{r.seconds:>9.2f}{rate}{r.rows / r.seconds:>9,.0f}"
            f"{r.py_peak / MB:>8.1f} MB{r.rss_peak / MB:>7.0f} MB"
        )
    print(
        "py peak: tracemalloc's peak of Python allocations during the step; RSS max: the process's, with all"
    )
    print("that came before it (Django, pandas, numpy, freed but kept arenas)")

    print()
    print("memory against size: everything / the quarter (status=ready); bytes of peak per extra row")
    pairs = [(n, f"{n} (ready)") for n in names]
    pairs.append(("peer: pandas read all, to_csv", "peer: pandas read all (ready)"))
    for whole, part in pairs:
        a, q = results[whole], results[part]
        slope = (a.py_peak - q.py_peak) / max(a.rows - q.rows, 1)
        print(
            f"  {whole.removeprefix('peer: '):26} rows {a.rows / max(q.rows, 1):4.2f}x   "
            f"time {a.seconds / q.seconds:4.2f}x   py peak {a.py_peak / q.py_peak:4.2f}x   "
            f"{slope:6.0f} B/row"
        )

    b = results["baselines.csv"]
    print()
    print("baselines.csv against")
    for label in (
        "limit: database read alone",
        "limit: read + csv.writer",
        "peer: pandas to_csv from memory",
        "peer: pandas read all, to_csv",
    ):
        r = results[label]
        print(
            f"  {label:32} {b.seconds / r.seconds:5.2f}x the time, {b.py_peak / r.py_peak:5.2f}x the py peak"
        )
    print(
        f"  the table held in pandas: {held / MB:.1f} MB; baselines.csv streams it in a {b.py_peak / MB:.1f} MB peak"
    )
    s, load = results["suite_statistics"], results["  load_frames"]
    print(
        f"suite_statistics: {s.seconds:.2f} s for {s.rows:,} tasks and {load.rows:,} attempts, "
        f"{load.seconds / s.seconds:.0%} of it the read, which takes "
        f"{load.seconds / results['limit: read of the stats rows'].seconds:.2f}x the database read of its rows; "
        f"py peak {s.py_peak / load.rows:.0f} B per attempt"
    )
    slowest = max(names, key=lambda n: results[n].seconds)
    print(f"slowest export: {slowest}, {results[slowest].seconds:.1f} s (aim: seconds, not minutes)")


if __name__ == "__main__":
    main()
