"""The terminal WebSocket's Origin check (config/websocket_origin.py), through the real ASGI application.

A handshake the Origin check refuses is closed by Channels' denier (code 1000); one it lets through reaches
the terminal consumer, which refuses an unknown session with 4403. So the close code tells which one spoke.
"""

from __future__ import annotations

import uuid

import pytest

from tests.websockets import ws_handshake

pytestmark = pytest.mark.django_db(transaction=True)
ORIGIN_REFUSED, PAST_THE_ORIGIN_CHECK = 1000, 4403


def _handshake(origin: str | None, host: str = "127.0.0.1:8000", scheme: str = "ws", **headers: str) -> int:
    """Open a terminal WebSocket to an unknown session; the close code of the refused handshake."""
    hdrs = [(b"host", host.encode())] + [(k.encode(), v.encode()) for k, v in headers.items()]
    if origin is not None:
        hdrs.append((b"origin", origin.encode()))
    reply = ws_handshake(f"/ws/terminal/{uuid.uuid4()}/", hdrs, scheme=scheme, server=("127.0.0.1", 8000))
    assert reply["type"] == "websocket.close", reply
    return int(reply.get("code", 1000))


def test_the_sites_own_origin_passes() -> None:
    assert _handshake("http://127.0.0.1:8000") == PAST_THE_ORIGIN_CHECK
    assert _handshake("https://127.0.0.1", host="127.0.0.1", scheme="wss") == PAST_THE_ORIGIN_CHECK
    assert _handshake("http://localhost:8000", host="localhost:8000") == PAST_THE_ORIGIN_CHECK


@pytest.mark.parametrize(
    "origin",
    [
        "http://127.0.0.1:9000",  # same host, another port (another service's page)
        "https://127.0.0.1:8000",  # same host and port, another scheme
        "http://127.0.0.1",  # same host, the default port
        "http://evil.example:8000",  # another site
        "null",  # a sandboxed iframe or a file:// page
        None,  # no Origin at all
    ],
)
def test_any_other_origin_is_refused(origin) -> None:
    assert _handshake(origin) == ORIGIN_REFUSED


def test_a_plain_http_page_cannot_reach_the_https_site() -> None:
    assert _handshake("http://127.0.0.1", host="127.0.0.1", scheme="wss") == ORIGIN_REFUSED


def test_a_host_not_served_is_refused_even_as_its_own_origin() -> None:
    """DNS rebinding: evil.example resolving to this server sends Host and Origin evil.example."""
    assert _handshake("http://evil.example:8000", host="evil.example:8000") == ORIGIN_REFUSED


def test_behind_the_tls_proxy_the_forwarded_scheme_counts(settings) -> None:
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    host = "localhost"  # one of ALLOWED_HOSTS (read once, when the application is built)
    assert _handshake(f"https://{host}", host=host, **{"x-forwarded-proto": "https"}) == PAST_THE_ORIGIN_CHECK
    assert _handshake(f"http://{host}", host=host, **{"x-forwarded-proto": "https"}) == ORIGIN_REFUSED
    # a trusted origin counts exactly, scheme and port included
    settings.CSRF_TRUSTED_ORIGINS = ["https://localhost"]
    assert _handshake(f"https://{host}", host=host) == PAST_THE_ORIGIN_CHECK
    assert _handshake(f"https://{host}:8443", host=host) == ORIGIN_REFUSED
