"""The docker backend: the very image an AI agent runs in, as a locked-down container per session.

Images (see docs/sandbox.md): a Task Standard image per family version, from a standard Dockerfile: the
configurable base image (DOCKER_BASE_IMAGE), user `agent` (uid 1000), the family under /root (mode 0700),
the helper under /opt/taskhelper, and the family's install() run at build time. Images are cached by the
digest of everything that goes into them, so a family version is built once.

Containers: no network (a full_internet task is refused, as on bubblewrap: this machine has nothing to
give it safely), every capability dropped except the six the sandbox's root needs for start() and
scoring (chown, dac_override, fowner, kill, and setuid/setgid to run the agent's code as the agent; the agent,
a non-root user under no-new-privileges, has none),
process, memory and CPU limits from the sandbox's Limits, size-limited tmpfs for /home/agent, /tmp,
/var/tmp and /run/lock (every place the agent may write), docker-init as PID 1.

Commands run through the Engine API (docker SDK). The agent's interactive shell is the Docker CLI's
`docker exec -it` on the session host's PTY, so the session host keeps the PTY, its ring buffer and its
recorder exactly as on bubblewrap, and a browser that reconnects re-attaches to the same shell.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import io
import json
import logging
import math
import os
import re
import secrets
import shutil
import socket
import struct
import tarfile
import time
import uuid
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import docker
import docker.errors
from docker.types import Ulimit

from .base import (
    AGENT_HOME,
    AGENT_UID,
    FAMILY_ROOT,
    HELPER_DIR,
    HELPER_SRC,
    MAX_EXEC_OUTPUT,
    NEED_INSTALL,
    PATH,
    Backend,
    ExecResult,
    ImageBuildError,
    OutputCap,
    Sandbox,
    SandboxError,
    SandboxSpec,
    User,
    command_environ,
    home_of,
    readable,
)

log = logging.getLogger(__name__)

LABEL = "org.baselines.sandbox"
PARKED_REPOSITORY = "baselines/parked"
# Parking: the tmpfs mounts a commit does not see are archived into the container's own layer first (root
# only), after every process of the agent is killed, so nothing can change a path while root reads it;
# tar never follows a link it archives. Restoring unpacks them into the new container's tmpfs mounts.
PARK_DIR = "/var/lib/baselines-park"
PARKED_MOUNTS = (AGENT_HOME, "/tmp", "/var/tmp")  # noqa: S108  (the sandbox's own)
PARK = f"set -e; mkdir -p -m 0700 {PARK_DIR}; " + "; ".join(
    f"tar --numeric-owner -cpf {PARK_DIR}/{i}.tar -C {d} ." for i, d in enumerate(PARKED_MOUNTS)
)
UNPARK = (
    "set -e; "
    + "; ".join(f"tar --numeric-owner -xpf {PARK_DIR}/{i}.tar -C {d}" for i, d in enumerate(PARKED_MOUNTS))
    + f"; rm -rf {PARK_DIR}"
)
OWNER_LABEL = "org.baselines.owner"
# The sandbox root's: start() and scoring prepare files for the agent (CHOWN, DAC_OVERRIDE, FOWNER), stop
# processes (KILL), and run the agent's code as the agent (SETUID, SETGID: Docker's defaults, which the
# Task Standard's images have; the agent, under no-new-privileges, never holds them).
ROOT_CAPS = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "KILL", "SETUID", "SETGID"]
VAR_TMP_MB = 64
ANSI_COLOUR = re.compile(r"\x1b\[[0-9;]*m")
BUILD_ERROR_MAX = 4000  # characters of a failed build's message: a family's exception text may be huge
# Kills the process group of the exec whose `timeout` wrapper has exactly the command line given (its
# duration carries random digits): the Engine's Pid is the host's, meaningless inside the container, and
# /proc/PID/cmdline is what root can read of any process without CAP_SYS_PTRACE.
KILL_EXEC = """
import os, sys
for d in filter(str.isdigit, os.listdir("/proc")):
    try:
        with open(f"/proc/{d}/cmdline", "rb") as f:
            argv = f.read().split(b"\\0")[:4]
    except OSError:
        continue
    if argv == [a.encode() for a in sys.argv[1:]]:
        os.killpg(int(d), 9)
