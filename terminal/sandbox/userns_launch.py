"""Starts a command in a new user namespace that maps 65536 unprivileged host uids, root inside.

Run as host root, as its own process (fork and namespace calls do not belong in a threaded server):

    python userns_launch.py [--cgroup-procs FILE ...] OUTER_UID -- bwrap ...

Inside, uid 0 is host uid OUTER_UID and uid 1000 (the agent) is OUTER_UID+1000: neither is root on the
host, so RLIMIT_NPROC applies, host files stay out of reach, and the sandbox can still hold both a root
(for start() and scoring) and an agent user, as the Task Standard's container does. Nested user namespaces
are switched off inside (user.max_user_namespaces = 0), as bwrap's --disable-userns does.
"""

import ctypes
import os
import signal
import sys

CLONE_NEWUSER = 0x10000000
RANGE = 65536
PR_SET_PDEATHSIG = 1


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
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, 9)  # the sandbox never outlives whoever started it
    go_r, go_w = os.pipe()
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(go_w)
        os.close(ready_r)
        if libc.unshare(CLONE_NEWUSER) != 0:
            os.write(2, f"userns_launch: unshare: {os.strerror(ctypes.get_errno())}\n".encode())
            os._exit(125)
        os.write(ready_w, b"u")
        os.close(ready_w)
        if os.read(go_r, 1) != b"g":
            os._exit(125)
        os.setresgid(0, 0, 0)
        os.setgroups([])
        os.setresuid(0, 0, 0)
        with open("/proc/sys/user/max_user_namespaces", "w") as f:
            f.write("0\n")
        os.execvp(command[0], command)  # noqa: S606  (exec of a fixed argv: bwrap, never a shell string)
    os.close(go_r)
    os.close(ready_w)
    if os.read(ready_r, 1) != b"u":
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status)
    for name in ("uid_map", "gid_map"):
        with open(f"/proc/{pid}/{name}", "w") as f:
            f.write(f"0 {outer} {RANGE}\n")
    os.write(go_w, b"g")
    os.close(go_w)
    # Forward termination to the sandbox so that killing the launcher tears the sandbox down.

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


if __name__ == "__main__":
    sys.exit(main(sys.argv))
