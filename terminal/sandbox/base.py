"""The sandbox interface: what every backend provides to the importer, the scorer and the terminal."""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

User = Literal["root", "agent"]
AGENT_UID = 1000
AGENT_HOME = "/home/agent"
FAMILY_ROOT = "/root"
HELPER_DIR = "/opt/taskhelper"

# What a family can need that a backend may not give. Each backend says which of these it can give.
NEED_INSTALL = "install"  # install() must run at image build time
NEED_AUX_VM = "aux_vm"  # get_aux_vm_spec(): an auxiliary virtual machine
NEED_GPU = "gpu"  # manifest resources.gpu
NEED_INTERNET = "internet"  # get_permissions() gives full_internet: an isolated network with egress
NEED_ENV_PREFIX = "env:"  # env:NAME: a required_environment_variables entry not configured here


HELPER_SRC = Path(__file__).resolve().parents[2] / "tasks" / "helper"  # copied or mounted at HELPER_DIR
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class SandboxError(Exception):
    """A sandbox could not be created or used; the message says why in words staff can act on."""


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandbox. Memory and CPU are enforced by the backend's cgroups where present."""

    nproc: int = 512  # processes of the agent (RLIMIT_NPROC) and of the whole sandbox (pids cgroup)
    nofile: int = 1024
    fsize_mb: int = 1024
    tmp_mb: int = 512
    home_mb: int = 1024
    memory_mb: int = 2048  # for processes; the tmpfs home and /tmp get their own sizes on top
    cpus: float = 1.0


@dataclass(frozen=True)
class SandboxSpec:
    """Everything a backend needs to build one sandbox for one task version."""

    family_dir: Path  # the immutable snapshot of the family's files
    family_name: str
    task_name: str | None = None
    permissions: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)  # required_environment_variables, given to root only
    limits: Limits = field(default_factory=Limits)
    instructions: str | None = None

    @property
    def internet(self) -> bool:
        return "full_internet" in self.permissions


def home_of(user: User) -> str:
    """A sandbox user's home and working directory: root's is the family's directory."""
    return FAMILY_ROOT if user == "root" else AGENT_HOME


def command_environ(user: User, spec: SandboxSpec, env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a command in a sandbox, on every backend: a login's, plus the family's required
    variables for root only (the agent never sees them), plus the caller's."""
    environ = {
        "PATH": PATH,
        "HOME": home_of(user),
        "USER": user,
        "LOGNAME": user,
        "SHELL": "/bin/bash",
        "LANG": "C.UTF-8",
        "TERM": "xterm-256color",
    }
    if user == "root":
        environ.update(spec.env)
    environ.update(env or {})
    return environ


@dataclass(frozen=True)
class ExecResult:
    returncode: int
    stdout: bytes
    stderr: bytes
    timed_out: bool = False


class Sandbox(abc.ABC):
    """One live sandbox: a root for start() and scoring, an agent user, a home, a hidden /root."""

    id: str

    @abc.abstractmethod
    def exec(
        self,
        argv: list[str],
        *,
        user: User,
        stdin: bytes | None = None,
        timeout: float = 60,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
    ) -> ExecResult:
        """Run argv to completion inside the sandbox as root or as the agent."""

    @abc.abstractmethod
    def pty_command(self, *, cols: int, rows: int) -> tuple[list[str], dict[str, str]]:
        """Host argv and environment that start the agent's login shell (bash -l) on the caller's PTY.

        The caller runs it with the PTY's slave as stdin/stdout/stderr; the shell gets that PTY as its
        controlling terminal (job control works)."""

    @abc.abstractmethod
    def fingerprint(self) -> dict[str, object]:
        """What this environment was: backend, rootfs or image digest, permissions, resources."""

    @abc.abstractmethod
    def destroy(self) -> None:
        """Kill every process in the sandbox and remove its state. Idempotent."""

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()


class Backend(abc.ABC):
    name: str
    provides: frozenset[str]  # the needs (see NEED_*) this backend can satisfy

    @abc.abstractmethod
    def provision(self, spec: SandboxSpec, on_output: Callable[[str], None] | None = None) -> Sandbox:
        """A fresh sandbox with the family under /root and an empty /home/agent (start() not yet run).

        on_output hears the slow part's progress as text (docker: building the family's image)."""

    @abc.abstractmethod
    def check(self) -> None:
        """Raise SandboxError, saying how to fix it, if this backend cannot run on this machine."""

    def reap_orphans(self) -> list[str]:
        """At a session host's start: remove sandboxes an earlier run of it left behind (after a crash).

        Backends whose sandboxes die with their parent process have none."""
        return []
