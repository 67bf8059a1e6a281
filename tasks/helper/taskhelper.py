"""Runs one TaskFamily method inside a sandbox and prints its result as JSON, as METR's driver does.

Pure standard library and Python 3.11 compatible: it runs on the sandbox's Python (a stock python:3.11
image on the docker backend), never in the Django process. The family's own output is moved to stderr
so that stdout carries exactly one JSON document.

    python3 taskhelper.py FAMILY_DIR FAMILY_NAME OPERATION [TASK_NAME]   (stdin: JSON input, if any)

Operations: install (no task name; at image build), describe, start, score, intermediate_score,
aggregate_scores, teardown.

Exit status 0 with the JSON document, whatever it says: the platform reads it. Except for install, which
runs as a Dockerfile's RUN step where nobody reads the JSON: a failed install exits 1, so that the image
build (and the import) fails with the JSON's error as the step's last line of output.
"""

import importlib
import importlib.util
import json
import math
import os
import sys
import traceback

OPERATIONS = ("install", "describe", "start", "score", "intermediate_score", "aggregate_scores", "teardown")
OPTIONAL_METHODS = (
    "install",
    "start",
    "score",
    "intermediate_score",
    "aggregate_scores",
    "teardown",
    "get_permissions",
    "get_aux_vm_spec",
)


class HelperError(Exception):
    def __init__(self, kind, message, file=None, line=None):
        super().__init__(message)
        self.kind, self.message, self.file, self.line = kind, message, file, line


def _where(tb, family_dir):
    """The innermost traceback frame inside the family's own files: (relative file, line)."""
    found = (None, None)
    for frame in traceback.extract_tb(tb):
        path = os.path.abspath(frame.filename)
        if path.startswith(os.path.abspath(family_dir) + os.sep):
            found = (os.path.relpath(path, family_dir), frame.lineno)
    return found


def _call(what, family_dir, fn, *args):
    try:
        return fn(*args)
    except Exception as exc:
        file, line = _where(exc.__traceback__, family_dir)
        raise HelperError("raised", f"{what} raised {type(exc).__name__}: {exc}", file, line) from exc


def _json_safe(value, what, file):
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise HelperError("not_json", f"{what} is not JSON-serialisable: {exc}", file) from exc
    return json.loads(text)


def load_family(family_dir, name):
    sys.path.insert(0, family_dir)
    file = f"{name}.py"
    if not os.path.isfile(os.path.join(family_dir, file)):
        raise HelperError("missing_module", f"no {file} in the family directory", file)
    try:
        # Load by path, not by name: a family may be named like a module Python has already imported
        # (e.g. "stat"), and import_module would hand back that module instead.
        spec = importlib.util.spec_from_file_location(name, os.path.join(family_dir, file))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        rel = os.path.relpath(exc.filename, family_dir) if exc.filename else file
        raise HelperError("syntax_error", f"syntax error: {exc.msg}", rel, exc.lineno) from exc
    except Exception as exc:
        where_file, line = _where(exc.__traceback__, family_dir)
        raise HelperError(
            "raised", f"importing the module raised {type(exc).__name__}: {exc}", where_file or file, line
        ) from exc
    family = getattr(module, "TaskFamily", None)
    if not isinstance(family, type):
        raise HelperError("no_taskfamily", "the module defines no class TaskFamily", file)
    return family, file


def get_tasks(family, family_dir, file):
    tasks = _call("get_tasks()", family_dir, family.get_tasks)
    if not isinstance(tasks, dict):
        raise HelperError("bad_tasks", f"get_tasks() returned {type(tasks).__name__}, not a dict", file)
    for name in tasks:
        if not isinstance(name, str) or not name:
            raise HelperError(
                "bad_tasks", f"get_tasks() has a task name that is not a string: {name!r}", file
            )
    return tasks


