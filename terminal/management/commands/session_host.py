"""python manage.py session_host: the session host as its own process, on SESSION_HOST_SOCKET.

Every session it opens lives in a keeper process of its own (terminal/keeper.py), which outlives this one:
restarting, upgrading or killing the session host (or the web process) ends no shell. At start it adopts
the keepers of this instance that are alive on this machine. `--end-all` ends every session of this
instance instead (sandboxes destroyed), with or without a session host running: for taking a machine out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from pathlib import Path
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.core.checks import Tags
from django.core.checks.registry import registry as check_registry
from django.core.management.base import BaseCommand, CommandError, CommandParser

from config.metrics import serve as serve_metrics
from sandbox import SandboxError, backend_config
from terminal.control import install_hooks
from terminal.host import SessionHost, raise_descriptor_limit
from terminal.keeper import instance_of
from terminal.keepers import KeeperHost, KeeperHostServer, end_all
from terminal.lifespan import reap_orphans
from terminal.remote import HostServer
from terminal.services import sandbox_host_drain, sandbox_host_heartbeat, sandbox_host_register

log = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Run the session host (each session's keeper: sandbox, PTY, recording) on a Unix socket."
    # The system checks of what it runs (models, caches, settings...), not of the web process's pages:
    # resolving the URLconf (Tags.urls) imports every view, with pandas, scipy and matplotlib (~150 MiB),
    # and setting the template engines up (Tags.templates, Tags.admin) every app's template tags (~14 MiB);
    # `manage.py migrate` runs them all at every deploy (tests/terminal/test_lean_host.py). Tags.database:
    # left out as by Django's default.
    requires_system_checks = sorted(
        set(check_registry.tags_available()) - {Tags.urls, Tags.templates, Tags.admin, Tags.database}
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--socket", default=settings.SESSION_HOST_SOCKET)
        parser.add_argument(
            "--end-all", action="store_true", help="end every live session of this instance, then exit"
        )
        parser.add_argument(
            "--drain",
            action="store_true",
            help="drain this machine (SESSION_HOST_NAME): no new sessions; its live ones run to their end",
        )
        parser.add_argument("--undrain", action="store_true", help="take new sessions again")
        parser.add_argument(
            "--in-process",
            action="store_true",
            help="keep the sessions in this process, without keepers (they end with it): the shape before "
            "keepers, kept to measure them against (bench/terminal.py)",
        )

    def handle(self, *args: Any, socket: str, end_all: bool, in_process: bool, **options: Any) -> None:
        if options["drain"] or options["undrain"]:
            name = settings.SESSION_HOST_NAME
            if not sandbox_host_drain(name=name, draining=options["drain"]):
                raise CommandError(f"no sandbox host {name!r} is registered")
            self.stdout.write(f"{name}: {'draining' if options['drain'] else 'taking new sessions'}")
            return
        if not socket:
            raise CommandError("give --socket PATH or set SESSION_HOST_SOCKET")
        if end_all:
            ended = _end_all(socket)
            self.stdout.write(f"ended {len(ended)} sessions")
            return
        serve_metrics(settings.SESSION_HOST_METRICS_PORT)
        asyncio.run(self._serve_in_process(Path(socket)) if in_process else self._serve(Path(socket)))

    async def _serve_in_process(self, path: Path) -> None:
        await reap_orphans()
        host = install_hooks(SessionHost())
        server = HostServer(host, path)
        await server.start()
        self.stdout.write(f"session host listening on {path} (sessions in this process)")
        self.stdout.flush()
        await _until_stopped()
        await server.close()
        await host.shutdown()

    async def _serve(self, path: Path) -> None:
        raise_descriptor_limit()
        host = install_hooks(
            KeeperHost(
                instance=instance_of(str(path)),
                backend=backend_config(),
                log_dir=settings.DATA_DIR / "keepers",
            )
        )
        held = await host.adopt_all()
        await reap_orphans(keep=held)
        listen, secret = settings.SESSION_HOST_LISTEN, settings.SESSION_HOST_SECRET
        server = KeeperHostServer(host, path, listen=listen, secret=secret)
        try:
            await server.start()
        except (SandboxError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        await database_sync_to_async(sandbox_host_register)(
            name=settings.SESSION_HOST_NAME,
            address=listen or str(path),
            backend=str(host.backend_config["name"]),
            capacity=settings.SESSION_HOST_CAPACITY,
            cpus=os.cpu_count() or 0,
            memory_mb=_memory_mb(),
        )
        beating = asyncio.ensure_future(_heartbeat(host))
        where = f"{path}" + (f" and {listen}" if listen else "")
        self.stdout.write(f"session host {settings.SESSION_HOST_NAME} listening on {where}")
        self.stdout.write(f"({len(host.links)} live sessions adopted)")
        self.stdout.flush()
        await _until_stopped()
        beating.cancel()
        await server.close()
        await host.shutdown()


async def _heartbeat(host: KeeperHost) -> None:
    """Every HOST_HEARTBEAT_SECONDS: alive, with so many live sessions (placement and the watcher read it)."""
    beat = database_sync_to_async(sandbox_host_heartbeat)
    while True:
        try:
            await beat(name=settings.SESSION_HOST_NAME, live_sessions=len(host.links))
        except Exception:  # the database restarts: the next beat tries again
            log.exception("heartbeat failed")
        await asyncio.sleep(settings.HOST_HEARTBEAT_SECONDS)


def _memory_mb() -> int:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    return 0


async def _until_stopped() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def _end_all(socket: str) -> list[str]:
    return end_all(instance_of(socket), "ended by staff: the session host was taken out of service")
