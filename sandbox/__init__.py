"""Sandbox backends behind one interface; SANDBOX_BACKEND picks one."""

import socket
from functools import cache
from pathlib import Path
from typing import Any, cast

from django.conf import settings

from .base import Backend, ExecResult, Limits, Sandbox, SandboxError, SandboxSpec

__all__ = [
    "Backend",
    "ExecResult",
    "Limits",
    "Sandbox",
    "SandboxError",
    "SandboxSpec",
    "backend_class",
    "backend_config",
    "backend_from_config",
    "backend_provides",
    "get_backend",
]


def backend_class(name: str | None = None) -> type[Backend]:
    """The class of the backend SANDBOX_BACKEND names (or `name`)."""
    name = name or settings.SANDBOX_BACKEND
    # Imported when asked for: a process loads the one backend it uses (the docker backend loads the
    # Docker SDK; a bubblewrap platform need not have it working).
    if name == "bubblewrap":
        from .bubblewrap import BubblewrapBackend  # noqa: PLC0415

        return BubblewrapBackend
    if name == "docker":
        from .docker import DockerBackend  # noqa: PLC0415

        return DockerBackend
    raise SandboxError(f"unknown SANDBOX_BACKEND {name!r}; this build has: bubblewrap, docker")


def backend_provides(name: str | None = None) -> frozenset[str]:
    """The needs (NEED_*) the configured backend (or `name`) can satisfy, without connecting to it: a web
    process that never runs a sandbox asks this to know which tasks it may hand out."""
    return backend_class(name).provides


def get_backend(name: str | None = None) -> Backend:
    """The backend SANDBOX_BACKEND names (or `name`), one instance per backend and process."""
    return _backend(name or settings.SANDBOX_BACKEND)


def backend_config(name: str | None = None) -> dict[str, Any]:
    """The configured backend as plain data ({"name", "options"}): a session keeper, a process that does
    not load Django, builds the same backend from it (`backend_from_config`)."""
    name = name or settings.SANDBOX_BACKEND
    if name == "bubblewrap":
        options: dict[str, Any] = {
            "state_dir": str(settings.SANDBOX_DIR),
            "uid_base": settings.SANDBOX_UID_BASE,
            "require_cgroups": settings.SANDBOX_REQUIRE_CGROUPS,
        }
    else:
        # One platform instance: its session host's socket, or (embedded) its sandbox directory. Two
        # instances on one machine never reap each other's containers.
        instance = settings.SESSION_HOST_SOCKET or f"embedded:{settings.SANDBOX_DIR}"
        options = {
            "base_image": settings.DOCKER_BASE_IMAGE,
            "build_network": settings.DOCKER_BUILD_NETWORK,
            "owner": f"{socket.gethostname()}:{instance}",
        }
    return {"name": name, "options": options}


def backend_from_config(config: dict[str, Any]) -> Backend:
    cls: Any = backend_class(str(config["name"]))
    options = dict(config["options"])
    if "state_dir" in options:
        options["state_dir"] = Path(options["state_dir"])
    return cast(Backend, cls(**options))


@cache
def _backend(name: str) -> Backend:
    return backend_from_config(backend_config(name))
