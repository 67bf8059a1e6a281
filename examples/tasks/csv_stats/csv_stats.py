"""Statistics from a realistic CSV of web requests: minutes for a data scientist."""

import csv
import os
import random
import shutil

REGIONS = ["us-east", "us-west", "eu-west", "eu-central", "ap-south"]
ENDPOINTS = ["/api/search", "/api/cart", "/api/login", "/api/items", "/health"]
PATH = "/home/agent/requests.csv"


def generate(seed):
    """Deterministic rows: the scorer regenerates them rather than trusting the agent's copy."""
    rng = random.Random(seed)
    error_bias = {"us-east": 0.01, "us-west": 0.015, "eu-west": 0.02, "eu-central": 0.05, "ap-south": 0.03}
    rows = []
    t = 1_700_000_000
    for i in range(6000):
        t += rng.randint(0, 4)
        region = rng.choice(REGIONS)
        endpoint = rng.choice(ENDPOINTS)
        r = rng.random()
        status = 500 if r < error_bias[region] else (503 if r < error_bias[region] * 1.4 else
                                                      (404 if r < 0.08 else 200))
        latency = round(rng.lognormvariate(4.2 if endpoint != "/health" else 1.5, 0.6), 1)
        rows.append({"request_id": f"r{i:05d}", "ts": t, "region": region, "endpoint": endpoint,
                     "status": status, "latency_ms": latency})
    return rows


def mean_latency(rows):
    vals = [r["latency_ms"] for r in rows if r["region"] == "eu-west" and r["status"] == 200
            and r["endpoint"] != "/health"]
    return round(sum(vals) / len(vals), 2)


def worst_region(rows):
    rates = {}
    for region in REGIONS:
        rs = [r for r in rows if r["region"] == region]
        rates[region] = 100.0 * sum(1 for r in rs if r["status"] >= 500) / len(rs)
    region = max(rates, key=rates.get)
    return region, round(rates[region], 1)


class TaskFamily:
    standard_version = "0.3.0"

    @staticmethod
    def get_tasks():
        return {
            "mean_latency": {"seed": 1234, "kind": "mean_latency", "question": (
                "What is the mean latency_ms of successful (status 200) requests in region eu-west, "
                "leaving out the /health endpoint? Submit the number rounded to 2 decimals, e.g. 81.27."
            )},
            "error_rate": {"seed": 1234, "kind": "error_rate", "question": (
                "Which region has the highest server-error rate (status 5xx, as a share of all of that "
                "region's requests)? Submit the region and its rate in percent with one decimal, separated "
                "by a comma, e.g. us-east,1.9"
            )},
        }

    @staticmethod
    def get_instructions(t):
        head = ("/home/agent/requests.csv is a log of web requests (request_id, ts, region, endpoint, "
                "status, latency_ms).\n\n")
        return head + t["question"]

    @staticmethod
    def start(t):
        rows = generate(t["seed"])
        with open(PATH, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        shutil.chown(PATH, "agent", "agent")
        os.chmod(PATH, 0o644)

    @staticmethod
    def score(t, submission):
        rows = generate(t["seed"])
        text = submission.strip()
        if t["kind"] == "mean_latency":
            try:
                return 1.0 if abs(float(text) - mean_latency(rows)) <= 0.011 else 0.0
            except ValueError:
                return 0.0
        region, rate = worst_region(rows)
        parts = [p.strip() for p in text.split(",")]
        if len(parts) != 2:
            return 0.0
        try:
            ok = parts[0] == region and abs(float(parts[1].rstrip("%")) - rate) <= 0.051
        except ValueError:
            return 0.0
        return 1.0 if ok else 0.0
