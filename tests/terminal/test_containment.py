"""Containment: attacks typed into the sandbox's own shell. Each is contained, and afterwards the server
still answers and a new session still starts."""

from __future__ import annotations

import asyncio
import os
import shutil

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings

from tasks.models import Task
from terminal.keepers import KEEPER_DIED
from terminal.models import SessionStatus, TerminalSession
from tests.terminal.conftest import _server, keeper_pid, new_session, run, wait_until

pytestmark = [pytest.mark.sandbox, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

TCP = "timeout 3 bash -c 'exec 3<>/dev/tcp/127.0.0.1/{port}' 2>/dev/null && echo OPEN || echo CLOSED"


@pytest.fixture(params=["bubblewrap", "docker"])
def contained_server(request, tmp_path, _recordings, transactional_db):  # type: ignore[no-untyped-def]
    """The embedded platform on each sandbox backend: every attack below must fail on both."""
    if request.param == "docker":
        from sandbox.docker import DockerBackend

        DockerBackend(base_image=settings.DOCKER_BASE_IMAGE).check()  # fails (never skips) without an engine
    yield from _server(tmp_path, "embedded", SANDBOX_BACKEND=request.param)


def _probes(server_port: int, repo: str) -> dict[str, tuple[str, str]]:
    """name -> (command typed into the shell, what it must print when contained)."""
    return {
        "web server on loopback": (TCP.format(port=server_port), "CLOSED"),
        "postgresql on loopback": (TCP.format(port=5432), "CLOSED"),
        "redis on loopback": (TCP.format(port=6379), "CLOSED"),
        "only loopback interface": (
            "ls /sys/class/net 2>/dev/null || cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '",
            "lo",
        ),
        # a reserved name (RFC 2606), not a registry: nothing here should make a sandbox ask for one
        "resolve a host name": (
            "getent hosts example.org >/dev/null && echo RESOLVED || echo NO-DNS",
            "NO-DNS",
        ),
        "host settings": (f"cat {repo}/config/settings.py >/dev/null 2>&1 && echo READ || echo NO", "NO"),
        "host database and secret key": (
            f"ls {repo}/var/db.sqlite3 {repo}/var/secret_key >/dev/null 2>&1 && echo FOUND || echo NO",
            "NO",
        ),
        "family under /root": ("cat /root/ssh_key.py >/dev/null 2>&1 && echo READ || echo DENIED", "DENIED"),
        "list /root": ("ls /root >/dev/null 2>&1 && echo LISTED || echo DENIED", "DENIED"),
        "host processes": ("ps -e -o comm= | grep -cE 'uvicorn|postgres|redis|python' || true", "0"),
        "write outside home and tmp": (
            "for d in / /usr /etc /var /opt /root /home; do touch $d/x 2>/dev/null && echo WROTE:$d; done; echo DONE",
            "DONE",
        ),
        "escape through /proc/1/root": (
            "ls /proc/1/root/ >/dev/null 2>&1 && echo ESCAPED || echo DENIED",
            "DENIED",
        ),
        "ptrace the sandbox init": (
            "python3 -c \"import ctypes; print('ATTACHED' if ctypes.CDLL(None).ptrace(16, 1, 0, 0) == 0 else 'EPERM')\"",
            "EPERM",
        ),
        "mount": (
            "mkdir -p /tmp/m; mount -t tmpfs none /tmp/m 2>/dev/null && echo MOUNTED || echo DENIED",
            "DENIED",
        ),
        "unshare a user namespace": (
            "unshare -Ur true 2>/dev/null && echo UNSHARED || echo DENIED",
            "DENIED",
        ),
        "unshare a mount namespace": (
            "unshare -m true 2>/dev/null && echo UNSHARED || echo DENIED",
            "DENIED",
        ),
        "setuid binaries": (
            "su -c id root </dev/null >/dev/null 2>&1 && echo ROOT || "
            "(grep -q nosuid /proc/self/mountinfo && echo NOSUID)",
            "NOSUID",
        ),
        "become root with sudo": ("sudo -n id 2>/dev/null | grep -q uid=0 && echo ROOT || echo NO", "NO"),
        "other sandboxes' homes": ("ls /home", "agent"),
        # bwrap's options (host paths) were on the sandbox's pid 1's command line
        "host paths in process command lines": (
            # read first, grep after: a grep running beside cat would find its own patterns
            "cat /proc/[0-9]*/cmdline > /tmp/.cmdlines 2>/dev/null; tr '\\0' '\\n' < /tmp/.cmdlines | "
            f"grep -c -e 'b[i]nd' -e '{_unmatched(repo)}' -e '{_unmatched(str(settings.SANDBOX_DIR))}' || true",
            "0",
        ),
        "host uid in /proc/self/uid_map": ("awk '{print $2}' /proc/self/uid_map", "0"),
    }


def _unmatched(text: str) -> str:
    """A regex for text that grep's own command line (visible in /proc) does not match."""
    return f"{text[:-1]}[{text[-1]}]"


def _server_ok_and_new_session_starts(server, user) -> None:  # type: ignore[no-untyped-def]
    assert server.alive(), "the web server stopped answering"
    probe = new_session(user)

    async def start() -> None:
        c = await server.shell(probe, user)
        assert (await run(c, "echo fresh")).strip() == "fresh"
        await c.close()

    async_to_sync(start)()


def test_attacks_from_the_shell_are_contained(contained_server, users, suite) -> None:
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    # A second session exists and has a file: the attacker must not see it.
    other = new_session(users["bob"])
    victim = new_session(users["alice"])

    async def scenario() -> dict[str, str]:
        b = await contained_server.shell(other, users["bob"])
        await run(b, "echo bob-secret > ~/secret.txt")
        c = await contained_server.shell(victim, users["alice"])
        results = {}
        for name, (command, _expected) in _probes(contained_server.port, repo).items():
            results[name] = (await run(c, command)).strip()
        results["bob's file"] = (
            await run(
                c, "grep -rs bob-secret /home /tmp /var/tmp /run /root /proc/*/cwd 2>/dev/null; echo SEARCHED"
            )
        ).strip()
        await c.close()
        await b.close()
        return results

    results = async_to_sync(scenario)()
    for name, (_command, expected) in _probes(contained_server.port, repo).items():
        assert results[name] == expected, f"{name}: got {results[name]!r}"
    assert results["bob's file"] == "SEARCHED"
    backend = contained_server.extra_env["SANDBOX_BACKEND"]
    assert TerminalSession.objects.get(pk=victim.pk).fingerprint["backend"] == backend  # really that backend
    _server_ok_and_new_session_starts(contained_server, users["alice"])


def _bomb(server, user, command: str, check: str, timeout: float = 60) -> str:  # type: ignore[no-untyped-def]
    session = new_session(user)

    async def scenario() -> str:
        c = await server.shell(session, user)
        out = (await run(c, command, timeout=timeout)).strip()
        # The shell itself survived the attack and still works.
        out += "\n" + (await run(c, check, timeout=timeout)).strip()
        await c.close()
        return out

    out = async_to_sync(scenario)()
    _server_ok_and_new_session_starts(server, user)
    TerminalSession.objects.filter(pk=session.pk).update()
    return out


def _sandbox_pids() -> list[int]:
    """Processes in every sandbox's pids cgroup on this machine."""
    import glob

    counts = []
    for procs in glob.glob("/sys/fs/cgroup/pids/baselines-*/cgroup.procs") + glob.glob(
        "/sys/fs/cgroup/pids/docker/*/cgroup.procs"
    ):
        with open(procs) as f:
            counts.append(len(f.read().split()))
    return counts


def test_fork_bomb_is_contained(contained_server, users, suite, settings) -> None:
    session = new_session(users["alice"])

    async def scenario() -> None:
        c = await contained_server.shell(session, users["alice"])
        await c.send_input("b(){ b|b& }; b\r")
        await asyncio.sleep(5)
        # The bomb is at the sandbox's process limit, and the machine is fine.
        assert max(_sandbox_pids()) <= settings.SANDBOX_PIDS
        assert contained_server.alive()
        await c.close()

    async_to_sync(scenario)()
    _server_ok_and_new_session_starts(contained_server, users["bob"])
    # Ending the session kills every process of the bomb.
    contained_server.end_session(session, users["alice"])
    assert all(n < 10 for n in _sandbox_pids())


def test_memory_bomb_is_oom_killed_inside_the_sandbox(contained_server, users, suite) -> None:
    hog = 'python3 -c "a=[]\nwhile True: a.append(bytearray(50*2**20))"; echo EXIT:$?'
    out = _bomb(contained_server, users["alice"], hog, "echo shell-alive", timeout=120)
    assert "EXIT:137" in out.splitlines()  # SIGKILL by the cgroup's OOM killer
    assert out.splitlines()[-1] == "shell-alive"


def test_filling_the_disk_stops_at_the_home_limit(contained_server, users, suite, settings) -> None:
    before = shutil.disk_usage("/").free
    out = _bomb(
        contained_server,
        users["alice"],
        "for f in ~/big /tmp/big; do dd if=/dev/zero of=$f bs=1M 2>&1 | grep -o 'No space left on device'; done",
        "du -sm ~/big | cut -f1",
        timeout=120,
    )
    lines = out.splitlines()
    assert lines[:2] == ["No space left on device"] * 2
    assert int(lines[-1]) <= settings.SANDBOX_HOME_MB
    assert shutil.disk_usage("/").free > before - 200 * 2**20  # the host disk was not filled


@pytest.mark.parametrize("limit", ["nofile", "fsize"])
def test_rlimits_apply_in_the_shell(contained_server, users, suite, limit) -> None:
    command = {"nofile": "ulimit -n", "fsize": "ulimit -f"}[limit]
    expected = {"nofile": "1024", "fsize": str(1024 * 1024 * 1024 // 1024)}[limit]
    out = _bomb(contained_server, users["alice"], command, "true")
    assert out.splitlines()[0] == expected


def test_dead_sandbox_processes_are_gone_after_the_session_ends(contained_server, users, suite) -> None:
    session = new_session(users["alice"])

    async def scenario() -> None:
        c = await contained_server.shell(session, users["alice"])
        await run(c, "sleep 4242 & true")
        await c.close()

    async_to_sync(scenario)()
    import subprocess

    assert "sleep 4242" in subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    contained_server.stop_web()
    for _ in range(50):
        if "sleep 4242" not in subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout:
            break
        asyncio.run(asyncio.sleep(0.1))
    assert "sleep 4242" not in subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    contained_server.start_web()


# Sandbox root tries to turn nested user namespaces back on: uncover /proc/sys, then raise the limit.
RAISE_USERNS_LIMIT = (
    "umount /proc/sys 2>/dev/null; mount -o remount,rw /proc/sys 2>/dev/null; "
    "echo 1000 > /proc/sys/user/max_user_namespaces 2>/dev/null && echo RAISED; "
    "unshare -U true 2>/dev/null && echo ROOT-UNSHARED || echo ROOT-DENIED"
)


@pytest.mark.parametrize("backend", ["bubblewrap", "docker"])
def test_sandbox_root_sees_no_host_paths_and_cannot_enable_user_namespaces(backend, suite, settings) -> None:
    """As root through Sandbox.exec (what start() and scorers run as): the host's uid range and paths
    stay hidden, and root cannot give the agent (or itself) nested user namespaces."""
    from tasks.services.environment import task_sandbox_start

    settings.SANDBOX_BACKEND = backend
    tv = Task.objects.get(family__name="ssh_key", name="find_key").latest_version
    assert tv is not None
    sandbox = task_sandbox_start(task_version=tv)
    try:
        seen = sandbox.exec(
            ["/bin/sh", "-c", "cat /proc/self/uid_map; cat /proc/[0-9]*/cmdline | tr '\\0' '\\n'"],
            user="root",
        ).stdout.decode()
        attack = sandbox.exec(["/bin/sh", "-c", RAISE_USERNS_LIMIT], user="root").stdout.decode()
        agent = sandbox.exec(
            ["/bin/sh", "-c", "unshare -Ur true 2>/dev/null && echo AGENT-UNSHARED || echo AGENT-DENIED"],
            user="agent",
        ).stdout.decode()
    finally:
        sandbox.destroy()
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert seen.split()[1] == "0", seen  # uid_map: inside uid 0 is 0 of the namespace around it
    for leak in (repo, str(settings.SANDBOX_DIR), "--bind", "--ro-bind"):
        assert leak not in seen, f"{leak!r} in the sandbox's process list:\n{seen}"
    assert attack.split()[-1] == "ROOT-DENIED", attack
    assert agent.split() == ["AGENT-DENIED"]


def test_a_killed_keeper_takes_its_sandbox_with_it(remote_server, users, suite) -> None:
    """SIGKILL leaves no time to clean up: the kernel's parent-death signals must end every process of the
    sandbox (the launcher, the user-namespace holder, bwrap, the shell and what it started). The session
    is then failed, with the reason, once the session host sees its keeper gone."""
    import signal
    import subprocess

    session = new_session(users["alice"])

    async def scenario() -> None:
        c = await remote_server.shell(session, users["alice"])
        await run(c, "setsid sleep 4343 </dev/null >/dev/null 2>&1 & true")  # not the shell's job: no SIGHUP
        await c.close()

    async_to_sync(scenario)()

    def running() -> list[str]:
        ps = subprocess.run(["ps", "-eo", "stat=,args="], capture_output=True, text=True).stdout
        return [line for line in ps.splitlines() if "sleep 4343" in line and not line.startswith("Z")]

    assert running()
    os.kill(keeper_pid(session), signal.SIGKILL)
    for _ in range(50):
        if not running():
            break
        asyncio.run(asyncio.sleep(0.1))
    assert not running()
    wait_until(lambda: TerminalSession.objects.get(pk=session.pk).status == SessionStatus.FAILED, timeout=20)
    assert TerminalSession.objects.get(pk=session.pk).end_reason == KEEPER_DIED


def test_unreachable_sandbox_dir_gives_a_clear_error(tmp_path) -> None:
    from sandbox import SandboxError, SandboxSpec
    from sandbox.bubblewrap import BubblewrapBackend

    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    backend = BubblewrapBackend(state_dir=private / "sandboxes", uid_base=200000)
    with pytest.raises(SandboxError, match=r"not searchable by other users.*chmod o\+x"):
        backend.provision(SandboxSpec(family_dir=tmp_path, family_name="x"))
