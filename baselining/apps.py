from django.apps import AppConfig


class BaseliningConfig(AppConfig):
    name = "baselining"

    def ready(self) -> None:
        import config.checks  # noqa: F401  (registers the system checks)
        from baselining.services import receivers
        from terminal import signals

        signals.session_owner_attached.connect(
            receivers.on_terminal_live, dispatch_uid="baselining.clock_start"
        )
        signals.session_idle.connect(receivers.on_terminal_idle, dispatch_uid="baselining.idle")
        signals.session_owner_left.connect(receivers.on_terminal_owner_left, dispatch_uid="baselining.left")
        signals.session_owner_back.connect(receivers.on_terminal_owner_back, dispatch_uid="baselining.back")
        signals.session_platform_outage.connect(
            receivers.on_terminal_platform_outage, dispatch_uid="baselining.platform"
        )
        signals.session_platform_down.connect(
            receivers.on_terminal_platform_down, dispatch_uid="baselining.platform_down"
        )
        signals.session_parked.connect(receivers.on_terminal_parked, dispatch_uid="baselining.parked")
        signals.session_start_failed.connect(
            receivers.on_terminal_start_failed, dispatch_uid="baselining.start_failed"
        )
        from baselining.services.flags import flag_fixed

        flag_fixed.connect(receivers.on_flag_fixed, dispatch_uid="baselining.invalidate")
        from baselining.services.feedback import qa_ready_check
        from tasks.services.status import register_ready_check

        register_ready_check(qa_ready_check)  # a task becomes ready only with a passed QA run
