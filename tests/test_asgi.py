"""The web process's ASGI application: Django's pages answer through one thread hop, not one per middleware.

Each sync-to-thread hop costs CPU on the web process (docs/deployment.md, "Capacity"); Django's own ASGI
handler made ~15 per request with our middleware, config.asgi's handler makes one for the chain."""

from __future__ import annotations

import asyncio
import threading
from typing import Any
from unittest import mock

import pytest
from asgiref.sync import SyncToAsync
from asgiref.testing import ApplicationCommunicator
from django.contrib.auth.models import User
from django.test import Client

HOST = "127.0.0.1"


async def _get(path: str, cookie: str = "") -> tuple[dict[str, Any], bytes]:
    from config.asgi import application

    headers = [(b"host", HOST.encode())]
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": (HOST, 80),
    }
    app = ApplicationCommunicator(application, scope)
    await app.send_input({"type": "http.request", "body": b"", "more_body": False})
    start = await app.receive_output(timeout=10)
    body = b""
    while True:
        part = await app.receive_output(timeout=10)
        body += part.get("body", b"")
        if not part.get("more_body"):
            break
    await app.wait(timeout=10)
    return start, body


def _counting_hops() -> tuple[Any, list[int]]:
    """A patch of asgiref's sync-to-thread call that counts the hops and the threads they ran in."""
    threads: list[int] = []
    real = SyncToAsync.__call__

    async def counted(self: SyncToAsync, *args: Any, **kwargs: Any) -> Any:
        func = self.func

        def spied(*a: Any, **kw: Any) -> Any:
            threads.append(threading.get_ident())
            return func(*a, **kw)

        self.func = spied
        return await real(self, *args, **kwargs)

    return mock.patch.object(SyncToAsync, "__call__", counted), threads


@pytest.mark.django_db(transaction=True)
def test_a_page_runs_its_middleware_and_view_in_one_thread_hop() -> None:
    user = User.objects.create_user("asgi-hops", password="x")
    client = Client(HTTP_HOST=HOST)
    client.force_login(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    asyncio.run(_get("/work/", cookie))  # warm: first-request imports and caches

    patch, threads = _counting_hops()
    with patch:
        start, body = asyncio.run(_get("/work/", cookie))
    assert start["status"] == 200, body[:500]
    assert b"asgi-hops" in body  # the session was read and the user authenticated, through the chain
    # the chain (middleware and view) once; the request_started / request_finished signals' receivers
    # (closing old database connections) and the response's close: all in the same request thread
    assert len(threads) <= 4, len(threads)
    assert len(set(threads)) == 1

    patch, threads = _counting_hops()
    with patch:
        start, _ = asyncio.run(_get("/healthz"))
    assert start["status"] == 200
    assert len(threads) <= 4, len(threads)
