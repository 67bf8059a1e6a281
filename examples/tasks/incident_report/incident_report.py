"""Write a postmortem from application logs: an hour-long task scored by a human with a rubric."""

import os
import random
import shutil

LOG = "/home/agent/logs/app.log"


def generate(seed):
    rng = random.Random(seed)
    lines = []
    t = 13 * 3600 + 30 * 60  # 13:30:00
    for _ in range(2400):
        t += rng.randint(0, 2)
        hh, mm, ss = t // 3600, t % 3600 // 60, t % 60
        stamp = f"2026-03-14T{hh:02d}:{mm:02d}:{ss:02d}Z"
        phase = "before" if t < 14 * 3600 + 2 * 60 else ("incident" if t < 14 * 3600 + 41 * 60 else "after")
        if t == 14 * 3600 + 1 * 60 or (phase == "before" and not any("deploy" in x for x in lines) and
                                        t > 14 * 3600):
            lines.append(f"{stamp} INFO deploy: release 2026.03.14-2 rolled out (db pool size 50 -> 5)")
            continue
        if phase == "incident" and rng.random() < 0.45:
            msg = rng.choice([
                "ERROR db: timeout acquiring connection from pool (5/5 in use, waited 30000 ms)",
                "ERROR api: 503 POST /api/checkout upstream db unavailable",
                "WARN  worker: job payment-capture retry 3/5",
            ])
        elif phase == "after" and not any("rollback" in x for x in lines):
            msg = "INFO deploy: rollback to release 2026.03.14-1 (db pool size 5 -> 50)"
        else:
            msg = rng.choice([
                f"INFO  api: 200 GET /api/items {rng.randint(20, 90)}ms",
                f"INFO  api: 200 POST /api/cart {rng.randint(30, 120)}ms",
                "DEBUG cache: hit ratio 0.93",
            ])
        lines.append(f"{stamp} {msg}")
    return "\n".join(lines) + "\n"


class TaskFamily:
    standard_version = "0.3.0"

    @staticmethod
    def get_tasks():
        return {"postmortem": {"seed": 314}}

    @staticmethod
    def get_instructions(t):
        return (
            "Checkout failed for a while on 14 March. /home/agent/logs/app.log holds the application's log "
            "for that afternoon.\n\n"
            "Write a short postmortem as your submission (plain text, 200-600 words) with: a timeline (UTC), "
            "the root cause, the customer impact (how long, which requests), how it was resolved, and two to "
            "four action items that would prevent a repeat."
        )

    @staticmethod
    def start(t):
        os.makedirs("/home/agent/logs", exist_ok=True)
        with open(LOG, "w") as f:
            f.write(generate(t["seed"]))
        for p in ("/home/agent/logs", LOG):
            shutil.chown(p, "agent", "agent")

    @staticmethod
    def score(t, submission):
        return None  # a person scores it against the rubric in manifest.yaml
