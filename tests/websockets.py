"""A WebSocket handshake against the platform's ASGI application, as uvicorn makes it (channels.testing would
import daphne, which we do not use: the scope is built by hand)."""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator


def ws_handshake(
    path: str,
    headers: list[tuple[bytes, bytes]],
    *,
    scheme: str = "ws",
    server: tuple[str, int] = ("127.0.0.1", 80),
) -> dict[str, Any]:
    """The application's first answer to a connect (websocket.accept or websocket.close), after which the
    client goes away; whatever the application raised is raised here."""
    from config.asgi import application

    async def go() -> dict[str, Any]:
        scope: dict[str, Any] = {
            "type": "websocket",
            "path": path,
            "raw_path": path.encode(),
            "headers": headers,
            "scheme": scheme,
            "query_string": b"",
            "subprotocols": [],
            "client": ("127.0.0.1", 50000),
            "server": server,
        }
        comm = ApplicationCommunicator(application, scope)
        await comm.send_input({"type": "websocket.connect"})
        reply: dict[str, Any] = await comm.receive_output(30)
        code = reply.get("code", 1000) if reply["type"] == "websocket.close" else 1000
        await comm.send_input({"type": "websocket.disconnect", "code": code})  # as the server says
        await comm.wait(30)
        return reply

    return async_to_sync(go)()
