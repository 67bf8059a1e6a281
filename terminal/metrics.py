"""The session host's metrics (prometheus-client; config/metrics.py serves them). With keepers each
keeper process counts its own session and the session host's endpoint adds them up (multiprocess mode)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

LIVE_SESSIONS = Gauge(
    "baselines_live_sessions", "Terminal sessions live on this host (sandbox up)", multiprocess_mode="livesum"
)
STARTS_WAITING = Gauge(
    "baselines_start_queue_waiting",
    "Sessions waiting for their turn to start a sandbox (SANDBOX_START_CONCURRENCY)",
    multiprocess_mode="livesum",
)
PROVISION_SECONDS = Histogram(
    "baselines_sandbox_provision_seconds",
    "Time to provision a sandbox and run the family's start() (not the wait for a turn)",
    buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300),
)
START_WAIT_SECONDS = Histogram(
    "baselines_start_wait_seconds",
    "Time a session waited in the start queue for its turn",
    buckets=(0.01, 0.1, 0.5, 1, 2, 4, 8, 15, 30, 60),
)
STARTS = Counter(
    "baselines_session_starts_total",
    "Session starts by result: live, refused (for now: capacity, descriptors, memory, disk), failed",
    ["result"],
)
ECHO_SECONDS = Histogram(
    "baselines_echo_seconds",
    "From a keystroke written to the shell's terminal to its next output read back (the shell's echo)",
    buckets=(0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
)
RECORDED_BYTES = Counter("baselines_recorded_bytes_total", "Bytes written to terminal recordings (asciicast)")
