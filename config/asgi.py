"""ASGI entry point served by uvicorn: Django over HTTP, the terminal over WebSocket."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DATABASE_POOL", "1")  # PostgreSQL connections pooled in the web process (settings)
django_asgi_app = get_asgi_application()

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
