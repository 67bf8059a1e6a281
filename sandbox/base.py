"""The sandbox interface: what every backend provides to the importer, the scorer and the terminal."""

from __future__ import annotations

import abc
import select
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

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


HELPER_SRC = Path(__file__).resolve().parents[1] / "tasks" / "helper"  # copied or mounted at HELPER_DIR
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# What one command may print, per stream, before the platform stops it: a command run on someone's behalf
# never streams an endless file into the process that called it (and a session host's reply stays under
# its socket's message limit, base64 included).
MAX_EXEC_OUTPUT = 4 * 1024 * 1024


def wait_ready(read: Iterable[int | Any], write: int | None, timeout: float) -> tuple[list[Any], bool]:
    """Which of `read` (descriptors, or objects with fileno()) have something to read (or their end), and
    whether `write` can take more (or is broken), within timeout seconds. poll(2), not select(2): a process
    holding many sessions has descriptors numbered past 1024, which select() cannot watch
    ("filedescriptor out of range in select()")."""
    poller = select.poll()
    watched = {}
    for item in read:
        fd = item if isinstance(item, int) else item.fileno()
        watched[fd] = item
        poller.register(fd, select.POLLIN)
    if write is not None:
        poller.register(write, select.POLLOUT)
    events = dict(poller.poll(max(0.0, timeout) * 1000))
    ready = [item for fd, item in watched.items() if events.get(fd, 0)]
    return ready, write is not None and bool(events.get(write, 0))


def readable(fd: int | Any, timeout: float) -> bool:
    """Whether fd (or an object with fileno()) has something to read (or its end) within timeout seconds."""
    return bool(wait_ready([fd], None, timeout)[0])


class SandboxError(Exception):
    """A sandbox could not be created or used; the message says why in words staff can act on."""


class ImageBuildError(SandboxError):
    """A family's image did not build. When the helper's install step failed, kind, message, file and line
    are its JSON error (file and line point into the family); otherwise kind is "build" and the message
    is the builder's, with the end of its output."""

    def __init__(
        self, message: str, *, kind: str = "build", file: str | None = None, line: int | None = None
    ) -> None:
        super().__init__(message)
        self.kind, self.message, self.file, self.line = kind, message, file, line


class FileRefused(Exception):
    """Sandbox.read_file would not read a path: `kind` is one of the READ_* reasons below."""

    def __init__(self, kind: str, path: str) -> None:
        super().__init__(f"{path}: {kind}")
        self.kind, self.path = kind, path


READ_LINK = "link"  # the path or a directory on it is a symbolic link
READ_NOT_REGULAR = "not_regular"  # a directory, FIFO, socket or device
READ_DENIED = "denied"  # the user it is read as may not read it
READ_TOO_LARGE = "too_large"
READ_TIMEOUT = "timeout"
READ_FAILED = "failed"  # anything else (an I/O error, the reader could not run)
READ_MISSING = "missing"

# Reads one file as a sandbox user, in the sandbox: each component opened with O_NOFOLLOW from /, the last
# with O_NONBLOCK (a FIFO neither blocks the open nor is read), then fstat on the open descriptor (no
# window between the check and the read) and at most limit + 1 bytes. `python3 -I -S`: no environment
# variables, no user site directory, nothing the user could have placed runs first.
READER = r"""
import errno, os, stat, sys
path, limit = sys.argv[1], int(sys.argv[2])
def fail(kind):
    sys.stderr.write(kind)
    sys.exit(3)
parts = [p for p in path.split("/") if p]
flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NOCTTY | os.O_CLOEXEC
try:
    fd = os.open("/", os.O_RDONLY | os.O_DIRECTORY)
    for part in parts[:-1]:
        fd = os.open(part, flags | os.O_DIRECTORY, dir_fd=fd)
    fd = os.open(parts[-1], flags | os.O_NONBLOCK, dir_fd=fd)
except FileNotFoundError:
    fail("missing")
except OSError as exc:
    fail({errno.ELOOP: "link", errno.ENOTDIR: "link", errno.EACCES: "denied", errno.EPERM: "denied",
          errno.ENXIO: "not_regular"}.get(exc.errno, "failed"))
st = os.fstat(fd)
if not stat.S_ISREG(st.st_mode):
    fail("not_regular")
if st.st_size > limit:
    fail("too_large")
chunks, size = [], 0
while size <= limit:
    chunk = os.read(fd, min(1 << 20, limit + 1 - size))
    if not chunk:
        break
    chunks.append(chunk)
    size += len(chunk)
if size > limit:
    fail("too_large")
sys.stdout.buffer.write(b"".join(chunks))
"""


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
    # A parked session's snapshot (Sandbox.snapshot) to restore instead of a fresh sandbox of the task.
    restore_image: str | None = None

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
    truncated: bool = False  # a stream passed max_output: the command was killed there


