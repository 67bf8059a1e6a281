"""Fix a bug so that a small test suite passes. Scored with intermediate scores (share of hidden tests).

How the hidden tests stay hidden (docs/task-import.md, "Rules for family authors"): the expected answers
never leave root's process. The agent's stats.py runs as the agent (uid 1000, no-new-privs, a clean
environment, started from /), in a process that receives only the inputs on its stdin and prints what
its functions return; root compares. Root never opens a path under /home/agent itself, so no link the
agent plants there leads root anywhere, and nothing is written where the agent could read it.
"""

import json
import math
import os
import select
import shutil
import signal
import subprocess
import time

PROJECT = "/home/agent/project"
CASES = "/root/assets/hidden_cases.json"  # under /root (0700): root-only for the sandbox's whole life
AGENT_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/home/agent", "LANG": "C.UTF-8"}
AS_AGENT = ["setpriv", "--reuid=1000", "--regid=1000", "--clear-groups", "--no-new-privs", "--"]

# Runs as the agent: imports the agent's stats.py and calls each function on the inputs it is given.
RUNNER = r"""
import json, os, sys
calls = json.load(sys.stdin)
os.chdir("/home/agent/project")
sys.path.insert(0, "/home/agent/project")
try:
    import stats
except BaseException as exc:
    print(json.dumps({"error": f"stats.py does not import: {type(exc).__name__}: {exc}"}))
    sys.exit(0)
out = []
for fn, args in calls:
    try:
        out.append({"value": getattr(stats, fn)(*args)})
    except Exception as exc:
        out.append({"raises": type(exc).__name__})
sys.stdout.flush()
os.write(1, json.dumps(out, default=repr).encode() + b"\n")
"""


def _own(path):
    for base, dirs, files in os.walk(path):
        shutil.chown(base, "agent", "agent")
        for f in files:
            shutil.chown(os.path.join(base, f), "agent", "agent")


def _same(got, case):
    if "raises" in case:
        return got.get("raises") == case["raises"]
    if "value" not in got:
        return False
    value, expect = got["value"], case["expect"]
    if isinstance(expect, (int, float)) and isinstance(value, (int, float)) and not isinstance(value, bool):
        return math.isclose(value, expect, rel_tol=1e-9, abs_tol=1e-12)
    return value == expect


def run_as_agent(argv, data, *, timeout=60, limit=1 << 20):
    """Run argv as the agent with `data` on stdin; its stdout, at most `limit` bytes, or None at timeout."""
    proc = subprocess.Popen(
        [*AS_AGENT, *argv], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        cwd="/", env=AGENT_ENV, start_new_session=True,
    )
    try:
        proc.stdin.write(data)
        proc.stdin.close()
    except BrokenPipeError:
        pass
    out, deadline = b"", time.monotonic() + timeout
    while len(out) <= limit:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([proc.stdout], [], [], left)[0]:
            out = None
            break
        chunk = os.read(proc.stdout.fileno(), 65536)
        if not chunk:
            break
        out += chunk
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
    return out


def run_hidden_tests():
    with open(CASES) as f:
        cases = json.load(f)
    calls = json.dumps([[c["fn"], c["args"]] for c in cases]).encode()
    out = run_as_agent(["python3", "-I", "-S", "-c", RUNNER], calls)
    if out is None:
        return 0.0, "the tests did not finish within 60 s"
    try:
        got = json.loads(out.decode(errors="replace").strip().splitlines()[-1])
    except (ValueError, IndexError):
        return 0.0, "the tests could not run: stats.py printed something else or crashed"
    if isinstance(got, dict):
        return 0.0, str(got.get("error", "the tests could not run"))[:500]
    if not isinstance(got, list) or len(got) != len(cases):
        return 0.0, "the tests could not run"
    passed = sum(isinstance(g, dict) and _same(g, c) for g, c in zip(got, cases))
    return passed / len(cases), f"{passed} of {len(cases)} hidden tests pass"


class TaskFamily:
    standard_version = "0.3.0"

    @staticmethod
    def get_tasks():
        return {"median": {}}

    @staticmethod
    def get_instructions(t):
        return (
            "/home/agent/project holds stats.py, a small statistics module, and its tests "
            "(python3 -m unittest in that directory). Some of the functions are wrong.\n\n"
            "Fix stats.py so that its functions are correct for all inputs, including edge cases: median of "
            "an empty list must raise ValueError. A hidden test suite checks your work; you may ask for an "
            "intermediate score as often as you like. Submit when you are done (the submission text is "
            "ignored)."
        )

    @staticmethod
    def start(t):
        shutil.copytree("/root/assets/project", PROJECT)
        _own(PROJECT)

    @staticmethod
    def intermediate_score(t):
        score, message = run_hidden_tests()
        return {"score": score, "message": {"result": message}, "details": {}}

    @staticmethod
    def aggregate_scores(t, score_log):
        scores = [e["score"] for e in score_log if e.get("score") is not None]
        return scores[-1] if scores else 0.0
