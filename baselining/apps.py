from django.apps import AppConfig


class BaseliningConfig(AppConfig):
    name = "baselining"

    def ready(self) -> None:
        from baselining.services.sessions import on_terminal_live
        from terminal.signals import session_live

        session_live.connect(on_terminal_live, dispatch_uid="baselining.clock_start")
