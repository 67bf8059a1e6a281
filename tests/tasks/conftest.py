"""The platform served with its session host and a Celery worker: the terminal tests' fixtures, shared."""

from tests.terminal.conftest import (  # noqa: F401  (fixtures, found by pytest by name)
    _recordings,
    remote_server,
    users,
    worker,
)
