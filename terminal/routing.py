"""WebSocket routes. Anything but /ws/terminal/<uuid>/ is refused at the handshake (403), as an unknown
session is: never an unrouted path's ValueError, which the server would log and answer with a 500."""

from django.urls import path, re_path

from terminal.consumers import RefuseConsumer, TerminalConsumer

websocket_urlpatterns = [
    path("ws/terminal/<uuid:session_id>/", TerminalConsumer.as_asgi()),
    re_path(r"", RefuseConsumer.as_asgi()),
]
