"""The bubblewrap backend: a long-lived bwrap sandbox per session, entered with nsenter for each command.

Layout inside (see docs/sandbox.md): read-only /usr and a minimal /etc from the host, our own passwd and
group, a size-limited /tmp, /home/agent bind-mounted from the sandbox's state directory and owned by the
agent, the family's files under /root (mode 0700, owned by the sandbox's root), the in-sandbox helper at
/opt/taskhelper, never any network (full_internet tasks need another backend), / remounted read-only.

When the server runs as root every sandbox gets its own range of 65536 unprivileged host uids
(userns_launch.py): root inside is an ordinary host uid, the agent another, and no two sandboxes share one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import functools
import hashlib
import json
import logging
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from . import cgroups
from .base import (
    AGENT_HOME,
    AGENT_UID,
    FAMILY_ROOT,
    HELPER_DIR,
    HELPER_SRC,
    MAX_EXEC_OUTPUT,
    PATH,
    Backend,
    ExecResult,
    OutputCap,
    Sandbox,
    SandboxError,
    SandboxSpec,
    User,
    command_environ,
    home_of,
    readable,
    wait_ready,
)

log = logging.getLogger(__name__)

LAUNCHER = Path(__file__).with_name("userns_launch.py")
UID_RANGE = 65536
VAR_TMP_MB = 64
MAX_SLOTS = 4096
# Host /etc entries the sandbox may read: what shells, Python and TLS need, nothing with host secrets.
ETC_ALLOW = (
    "alternatives",
    "bash.bashrc",
    "ca-certificates",
    "ca-certificates.conf",
    "debian_version",
    "inputrc",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "mime.types",
    "nsswitch.conf",
    "profile",
    "profile.d",
    "python3",
    "python3.11",
    "skel",
    "ssl/certs",
    "terminfo",
    "timezone",
    "magic",
    "vim",
    "issue",
    "os-release",
    "protocols",
    "services",
    "environment",
    "login.defs",
    "gai.conf",
)
PASSWD = (
    "root:x:0:0:root:/root:/bin/bash\n"
    f"agent:x:{AGENT_UID}:{AGENT_UID}:agent:{AGENT_HOME}:/bin/bash\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
)
GROUP = f"root:x:0:\nagent:x:{AGENT_UID}:\nnogroup:x:65534:\n"


def _chown_tree(path: Path, uid: int, gid: int, *, writable: bool = False) -> None:
    """chown -R; with writable, also give the owner write access (snapshots are stored read-only)."""
    for base, dirs, files in os.walk(path):
        for name in [".", *dirs, *files]:
            p = os.path.join(base, name)
            os.chown(p, uid, gid, follow_symlinks=False)
            if writable and not os.path.islink(p):
                os.chmod(p, os.stat(p).st_mode | stat.S_IWUSR)


def _read_until_eof_or(fd: int, marker: bytes, *, timeout: float) -> bytes:
    data = b""
    deadline = time.monotonic() + timeout
    while marker not in data:
        chunk = os.read(fd, 4096) if readable(fd, deadline - time.monotonic()) else b""
        if not chunk:
            break
        data += chunk
    return data


class BubblewrapSandbox(Sandbox):
    def __init__(
        self,
        *,
        backend: BubblewrapBackend,
        sid: str,
        state: Path,
        outer: int,
        slot_lock: int,
        spec: SandboxSpec,
    ) -> None:
        self.id = sid
        self.backend = backend
        self.state = state
        self.outer = outer
        self.spec = spec
        self._slot_lock = slot_lock
        self._proc: subprocess.Popen[bytes] | None = None
        self.cgroup: cgroups.SandboxCgroup | None = None
        self.init_pid = 0

    # -- lifecycle ------------------------------------------------------------------------------
    def _bwrap_args(self) -> list[str]:
        s, lim = self.state, self.spec.limits
        args = [
            "bwrap",
            "--die-with-parent",
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
            # Always: a full_internet task is refused on this backend (NEED_INTERNET), because sharing the
            # host's network would expose loopback services (Redis, the database, the web server).
            "--unshare-net",
            "--hostname",
            "sandbox",
            "--ro-bind",
            "/usr",
            "/usr",
            "--symlink",
            "usr/bin",
            "/bin",
            "--symlink",
            "usr/sbin",
            "/sbin",
            "--symlink",
            "usr/lib",
            "/lib",
            "--symlink",
            "usr/lib64",
            "/lib64",
            "--dir",
            "/etc",
        ]
        for entry in ETC_ALLOW:
            if os.path.exists(f"/etc/{entry}"):
                args += ["--ro-bind", f"/etc/{entry}", f"/etc/{entry}"]
        for name in ("passwd", "group", "hostname", "hosts"):
            args += ["--ro-bind", str(s / "etc" / name), f"/etc/{name}"]
        args += [
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--perms",
            "1777",
            "--size",
            str(lim.tmp_mb * 1024 * 1024),
            "--tmpfs",
            "/tmp",  # noqa: S108  (the sandbox's own private tmpfs)
            "--perms",
            "1777",
            "--size",
            str(VAR_TMP_MB * 1024 * 1024),
            "--tmpfs",
            "/var/tmp",  # noqa: S108  (the sandbox's own private tmpfs)
            "--perms",
            "0755",
            "--tmpfs",
            "/run",
            "--dir",
            "/home",
            "--perms",
            "0755",
            "--size",
            str(lim.home_mb * 1024 * 1024),
            "--tmpfs",
            AGENT_HOME,
            "--bind",
            str(s / "root"),
            FAMILY_ROOT,
            "--ro-bind",
            str(HELPER_SRC),
            HELPER_DIR,
            "--remount-ro",
            "/",
            "--chdir",
            "/",
        ]
        return args

    def start(self) -> None:
        # bwrap reports its child's pid (info fd) before the mounts are in place; the init inside says
        # "ready" on a second pipe once it runs inside the finished sandbox.
        info_r, info_w = os.pipe()
        ready_r, ready_w = os.pipe()
        init = f"echo ready >&{ready_w}; exec {ready_w}>&-; exec /usr/bin/sleep infinity"
        cgroup_args: list[str] = []
        for f in self.cgroup.procs_files if self.cgroup else []:
            cgroup_args += ["--cgroup-procs", f]
        # bwrap's options go through a file descriptor (--args), not its command line: the sandbox's pid 1
        # is a bwrap process, and /proc/1/cmdline would show them, host paths included.
        args_fd = os.memfd_create("bwrap-args")
        try:
            options = [*self._bwrap_args()[1:], "--info-fd", str(info_w)]
            os.write(args_fd, b"".join(o.encode() + b"\0" for o in options))
            os.lseek(args_fd, 0, os.SEEK_SET)
            bwrap = ["bwrap", "--args", str(args_fd), "--", "/bin/bash", "-c", init]
            cmd = [sys.executable, "-I", "-S", str(LAUNCHER), *cgroup_args, str(self.outer), "--", *bwrap]
            self._proc = subprocess.Popen(
                cmd,
                pass_fds=(info_w, ready_w, args_fd),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env={"PATH": PATH, "LANG": "C.UTF-8"},
                start_new_session=True,
            )
        finally:
            os.close(args_fd)
            os.close(info_w)
            os.close(ready_w)
        try:
            ready = _read_until_eof_or(ready_r, b"ready", timeout=30)
            info = _read_until_eof_or(info_r, b"}", timeout=5)
        finally:
            os.close(info_r)
            os.close(ready_r)
        try:
            if b"ready" not in ready:
                raise ValueError("the sandbox's init never started")
            self.init_pid = int(json.loads(info)["child-pid"])
        except (ValueError, KeyError) as exc:
            err = b""
            if self._proc.poll() is None:
                self._proc.kill()
            with contextlib.suppress(Exception):
                err = self._proc.communicate(timeout=5)[1]
            raise SandboxError(f"bubblewrap failed to start: {err.decode(errors='replace').strip()}") from exc
        # The home is a size-limited tmpfs: give it to the agent and put the instructions in it.
        setup = "chown agent:agent /home/agent && cat > /home/agent/instructions.txt && "
        setup += "chown agent:agent /home/agent/instructions.txt"
        if self.spec.instructions is None:
            setup = "chown agent:agent /home/agent"
        result = self.exec(
            ["/bin/sh", "-c", setup], user="root", stdin=(self.spec.instructions or "").encode(), timeout=30
        )
        if result.returncode != 0:
            raise SandboxError(f"could not prepare /home/agent: {result.stderr.decode(errors='replace')}")

    def destroy(self) -> None:
        if self._proc is not None:
            if self._proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self._proc.pid, signal.SIGKILL)
            with contextlib.suppress(Exception):
                self._proc.communicate(timeout=10)
            self._proc = None
        if self.cgroup is not None:
            self.cgroup.remove()
            self.cgroup = None
        if self.state.exists():
            shutil.rmtree(self.state, ignore_errors=True)
        if self._slot_lock >= 0:
            os.close(self._slot_lock)
            self._slot_lock = -1

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- commands -------------------------------------------------------------------------------
    def command(
        self,
        argv: list[str],
        *,
        user: User,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
        tty: bool = False,
    ) -> tuple[list[str], dict[str, str]]:
        """The host argv and environment that run argv inside this sandbox.

        The process joins the sandbox's cgroup first (a small sh wrapper, since preexec_fn is unsafe in
        a threaded server), gets the rlimits, then enters the namespaces. With tty, it becomes a session
        leader inside the sandbox with its stdin as controlling terminal (setsid -c).
        """
        if not self.alive:
            raise SandboxError(f"sandbox {self.id} is not running")
        lim = self.spec.limits
        uid = 0 if user == "root" else AGENT_UID
        environ = command_environ(user, self.spec, env)
        host: list[str] = []
        if self.cgroup is not None:
            host += ["/bin/sh", "-c", CGROUP_JOIN, "cgjoin", ":".join(self.cgroup.procs_files)]
        host += ["prlimit", f"--nofile={lim.nofile}", f"--fsize={lim.fsize_mb * 1024 * 1024}"]
        host += [f"--nproc={lim.nproc}", "--"]
        host += [
            "nsenter",
            f"--target={self.init_pid}",
            "--user",
            "--mount",
            "--pid",
            "--ipc",
            "--uts",
            "--cgroup",
        ]
        host += ["--net", "--root", "--wd", f"--setuid={uid}", f"--setgid={uid}", "--"]
        if tty:
            host += ["/usr/bin/setsid", "--ctty"]
        if user == "agent":
            host += ["/usr/bin/setpriv", "--no-new-privs", "--inh-caps=-all", "--"]
        host += ["/usr/bin/env", "-C", cwd or home_of(user)]
        return host + argv, environ

    def pty_command(self, *, cols: int, rows: int) -> tuple[list[str], dict[str, str]]:
        return self.command(
            ["/bin/bash", "-l"],
            user="agent",
            tty=True,
            env={"COLORTERM": "truecolor", "COLUMNS": str(cols), "LINES": str(rows)},
        )

    def fingerprint(self) -> dict[str, object]:
        return {
            "backend": "bubblewrap",
            "rootfs_digest": host_rootfs_digest(),
            "family_digest": self.spec.family_dir.parent.name,
            "permissions": list(self.spec.permissions),
            "limits": dataclasses.asdict(self.spec.limits),
        }

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
        host, environ = self.command(argv, user=user, cwd=cwd, env=env)
        proc = subprocess.Popen(
            host,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=environ,
            start_new_session=True,
        )
        cap = OutputCap(max_output)
        timed_out = _pump(proc, stdin or b"", cap, deadline=time.monotonic() + timeout)
        if timed_out or cap.over:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        code = proc.wait()
        return cap.result(-9 if timed_out else code, timed_out=timed_out)


def _pump(proc: subprocess.Popen[bytes], data: bytes, cap: OutputCap, *, deadline: float) -> bool:
    """Feed stdin and collect stdout/stderr into `cap` until both close, the cap is passed or the deadline
    comes (True). A process that left our process group (setsid) may hold the pipes open after the
    command itself exited: the command's exit ends the wait too, after a short grace for its last output."""
    if proc.stdout is None or proc.stderr is None or proc.stdin is None:
        raise SandboxError("the command's pipes did not open")
    streams = {proc.stdout.fileno(): 0, proc.stderr.fileno(): 1}
    writer: int | None = proc.stdin.fileno()
    if not data:
        proc.stdin.close()
        writer = None
    else:
        os.set_blocking(proc.stdin.fileno(), False)
    view = memoryview(data)
    exited_at: float | None = None
    while streams and not cap.over:
        now = time.monotonic()
        if now >= deadline:
            return True
        if exited_at is None and proc.poll() is not None:
            exited_at = now
        if exited_at is not None and now - exited_at > 2:
            break
        wait = min(deadline - now, 0.5 if exited_at is None else 0.1)
        ready, writable = wait_ready(list(streams), writer, wait)
        if writer is not None and writable:
            try:
                view = view[os.write(writer, view[:65536]) :]
            except (BrokenPipeError, OSError):
                view = view[:0]
            if not view:
                proc.stdin.close()
                writer = None
        for fd in ready:
            chunk = os.read(fd, 65536)
            if chunk:
                cap.add(streams[fd], chunk)
            else:
                del streams[fd]
    return False


