"""Fix a bug so that a small test suite passes. Scored with intermediate scores (share of hidden tests)."""

import json
import os
import shutil
import subprocess

PROJECT = "/home/agent/project"


def _own(path):
    for base, dirs, files in os.walk(path):
        shutil.chown(base, "agent", "agent")
        for f in files:
            shutil.chown(os.path.join(base, f), "agent", "agent")


def run_hidden_tests():
    """Copy the agent's stats.py next to the hidden tests and run them as the unprivileged agent."""
    work = "/tmp/hidden-run"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree("/root/assets/hidden_tests", work)
    shutil.copy(f"{PROJECT}/stats.py", f"{work}/stats.py")
    _own(work)
    script = (
        "import json, unittest\n"
        "suite = unittest.defaultTestLoader.discover('.', pattern='test_hidden.py')\n"
        "r = unittest.TextTestRunner(verbosity=0).run(suite)\n"
        "print(json.dumps({'run': r.testsRun, 'bad': len(r.failures) + len(r.errors)}))\n"
    )
    try:
        out = subprocess.run(["setpriv", "--reuid=1000", "--regid=1000", "--clear-groups", "python3", "-c", script],
                             cwd=work, capture_output=True, text=True, timeout=60)
        result = json.loads(out.stdout.strip().splitlines()[-1])
    except Exception as exc:
        return 0.0, f"the tests could not run: {exc}"
    passed = result["run"] - result["bad"]
    return passed / result["run"], f"{passed} of {result['run']} hidden tests pass"


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
