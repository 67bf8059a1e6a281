"""The platform served by uvicorn with its session host: the terminal tests' fixtures, shared."""

from tests.terminal.conftest import (  # noqa: F401  (fixtures, found by pytest by name)
    _recordings,
    embedded_server,
    impatient_server,
    remote_server,
    server,
    suite,
    users,
    worker,
)
