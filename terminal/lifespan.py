"""ASGI lifespan: when the web process stops, the embedded session host ends its sessions cleanly."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings

log = logging.getLogger(__name__)


async def lifespan(
    scope: dict[str, Any],
    receive: Callable[[], Awaitable[dict[str, Any]]],
    send: Callable[[dict[str, Any]], Awaitable[None]],
) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if not settings.SESSION_HOST_SOCKET:
                from terminal.gateway import host_with_hooks

                try:
                    await host_with_hooks().shutdown()
                except Exception:
                    log.exception("ending sessions at shutdown failed")
            await send({"type": "lifespan.shutdown.complete"})
            return
