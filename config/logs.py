"""The session a log line is about, for LOG_FORMAT=json (settings.LOGGING): set where a session's work
begins (a keeper, a terminal connection, a session's start, a job about one session); every line logged
in that context, and in the tasks it starts, carries it as `session_id`."""

from __future__ import annotations

import logging
import os
from contextvars import ContextVar
from typing import IO

from pythonjsonlogger.json import JsonFormatter

SESSION_ID: ContextVar[str] = ContextVar("session_id", default="")


def about_session(session_id: object) -> None:
    """From here on in this context (a task, a thread, a keeper process), log lines name this session."""
    SESSION_ID.set(str(session_id))


class SessionIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "session_id"):
            record.session_id = SESSION_ID.get() or None
        return True


JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s %(session_id)s"
JSON_RENAMES = {"asctime": "time", "levelname": "level", "name": "logger"}


def log_to(stream: IO[str], *, text_format: str) -> None:
    """A process's own logging (a keeper): one handler on `stream`, one JSON object per line when
    LOG_FORMAT=json (as settings.LOGGING), else `text_format`."""
    handler = logging.StreamHandler(stream)
    handler.addFilter(SessionIdFilter())
    if os.environ.get("LOG_FORMAT", "text") == "json":
        handler.setFormatter(JsonFormatter(JSON_FIELDS, rename_fields=JSON_RENAMES))
    else:
        handler.setFormatter(logging.Formatter(text_format))
    logging.basicConfig(handlers=[handler], level=logging.INFO, force=True)