class OutputCap:
    """Collects a command's stdout and stderr up to a cap per stream; past it, `over` is set."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.streams = (bytearray(), bytearray())
        self.over = False

    def add(self, stream: int, chunk: bytes) -> None:
        buf = self.streams[stream]
        room = self.limit - len(buf)
        if len(chunk) > room:
            self.over = True
            chunk = chunk[: max(room, 0)]
        buf.extend(chunk)

    def result(self, returncode: int, *, timed_out: bool = False) -> ExecResult:
        out, err = (bytes(b) for b in self.streams)
        return ExecResult(returncode, out, err, timed_out=timed_out, truncated=self.over)


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
        max_output: int = MAX_EXEC_OUTPUT,
    ) -> ExecResult:
        """Run argv to completion inside the sandbox as root or as the agent.

        Killed at `timeout` seconds (timed_out) or once stdout or stderr passes `max_output` bytes
        (truncated: what came before the cap is kept)."""

    def read_file(self, path: str, *, user: User = "agent", limit: int, timeout: float = 10) -> bytes:
        """The bytes of a regular file in the sandbox, read with `user`'s rights only.

        Whatever the platform reads on someone's behalf goes through here: links are never followed
        (not the file, not a directory on its path), only a regular file is read, at most `limit` bytes,
        within `timeout`. FileRefused(kind, path) says why not."""
        if not path.startswith("/") or "\0" in path:
            raise FileRefused(READ_FAILED, path)
        ran = self.exec(
            ["python3", "-I", "-S", "-c", READER, path, str(limit)],
            user=user,
            timeout=timeout,
            cwd="/",
            max_output=limit + 1,
        )
        if ran.timed_out:
            raise FileRefused(READ_TIMEOUT, path)
        if ran.returncode != 0 or ran.truncated:
            kind = ran.stderr.decode(errors="replace").strip()
            known = (READ_LINK, READ_NOT_REGULAR, READ_DENIED, READ_TOO_LARGE, READ_MISSING)
            raise FileRefused(kind if kind in known else READ_FAILED, path)
        return ran.stdout

    @abc.abstractmethod
    def pty_command(self, *, cols: int, rows: int) -> tuple[list[str], dict[str, str]]:
        """Host argv and environment that start the agent's login shell (bash -l) on the caller's PTY.

        The caller runs it with the PTY's slave as stdin/stdout/stderr; the shell gets that PTY as its
        controlling terminal (job control works)."""

    def snapshot(self, tag: str) -> str:
        """Park: stop every process of the agent, keep its files (the home, /tmp and everything written)
        in an image, and return the image's id; `SandboxSpec.restore_image` gives them back. Backends that
        cannot raise SandboxError."""
        raise SandboxError("this sandbox backend cannot park a session (the docker backend can)")

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

    def reap_orphans(self, keep: Collection[str] = ()) -> list[str]:
        """At a session host's start: remove sandboxes an earlier run of it left behind (after a crash),
        but those whose ids are in `keep` (live sessions' keepers hold them).

        Backends whose sandboxes die with their parent process have none."""
        return []
