"""Sandbox backends behind one interface; SANDBOX_BACKEND picks one."""

from functools import cache

from django.conf import settings

from .base import Backend, ExecResult, Limits, Sandbox, SandboxError, SandboxSpec

__all__ = ["Backend", "ExecResult", "Limits", "Sandbox", "SandboxError", "SandboxSpec", "get_backend"]


@cache
def get_backend(name: str | None = None) -> Backend:
    name = name or settings.SANDBOX_BACKEND
    if name == "bubblewrap":
        from .bubblewrap import BubblewrapBackend

        return BubblewrapBackend(
            state_dir=settings.SANDBOX_DIR,
            uid_base=settings.SANDBOX_UID_BASE,
            require_cgroups=settings.SANDBOX_REQUIRE_CGROUPS,
        )
    raise SandboxError(f"unknown SANDBOX_BACKEND {name!r}; this build has: bubblewrap")