"""
# The standard Task Standard Dockerfile, for our base image. {install} runs the family's install() at
# build time, as METR's driver does; the family's files are the build context's family/ directory.
DOCKERFILE = """\
FROM {base}
RUN (getent passwd agent || useradd --uid {uid} --user-group --shell /bin/bash --create-home agent) \\
    && mkdir -p {home} && chown {uid}:{uid} {home}
COPY taskhelper/ {helper}/
COPY family/ {root}/
RUN chown -R root:root {root} && chmod 700 {root}
WORKDIR {root}
RUN python3 {helper}/taskhelper.py {root} {family} install
WORKDIR {home}
"""


def _tree_digest(path: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(path.rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts:
            h.update(str(p.relative_to(path)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def _context(dockerfile: str, family_dir: Path) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = dockerfile.encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        tar.add(str(family_dir), arcname="family", filter=_no_pycache)
        tar.add(str(HELPER_SRC), arcname="taskhelper", filter=_no_pycache)
    buf.seek(0)
    return buf


def _no_pycache(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    if "__pycache__" in info.name:
        return None
    info.mode |= 0o600  # snapshots are stored read-only; the image's root may need to write its files
    return info


def _build_error(family: str, error: str, lines: list[str]) -> ImageBuildError:
    """The failed build's error: the helper's own (install() raised, at FILE:LINE) when its step printed one
    (its JSON is that step's last line of output), else the builder's error and the end of its output."""
    # the builder colours a step's stderr: "\x1b[91m...\x1b[0m", and its last reset may open our line
    for text in reversed(ANSI_COLOUR.sub("", "".join(lines)).splitlines()):
        with contextlib.suppress(ValueError):
            doc = json.loads(text)
            if isinstance(doc, dict) and doc.get("ok") is False and isinstance(doc.get("error"), dict):
                err = doc["error"]
                file, line = err.get("file"), err.get("line")
                return ImageBuildError(
                    str(err.get("message") or "install() failed")[:BUILD_ERROR_MAX],
                    kind=str(err.get("kind") or "error"),
                    file=str(file) if isinstance(file, str) else None,
                    line=line if isinstance(line, int) and not isinstance(line, bool) else None,
                )
        if text.startswith("Step ") or text.startswith(" ---> "):
            break  # the builder's own lines: the failed step printed no result of the helper's
    tail = ANSI_COLOUR.sub("", "".join(lines[-15:])).strip()[-BUILD_ERROR_MAX:]
    return ImageBuildError(f"building the image of {family} failed: {error.strip()}\n{tail}")


class DockerSandbox(Sandbox):
    def __init__(self, *, backend: DockerBackend, name: str, image: str, spec: SandboxSpec) -> None:
        self.id = name
        self.backend = backend
        self.image = image
        self.spec = spec

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
        """Run argv in the container through the Engine API; killed (with its process group) at timeout
        or once its output passes max_output.

        `timeout -s KILL` inside the container is the process group's leader, so the command and anything
        it started die together; the Docker CLI or a dropped API socket would leave them running."""
        api = self.backend.client.api
        # the fraction makes this command line unique: an exec stopped at its output cap is found by it
        limit = f"{max(1, math.ceil(timeout))}.{secrets.randbelow(10**9):09d}"
        wrapped = ["timeout", "-s", "KILL", limit, *argv]
        try:
            ex = api.exec_create(
                self.id,
                wrapped,
                stdin=True,
                stdout=True,
                stderr=True,
                user="root" if user == "root" else f"{AGENT_UID}:{AGENT_UID}",
                workdir=cwd or home_of(user),
                environment=command_environ(user, self.spec, env),
            )
            sock = api.exec_start(ex["Id"], socket=True)
        except Exception as exc:  # docker.errors.APIError, NotFound, connection errors
            raise SandboxError(f"sandbox {self.id}: {exc}") from exc
        raw: socket.socket = getattr(sock, "_sock", sock)
        started = time.monotonic()
        cap = OutputCap(max_output)
        try:
            with contextlib.suppress(OSError):
                if stdin:
                    raw.sendall(stdin)
                raw.shutdown(socket.SHUT_WR)
            _read_frames(raw, cap, deadline=started + timeout + 10)
            if cap.over:
                # Kill it while its stream is still read: the Engine finishes an exec only once it has
                # written all of its output, and a closed stream would leave it (and us) waiting.
                with contextlib.suppress(Exception):  # best effort: the drain below ends at its deadline
                    kill = api.exec_create(
                        self.id, ["python3", "-I", "-c", KILL_EXEC, *wrapped[:4]], user="root"
                    )
                    api.exec_start(kill["Id"], detach=True)
                _drain(raw, deadline=time.monotonic() + 10)
        finally:
            raw.close()
        code = api.exec_inspect(ex["Id"]).get("ExitCode")
        timed_out = code == 137 and time.monotonic() - started >= timeout - 0.5
        return cap.result(-9 if timed_out else int(code if code is not None else -1), timed_out=timed_out)

    def pty_command(self, *, cols: int, rows: int) -> tuple[list[str], dict[str, str]]:
        extra = {"COLORTERM": "truecolor", "COLUMNS": str(cols), "LINES": str(rows)}
        environ = command_environ("agent", self.spec, extra)
        argv = [self.backend.cli, "exec", "-it", "-u", f"{AGENT_UID}:{AGENT_UID}", "-w", AGENT_HOME]
        for key, value in environ.items():
            argv += ["-e", f"{key}={value}"]
        host_env = {"PATH": PATH, "HOME": "/nonexistent", "LANG": "C.UTF-8"}
        if os.environ.get("DOCKER_HOST"):
            host_env["DOCKER_HOST"] = os.environ["DOCKER_HOST"]
        return [*argv, self.id, "/bin/bash", "-l"], host_env

    def fingerprint(self) -> dict[str, object]:
        image = self.backend.client.images.get(self.image)
        return {
            "backend": "docker",
            "image": self.image,
            "image_digest": image.id,
            "base_image_digest": self.backend.base_image_id(),
            "family_digest": self.spec.family_dir.parent.name,
            "permissions": list(self.spec.permissions),
            "limits": dataclasses.asdict(self.spec.limits),
        }

    def snapshot(self, tag: str) -> str:
        self.exec(["kill", "-9", "-1"], user="agent", timeout=30)  # every process of the agent, its shell too
        packed = self.exec(["/bin/sh", "-c", PARK], user="root", timeout=600)
        if packed.returncode != 0:
            why = packed.stderr.decode(errors="replace")
            raise SandboxError(f"could not keep the session's files: {why}")
        try:
            image = self.backend.client.api.commit(self.id, repository=PARKED_REPOSITORY, tag=tag)
        except docker.errors.APIError as exc:
            raise SandboxError(f"could not snapshot the container: {exc.explanation or exc}") from exc
        return str(image["Id"])

    def destroy(self) -> None:
        with contextlib.suppress(docker.errors.NotFound):
            self.backend.client.api.remove_container(self.id, force=True, v=True)
        if self.spec.restore_image:  # a restored session's snapshot is not needed once it is over
            with contextlib.suppress(docker.errors.APIError):
                self.backend.client.api.remove_image(self.spec.restore_image, force=True)

    @property
    def alive(self) -> bool:
        try:
            return bool(self.backend.client.api.inspect_container(self.id)["State"]["Running"])
        except docker.errors.NotFound:
            return False


def _read_frames(raw: socket.socket, cap: OutputCap, *, deadline: float) -> None:
    """Demultiplex the Engine's stdout/stderr stream (8-byte headers: stream, 0, 0, 0, big-endian size)
    into `cap` as it comes, until the stream ends, the deadline comes or the cap is passed."""
    header = bytearray()
    stream, left = 0, 0  # the current frame's stream and the bytes of it still to come
    while not cap.over:
        wait = deadline - time.monotonic()
        if wait <= 0:
            break
        if not readable(raw, wait):
            break
        chunk = memoryview(raw.recv(65536))
        if not chunk:
            break
        while chunk:
            if left == 0:
                take = min(8 - len(header), len(chunk))
                header.extend(chunk[:take])
                chunk = chunk[take:]
                if len(header) == 8:
                    stream = 0 if header[0] == 1 else 1  # 1 stdout, 2 stderr (anything else: stderr)
                    left = struct.unpack(">I", header[4:8])[0]
                    header.clear()
                continue
            part = chunk[:left]
            cap.add(stream, bytes(part))
            left -= len(part)
            chunk = chunk[len(part) :]


def _drain(raw: socket.socket, *, deadline: float) -> None:
    """Read and drop what is left of a stream until it ends (or the deadline)."""
    while (wait := deadline - time.monotonic()) > 0:
        if not readable(raw, wait) or not raw.recv(65536):
            return


class DockerBackend(Backend):
    name = "docker"
    provides = frozenset({NEED_INSTALL})  # install() runs at image build; no aux VM, GPU or internet here

    def __init__(self, *, base_image: str, build_network: str = "host", owner: str = "") -> None:
        self.base_image = base_image
        self.build_network = build_network
        # Which session host (or worker) made a container: its orphans are found by this label.
        self.owner = owner or f"{socket.gethostname()}:embedded"

    @functools.cached_property
    def client(self) -> Any:
        try:
            return docker.from_env(timeout=300)
        except docker.errors.DockerException as exc:
            raise SandboxError(f"the Docker engine is not reachable ({exc}): start dockerd") from exc

    @functools.cached_property
    def cli(self) -> str:
        path = shutil.which("docker")
        if path is None:
            raise SandboxError(
                "the docker CLI is not installed (it runs the agent's shell): apt-get install docker.io"
            )
        return path

    def base_image_id(self) -> str:
        try:
            return str(self.client.images.get(self.base_image).id)
        except docker.errors.ImageNotFound:
            raise SandboxError(
                f"the base image {self.base_image} is missing: build it with scripts/docker-base-image.sh"
            ) from None

    def check(self) -> None:
        try:
            self.client.ping()
        except SandboxError:
            raise
        except Exception as exc:
            raise SandboxError(f"the Docker engine is not answering ({exc}): start dockerd") from exc
        self.base_image_id()
        _ = self.cli

    # -- images ---------------------------------------------------------------------------------
    def dockerfile(self, family_name: str) -> str:
        return DOCKERFILE.format(
            base=self.base_image, uid=AGENT_UID, home=AGENT_HOME, helper=HELPER_DIR, root=FAMILY_ROOT,
            family=family_name,
        )  # fmt: skip

    def image_tag(self, spec: SandboxSpec) -> str:
        """baselines/task-<family>:<digest of the base image, Dockerfile, family files and helper>."""
        h = hashlib.sha256()
        for part in (self.base_image_id(), self.dockerfile(spec.family_name), _tree_digest(spec.family_dir),
                     _tree_digest(HELPER_SRC)):  # fmt: skip
            h.update(part.encode() + b"\0")
        return f"baselines/task-{spec.family_name.lower()}:{h.hexdigest()[:24]}"

    def build(self, spec: SandboxSpec, on_output: Callable[[str], None] | None = None) -> str:
        """The family version's image, built unless an image with the same digest exists (the cache)."""
        tag = self.image_tag(spec)
        with contextlib.suppress(docker.errors.ImageNotFound):
            self.client.images.get(tag)
            return tag
        emit = on_output or (lambda line: log.info("build %s: %s", tag, line.rstrip()))
        lines: list[str] = []
        context = _context(self.dockerfile(spec.family_name), spec.family_dir)
        for chunk in self.client.api.build(
            fileobj=context, custom_context=True, tag=tag, rm=True, forcerm=True, decode=True,
            network_mode=self.build_network, labels={LABEL: "image"},
        ):  # fmt: skip
            text = chunk.get("stream") or chunk.get("status") or ""
            if text:
                lines.append(text)
                emit(text)
            if "error" in chunk:
                raise _build_error(spec.family_name, str(chunk["error"]), lines)
        return tag

    # -- containers -----------------------------------------------------------------------------
    def provision(self, spec: SandboxSpec, on_output: Callable[[str], None] | None = None) -> DockerSandbox:
        self.check()
        if spec.internet:
            raise SandboxError(
                "full_internet is not available on this machine (the docker backend gives none)"
            )
        image = spec.restore_image or self.build(spec, on_output)
        lim = spec.limits
        name = f"baselines-{uuid.uuid4().hex[:16]}"
        memory = (lim.memory_mb + lim.home_mb + lim.tmp_mb + 2 * VAR_TMP_MB) * 1024 * 1024
        try:
            self.client.api.create_container(
                image,
                command=["sleep", "infinity"],
                name=name,
                hostname="sandbox",
                user="root",
                labels={LABEL: "sandbox", OWNER_LABEL: self.owner},
                network_disabled=True,
                host_config=self.client.api.create_host_config(
                    network_mode="none",
                    cap_drop=["ALL"],
                    cap_add=ROOT_CAPS,
                    security_opt=["no-new-privileges"],
                    init=True,
                    pids_limit=lim.nproc,
                    mem_limit=memory,
                    memswap_limit=memory,
                    nano_cpus=int(lim.cpus * 1e9),
                    ulimits=[
                        Ulimit(name="nofile", soft=lim.nofile, hard=lim.nofile),
                        Ulimit(
                            name="fsize", soft=lim.fsize_mb * 1024 * 1024, hard=lim.fsize_mb * 1024 * 1024
                        ),
                    ],
                    tmpfs={
                        AGENT_HOME: f"size={lim.home_mb}m,uid={AGENT_UID},gid={AGENT_UID},mode=0755,nosuid",
                        "/tmp": f"size={lim.tmp_mb}m,mode=1777,nosuid,nodev",  # noqa: S108
                        "/var/tmp": f"size={VAR_TMP_MB}m,mode=1777,nosuid,nodev",  # noqa: S108
                        "/run/lock": f"size={VAR_TMP_MB}m,mode=1777,nosuid,nodev",
                    },
                ),
            )
            self.client.api.start(name)
        except docker.errors.APIError as exc:
            with contextlib.suppress(docker.errors.APIError):
                self.client.api.remove_container(name, force=True)
            raise SandboxError(f"the container did not start: {exc.explanation or exc}") from exc
        sandbox = DockerSandbox(backend=self, name=name, image=image, spec=spec)
        try:
            if spec.restore_image:
                unpacked = sandbox.exec(["/bin/sh", "-c", UNPARK], user="root", timeout=600)
                if unpacked.returncode != 0:
                    raise SandboxError(
                        f"could not restore the session's files: {unpacked.stderr.decode(errors='replace')}"
                    )
            elif spec.instructions is not None:
                setup = "cat > /home/agent/instructions.txt && chown agent:agent /home/agent/instructions.txt"
                result = sandbox.exec(
                    ["/bin/sh", "-c", setup], user="root", stdin=spec.instructions.encode(), timeout=30
                )
                if result.returncode != 0:
                    raise SandboxError(
                        f"could not prepare /home/agent: {result.stderr.decode(errors='replace')}"
                    )
        except BaseException:
            sandbox.destroy()
            raise
        return sandbox

    def reap_orphans(self, keep: Collection[str] = ()) -> list[str]:
        """Remove every sandbox container this owner made but those in `keep` (the live sessions' keepers
        hold them): called at a session host's start, before it opens any session."""
        removed = []
        for c in self.client.api.containers(all=True, filters={"label": f"{OWNER_LABEL}={self.owner}"}):
            if c["Names"][0].lstrip("/") in keep:
                continue
            with contextlib.suppress(Exception):
                self.client.api.remove_container(c["Id"], force=True, v=True)
                removed.append(c["Names"][0].lstrip("/"))
        return removed
