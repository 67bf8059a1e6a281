"""WebSocket paths that are no terminal's are refused at the handshake, like an unknown session: no 500."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tests.websockets import ws_handshake

pytestmark = pytest.mark.django_db(transaction=True)

PATHS = [
    "/ws/terminal/not-a-uuid/",
    "/ws/terminal/../../etc/passwd",
    "/ws/terminal/00000000-0000-0000-0000-000000000000/",  # a UUID, but no session: refused as before
    "/ws/terminal/",
    "/ws/",
    "/ws/terminal/%3Cscript%3E/",
    "/anything/else",
]


def _connect(path: str, cookie: str | None) -> dict[str, Any]:
    headers = [(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")]
    if cookie:
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    return ws_handshake(path, headers)  # an unrouted path raised here (a 500)


@pytest.mark.parametrize("path", PATHS)
def test_a_path_that_is_no_terminal_is_refused_cleanly(path: str, caplog) -> None:
    staff = get_user_model().objects.create_user("boss", password="x-pass-123", is_staff=True)
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(staff)
    with caplog.at_level(logging.WARNING):
        for cookie in (None, client.cookies["sessionid"].value):
            reply = _connect(path, cookie)
            assert reply["type"] == "websocket.close" and reply["code"] == 4403, (path, reply)
    assert not [r for r in caplog.records if r.exc_info], "no traceback for a bad path"
