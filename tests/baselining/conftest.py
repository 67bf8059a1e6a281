# The platform served by uvicorn with its session host, shared with the terminal tests.
from tests.terminal.conftest import _recordings, embedded_server, remote_server, suite, users, worker  # noqa: F401