# Joins every cgroup.procs file given (colon-separated) and execs the rest of the arguments.
CGROUP_JOIN = 'p=$1; shift; IFS=:; for f in $p; do echo $$ > "$f" || exit 125; done; unset IFS; exec "$@"'


@functools.cache
def host_rootfs_digest() -> str:
    """What the sandbox's /usr is: the host's OS release and its installed package list, hashed."""
    h = hashlib.sha256()
    for path in ("/etc/os-release", "/var/lib/dpkg/status"):
        with contextlib.suppress(OSError):
            h.update(Path(path).read_bytes())
    return h.hexdigest()


class BubblewrapBackend(Backend):
    name = "bubblewrap"
    provides = frozenset()  # no image build (install), no aux VM, no GPU

    def __init__(self, *, state_dir: Path, uid_base: int, require_cgroups: bool = True) -> None:
        self.state_dir = Path(state_dir)
        self.uid_base = uid_base
        self.require_cgroups = require_cgroups

    def check(self) -> None:
        for tool in ("bwrap", "nsenter", "prlimit", "setpriv", "setsid"):
            if not shutil.which(tool):
                raise SandboxError(f"{tool} is not installed: apt-get install bubblewrap util-linux")
        if os.geteuid() != 0:
            raise SandboxError(
                "the bubblewrap backend runs sandboxes under their own unprivileged uid range and needs "
                "the server to run as root to set that up"
            )
        # bwrap mounts the sandbox's files as the sandbox's own (unprivileged) root: every directory above
        # them must be searchable by others.
        for path in (self.state_dir, HELPER_SRC):
            for parent in [path, *Path(path).resolve().parents]:
                if parent.exists() and not parent.stat().st_mode & stat.S_IXOTH:
                    raise SandboxError(
                        f"{parent} is not searchable by other users, so sandboxes cannot mount {path}: "
                        f"chmod o+x {parent} (or set SANDBOX_DIR elsewhere)"
                    )

    def _claim_slot(self) -> tuple[int, int]:
        """A uid range no other live sandbox (in any process) uses: held by a lock file until destroy."""
        slots = self.state_dir / ".slots"
        slots.mkdir(parents=True, exist_ok=True)
        for slot in range(MAX_SLOTS):
            fd = os.open(slots / str(slot), os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            return slot, fd
        raise SandboxError("no free sandbox uid range: too many live sandboxes")

    def provision(
        self, spec: SandboxSpec, on_output: Callable[[str], None] | None = None
    ) -> BubblewrapSandbox:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.check()
        os.chmod(self.state_dir, 0o711)  # noqa: S103  (traversable by the sandbox uids, not listable)
        slot, lock = self._claim_slot()
        outer = self.uid_base + slot * UID_RANGE
        sid = uuid.uuid4().hex[:16]
        state = self.state_dir / sid
        state.mkdir(mode=0o711)
        sandbox = BubblewrapSandbox(
            backend=self, sid=sid, state=state, outer=outer, slot_lock=lock, spec=spec
        )
        try:
            lim = spec.limits
            try:
                # The home and /tmp are tmpfs: their pages are charged to the sandbox's memory cgroup, so
                # the limit is the processes' memory plus the largest the file systems may grow.
                total_mb = lim.memory_mb + lim.home_mb + lim.tmp_mb + VAR_TMP_MB
                sandbox.cgroup = cgroups.create(sid, memory_mb=total_mb, pids=lim.nproc, cpus=lim.cpus)
            except cgroups.CgroupError as exc:
                if self.require_cgroups:
                    raise SandboxError(f"{exc} (memory and process limits need cgroups)") from exc
                log.warning("sandbox %s runs without cgroup limits: %s", sid, exc)
            (state / "etc").mkdir()
            (state / "etc" / "passwd").write_text(PASSWD)
            (state / "etc" / "group").write_text(GROUP)
            (state / "etc" / "hostname").write_text("sandbox\n")
            (state / "etc" / "hosts").write_text("127.0.0.1\tlocalhost sandbox\n::1\tlocalhost\n")
            shutil.copytree(spec.family_dir, state / "root", symlinks=True)
            _chown_tree(state / "root", outer, outer, writable=True)
            os.chmod(state / "root", 0o700)
            sandbox.start()
        except BaseException:
            sandbox.destroy()
            raise
        return sandbox
