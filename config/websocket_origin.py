"""The WebSocket Origin check: a terminal socket is accepted only from a page of this very site.

Channels' AllowedHostsOriginValidator compares the Origin's host name with ALLOWED_HOSTS only, so a page on
another port or scheme of the same host (another service on :9000, a plain-http page) could open a
contractor's terminal with their cookie. This validator requires the Origin to be the request's own origin
(scheme, host and port, as Django's CSRF check does for forms), or one of CSRF_TRUSTED_ORIGINS exactly; it
sits inside AllowedHostsOriginValidator, which still keeps out host names that are not ours (DNS
rebinding). A handshake without an Origin is refused: browsers always send one.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings

DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin_tuple(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(url.strip().lower())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    return parts.scheme, parts.hostname, port or DEFAULT_PORTS[parts.scheme]


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin1")
    return None


def own_origin(scope: dict[str, Any]) -> tuple[str, str, int] | None:
    """The site's origin as this handshake reached it: the scheme (https behind the TLS proxy when
    SECURE_PROXY_SSL_HEADER trusts its header, as request.is_secure() does) and the Host header."""
    host = _header(scope, b"host")
    if not host:
        return None
    secure = scope.get("scheme") in ("wss", "https")
    proxy_header = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy_header:
        name, value = proxy_header
        forwarded = _header(scope, name.removeprefix("HTTP_").replace("_", "-").lower().encode())
        if forwarded is not None:
            secure = forwarded.split(",")[0].strip().lower() == value
    return _origin_tuple(f"{'https' if secure else 'http'}://{host}")


def origin_allowed(scope: dict[str, Any]) -> bool:
    origin = _header(scope, b"origin")
    parsed = _origin_tuple(origin) if origin else None
    if parsed is None:
        return False
    if parsed == own_origin(scope):
        return True
    return any(parsed == _origin_tuple(o) for o in settings.CSRF_TRUSTED_ORIGINS)


class SameOriginValidator:
    """ASGI middleware: a WebSocket whose Origin is not this site's own is refused at the handshake."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket" and not origin_allowed(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
