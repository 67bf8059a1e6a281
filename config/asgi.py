"""ASGI entry point served by uvicorn: Django over HTTP, the terminal over WebSocket."""

import os
from typing import Any

import django
from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DATABASE_POOL", "1")  # PostgreSQL connections pooled in the web process (settings)
django.setup(set_prefix=False)  # as get_asgi_application() does


class OneHopASGIHandler(ASGIHandler):
    """Django's ASGI handler with its middleware and views run as under WSGI: the whole chain, synchronous,
    in the request's own thread, entered once.

    Every view here is synchronous (the ORM is), and Django's ASGI handler builds an async chain: each of its
    middleware's process_request and process_response, and then the view, is a hop to a thread and back
    (about 15 per request with ours). Those hops were a quarter of a page's CPU in the web process: /healthz
    4.0 ms -> 2.0 ms, Start's press (POST and session page) 27 -> 20 ms (docs/deployment.md, "Capacity")."""

    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)
        # thread_sensitive: the thread of this request's ThreadSensitiveContext (ASGIHandler.__call__ opens
        # one per request), where its response is also closed and its database connection given back
        chain: Any = self._middleware_chain  # type: ignore[has-type]
        self._middleware_chain = sync_to_async(chain, thread_sensitive=True)


django_asgi_app = OneHopASGIHandler()

# These import models and consumers, so they come after the app registry is loaded.
from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from config.websocket_origin import SameOriginValidator  # noqa: E402
from terminal.lifespan import lifespan  # noqa: E402
from terminal.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Session-cookie authentication; the Origin must be this site's own (scheme, host and port) and its
        # host one of ALLOWED_HOSTS: no cross-site WebSocket hijacking (config/websocket_origin.py).
        "websocket": AllowedHostsOriginValidator(
            SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
        ),
        # On shutdown the embedded session host ends its sessions cleanly (recordings closed, reasons kept).
        "lifespan": lifespan,
    }
)
