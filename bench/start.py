"""From Start to prompt in a real browser: a contractor opens an assignment's page, reads for a few seconds,
clicks Start; the time until the session page's terminal shows the shell's first prompt. With warm starts
(the sandbox prepared while the instructions are read) and without (WARM_SANDBOXES=0: the sandbox starts
after the click), embedded and in production's shape, on fresh platforms, one contractor at a time.

    .venv/bin/python bench/start.py [--repeat 10] [--read 5] [--modes embedded,production]

Chromium is Debian's (/usr/bin/chromium), driven by Playwright. Each row: median, p95 and range over its
repetitions (each a new contractor and assignment), never the best run as the figure.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.load import contractors, drop_database, fresh_database, pct  # noqa: E402
from bench.terminal import start_platform  # noqa: E402

PROMPT = "window.terminalClient && window.terminalClient.text().includes('$ ')"


def clicks(origin: str, people: list[tuple[int, str]], read: float) -> list[float]:
    """Each contractor's Start, clicked `read` seconds after their assignment's page loaded: seconds to the
    first prompt on the page."""
    from playwright.sync_api import sync_playwright

    took = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        try:
            for assignment, cookie in people:
                context = browser.new_context()
                context.add_cookies([{"name": "sessionid", "value": cookie, "url": origin}])
                page = context.new_page()
                page.goto(f"{origin}/work/assignments/{assignment}/")
                time.sleep(read)
                t0 = time.perf_counter()
                page.click("#start")
                page.wait_for_function(PROMPT, timeout=60_000, polling="raf")
                took.append(time.perf_counter() - t0)
                context.close()
        finally:
            browser.close()
    return took


def run(shape: str, warm: bool, repeat: int, read: float, root: Path, base_db: str) -> list[float]:
    tmp = root / f"{shape}-{'warm' if warm else 'cold'}"
    tmp.mkdir(mode=0o755)
    name = f"bench_start_{os.getpid()}_{shape}_{int(warm)}"
    url = fresh_database(base_db, name) if base_db.startswith("postgres") else ""
    saved = os.environ.get("WARM_SANDBOXES")
    os.environ["WARM_SANDBOXES"] = "1" if warm else "0"
    try:
        procs, _ws, _cookie, origin = start_platform(tmp, shape == "production", database_url=url)
        try:
            people = contractors(tmp, shape == "production", url, repeat)
            return clicks(origin, people, read)
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait()
    finally:
        if saved is None:
            os.environ.pop("WARM_SANDBOXES", None)
        else:
            os.environ["WARM_SANDBOXES"] = saved
        if url:
            drop_database(base_db, name)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--read", type=float, default=5.0, help="seconds on the instructions before Start")
    parser.add_argument("--modes", default="embedded,production")
    args = parser.parse_args()
    base_db = os.environ.get("DATABASE_URL", "")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-start-") as d:
        root = Path(d)
        root.chmod(0o755)  # the sandboxes' unprivileged uids must reach their files under it
        os.environ["STATIC_ROOT"] = str(root / "static")  # the session page's scripts, served by whitenoise
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
            cwd=REPO,
            check=True,
            env=os.environ,
        )
        for shape in [m.strip() for m in args.modes.split(",")]:
            for warm in (True, False):
                took = [t * 1000 for t in run(shape, warm, args.repeat, args.read, root, base_db)]
                rows.append((shape, warm, took))
                print(
                    f"  {shape} {'warm' if warm else 'cold'}: " + ", ".join(f"{t:.0f}" for t in took),
                    flush=True,
                )
    print(f"\nStart clicked after {args.read:g} s on the instructions, to the first prompt in Chromium, ms")
    print(f"({args.repeat} contractors each, one at a time)\n")
    print("| shape | sandbox | median | p95 | range |")
    print("|---|---|---|---|---|")
    for shape, warm, took in rows:
        print(
            f"| {shape} | {'warm (prepared while reading)' if warm else 'cold (WARM_SANDBOXES=0)'} | "
            f"{statistics.median(took):.0f} | {pct(took, 0.95):.0f} | {min(took):.0f}-{max(took):.0f} |"
        )


if __name__ == "__main__":
    main()
