from django.apps import AppConfig


class TerminalConfig(AppConfig):
    name = "terminal"

    def ready(self) -> None:
        from channels.security.websocket import WebsocketDenier

        # Channels' denier (a refused Origin) is a consumer on the default channel layer: every refused
        # connection would subscribe to Redis, and a Redis timeout surfaced as an error (seen in CI:
        # "Timeout reading from 127.0.0.1:6379" while closing a refused socket). A denial needs no layer.
        WebsocketDenier.channel_layer_alias = "__no_channel_layer__"
