"""Identify a black-box function built from primitives; its source stays hidden under /root.

The black box is a service root starts in start() (assets/server.py, listening on a Unix socket): the
agent runs /home/agent/blackbox, a client that asks it. An execute-only binary would not do: a program
the agent can run is a program the agent can read (LD_PRELOAD, /proc/self/mem, a debugger).
"""

import ast
import os
import shutil
import subprocess
import time

ALLOWED = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Name, ast.Constant, ast.Load, ast.Add, ast.Sub,
           ast.Mult, ast.FloorDiv, ast.Mod, ast.Pow, ast.LShift, ast.RShift, ast.BitOr, ast.BitXor,
           ast.BitAnd, ast.Invert, ast.USub, ast.UAdd)


def hidden(x):
    return ((x * 7) ^ (x >> 2)) + 3


def evaluate(expr, x):
    tree = ast.parse(expr, mode="eval")
    for node in ast.walk(tree):
        if not isinstance(node, ALLOWED) or (isinstance(node, ast.Name) and node.id != "x"):
            raise ValueError(f"not allowed: {type(node).__name__}")
        if isinstance(node, ast.Pow) or (isinstance(node, ast.Constant) and not isinstance(node.value, int)):
            raise ValueError("only integer constants and no powers")
    return eval(compile(tree, "<answer>", "eval"), {"__builtins__": {}}, {"x": x})


class TaskFamily:
    standard_version = "0.3.0"

    @staticmethod
    def get_tasks():
        return {"identify": {"checks": 3000}}

    @staticmethod
    def get_instructions(t):
        return (
            "/home/agent/blackbox is a program that computes an integer function f(N) for an integer N "
            "from 0 to 100000:\n\n    ./blackbox 12\n\n"
            "f is built from a few integer primitives (+, -, *, //, %, <<, >>, &, |, ^ and small constants). "
            "Its source is not available to you.\n\n"
            "Submit f as a Python expression in x, e.g. (x + 1) * 2. It must agree with the black box on "
            "every N from 0 to 100000."
        )

    @staticmethod
    def start(t):
        subprocess.check_call(["python3", "-I", "/root/assets/server.py"], cwd="/", env={"PATH": "/usr/bin:/bin"})
        for _ in range(100):  # the service is up when its socket is
            if os.path.exists("/run/blackbox/blackbox.sock"):
                break
            time.sleep(0.05)
        shutil.copy("/root/assets/client.py", "/home/agent/blackbox")
        os.chmod("/home/agent/blackbox", 0o755)

    @staticmethod
    def score(t, submission):
        try:
            for x in list(range(0, t["checks"])) + list(range(100000 - t["checks"], 100001)):
                if evaluate(submission.strip(), x) != hidden(x):
                    return 0.0
        except Exception:
            return 0.0
        return 1.0