def describe(family, family_dir, file):
    tasks = get_tasks(family, family_dir, file)
    out = {}
    for name, data in tasks.items():
        data = _json_safe(data, f"the task data of task {name!r}", file)
        instructions = _call(f"get_instructions({name!r})", family_dir, family.get_instructions, tasks[name])
        if not isinstance(instructions, str):
            raise HelperError(
                "bad_instructions",
                f"get_instructions() for task {name!r} returned {type(instructions).__name__}, not a string",
                file,
            )
        permissions = []
        if hasattr(family, "get_permissions"):
            permissions = _call(f"get_permissions({name!r})", family_dir, family.get_permissions, tasks[name])
            if not isinstance(permissions, list) or not all(isinstance(p, str) for p in permissions):
                raise HelperError(
                    "bad_permissions",
                    f"get_permissions() for task {name!r} must return a list of strings",
                    file,
                )
        aux_vm = None
        if hasattr(family, "get_aux_vm_spec"):  # a task may need none: the method returns None for it
            aux_vm = _json_safe(
                _call(f"get_aux_vm_spec({name!r})", family_dir, family.get_aux_vm_spec, tasks[name]),
                f"get_aux_vm_spec()'s result for task {name!r}",
                file,
            )
        out[name] = {"data": data, "instructions": instructions, "permissions": permissions, "aux_vm": aux_vm}
    env = getattr(family, "required_environment_variables", [])
    if not isinstance(env, list) or not all(isinstance(e, str) for e in env):
        raise HelperError("bad_env", "required_environment_variables must be a list of strings", file)
    return {
        "standard_version": getattr(family, "standard_version", None),
        "tasks": out,
        "methods": [m for m in OPTIONAL_METHODS if callable(getattr(family, m, None))],
        "required_environment_variables": env,
    }


# The task methods: the arguments each takes after the task, and whether a missing method is an error.
# start and teardown are optional (nothing to do); the scorers are not.
TASK_METHODS = {
    "start": (lambda payload: (), False),
    "teardown": (lambda payload: (), False),
    "score": (lambda payload: (payload.get("submission", ""),), True),
    "intermediate_score": (lambda payload: (), True),
    "aggregate_scores": (lambda payload: (payload.get("score_log", []),), True),
}


def run(family_dir, name, op, task_name, payload):
    family, file = load_family(family_dir, name)
    if op == "describe":
        return describe(family, family_dir, file)
    if op == "install":
        if hasattr(family, "install"):
            _call("install()", family_dir, family.install)
        return None
    if op not in TASK_METHODS:
        raise HelperError("bad_operation", f"unknown operation {op!r}")
    tasks = get_tasks(family, family_dir, file)
    if task_name not in tasks:
        raise HelperError("no_task", f"get_tasks() has no task {task_name!r}", file)
    args, required = TASK_METHODS[op]
    if not hasattr(family, op):
        if required:
            raise HelperError("no_method", f"TaskFamily has no {op}()", file)
        return None
    result = _call(f"{op}()", family_dir, getattr(family, op), tasks[task_name], *args(payload))
    if op in ("start", "teardown"):
        return None
    if op == "intermediate_score":
        return _json_safe(result, "intermediate_score()'s result", file)
    if result is not None:
        if isinstance(result, bool) or not isinstance(result, (int, float)) or math.isnan(result):
            raise HelperError("bad_score", f"{op}() returned {result!r}, not a number or None", file)
        result = float(result)
    return result


def main(argv):
    if len(argv) < 4 or argv[3] not in OPERATIONS:
        sys.stderr.write(__doc__)
        return 2
    family_dir, name, op = os.path.abspath(argv[1]), argv[2], argv[3]
    task_name = argv[4] if len(argv) > 4 else None
    raw = sys.stdin.read() if op in ("score", "aggregate_scores") else ""
    payload = json.loads(raw) if raw.strip() else {}
    # The family's prints (and its subprocesses') go to stderr; fd 1 is kept for our one JSON line.
    sys.stdout.flush()
    result_fd = os.dup(1)
    os.dup2(2, 1)
    os.chdir(family_dir)
    try:
        doc = {"ok": True, "result": run(family_dir, name, op, task_name, payload)}
    except HelperError as exc:
        doc = {
            "ok": False,
            "error": {"kind": exc.kind, "message": exc.message, "file": exc.file, "line": exc.line},
        }
    sys.stdout.flush()
    sys.stderr.flush()
    with os.fdopen(result_fd, "w") as out:
        out.write(json.dumps(doc) + "\n")
    return 1 if op == "install" and not doc["ok"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
