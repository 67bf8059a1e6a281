"""Starts a command in a user namespace that maps 65536 unprivileged host uids, root inside.

Run as host root, as its own process (fork and namespace calls do not belong in a threaded server):

    python userns_launch.py [--cgroup-procs FILE ...] OUTER_UID -- bwrap ...

Two user namespaces, one inside the other. The outer one maps uids 0..65535 to host uids OUTER_UID..
OUTER_UID+65535: root inside is an ordinary host uid, the agent (uid 1000) another, so RLIMIT_NPROC
applies, host files stay out of reach, and the sandbox can still hold both a root (for start() and
scoring) and an agent user, as the Task Standard's container does. The inner one, where the command runs,
maps 0..65535 to the same numbers of the outer one, so that:

- /proc/self/uid_map inside reads "0 0 65536": the host uid range is not shown there;
- nested user namespaces stay off even for root inside: the outer namespace's
  user.max_user_namespaces is 0, and the kernel checks every enclosing namespace's limit when one is
  created. Root inside may change the value it sees (its own namespace's), which changes nothing; the
  outer namespace has no process inside the sandbox and is out of its reach.
"""

import ctypes
import os
import signal
import sys
import warnings  # noqa: F401  (os.execvp imports it; inside the namespace the interpreter's files may be out of reach)
from collections.abc import Callable

CLONE_NEWUSER = 0x10000000
RANGE = 65536
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
MAX_USER_NAMESPACES = "/proc/sys/user/max_user_namespaces"

libc = ctypes.CDLL(None, use_errno=True)


def _fail(what: str) -> None:
    os.write(2, f"userns_launch: {what}: {os.strerror(ctypes.get_errno())}\n".encode())
    os._exit(125)


def _in_new_userns(then: Callable[[], None]) -> tuple[int, int]:
    """Fork a child that unshares a user namespace, waits until its maps are written, becomes root in it
    and calls then(). Returns (pid, go) where go is the pipe end that lets it continue."""
    go_r, go_w = os.pipe()
    ready_r, ready_w = os.pipe()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        os.close(go_w)
        os.close(ready_r)
        if libc.unshare(CLONE_NEWUSER) != 0:
            _fail("unshare")
        os.write(ready_w, b"u")
        os.close(ready_w)
        if os.read(go_r, 1) != b"g":
            os._exit(125)
        os.close(go_r)
        os.setresgid(0, 0, 0)
        os.setgroups([])
        os.setresuid(0, 0, 0)
        # Changing the host uid made this process undumpable, so its /proc files belong to host root; the
        # outer root must be able to write its child's uid_map. (It is outside the sandbox's pid namespace.)
        libc.prctl(PR_SET_DUMPABLE, 1)
        # Only now: a change of host uid clears the parent-death signal (this process would outlive a
        # killed launcher, and the sandbox with it).
        libc.prctl(PR_SET_PDEATHSIG, 9)
        if os.getppid() != parent:
            os._exit(125)  # the parent died before the signal was armed
        then()
        os._exit(125)
    os.close(go_r)
    os.close(ready_w)
    ok = os.read(ready_r, 1) == b"u"
    os.close(ready_r)
    if not ok:
        _, status = os.waitpid(pid, 0)
        os._exit(os.waitstatus_to_exitcode(status) or 125)
    return pid, go_w


def _map(pid: int, first: int) -> None:
    for name in ("uid_map", "gid_map"):
        with open(f"/proc/{pid}/{name}", "w") as f:
            f.write(f"0 {first} {RANGE}\n")


def _go(go_w: int) -> None:
    os.write(go_w, b"g")
    os.close(go_w)


def _wait_forwarding(pid: int) -> int:
    """Forward termination to pid (killing us tears the sandbox down) and return its exit code."""

    def forward(signum: int, _frame: object) -> None:
        os.kill(pid, signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            return os.waitstatus_to_exitcode(status)
        except InterruptedError:
            continue


def main(argv: list[str]) -> int:
    args = argv[1:]
    cgroup_procs = []
    while args[:1] == ["--cgroup-procs"] and len(args) > 1:
        cgroup_procs.append(args[1])
        args = args[2:]
    if len(args) < 3 or args[1] != "--":
        sys.stderr.write(__doc__ or "")
        return 2
    outer = int(args[0])
    command = args[2:]
    # Join the sandbox's cgroups before anything forks: every process of the sandbox inherits them.
    for path in cgroup_procs:
        with open(path, "w") as f:
            f.write(f"{os.getpid()}\n")
    libc.prctl(PR_SET_PDEATHSIG, 9)  # the sandbox never outlives whoever started it

    def run_command() -> None:  # in the inner namespace
        with open(MAX_USER_NAMESPACES, "w") as f:
            f.write("0\n")  # what the sandbox reads; the outer namespace's 0 is what holds
        os.execvp(command[0], command)  # noqa: S606  (exec of a fixed argv: bwrap, never a shell string)

    def outer_root() -> None:  # root of the outer namespace: makes the inner one, then locks the count
        inner, go = _in_new_userns(run_command)
        _map(inner, 0)
        with open(MAX_USER_NAMESPACES, "w") as f:
            f.write("0\n")  # after the inner one exists: no namespace below this one can make another
        _go(go)
        os._exit(_wait_forwarding(inner))

    pid, go = _in_new_userns(outer_root)
    _map(pid, outer)
    _go(go)
    return _wait_forwarding(pid)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
