"""python manage.py sandbox_exec FAMILY/TASK -- CMD...: run CMD as the agent in a fresh sandbox of that task.

start() runs first, as in a real session; the command's output is printed, its exit code returned, and
the sandbox destroyed. Task authors use it to check environments.
"""

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tasks.models import Task
from tasks.services.environment import task_sandbox_start
from terminal.sandbox import SandboxError


class Command(BaseCommand):
    help = "Run a command as the agent in a fresh sandbox of a task (after start()), then destroy it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("task", help="FAMILY/TASK or a task id number")
        parser.add_argument(
            "--task-version", dest="task_version", type=int, help="task version (default: the latest)"
        )
        parser.add_argument("--timeout", type=float, default=600)
        parser.add_argument("cmd", nargs="+")

    def handle(
        self, *args: Any, task: str, task_version: int | None, timeout: float, cmd: list[str], **options: Any
    ) -> None:
        try:
            if "/" in task:
                family, name = task.split("/", 1)
                t = Task.objects.select_related("latest_version").get(family__name=family, name=name)
            else:
                t = Task.objects.select_related("latest_version").get(pk=int(task))
        except (Task.DoesNotExist, ValueError) as exc:
            raise CommandError(f"no task {task!r}") from exc
        tv = t.versions.get(version=task_version) if task_version else t.latest_version
        if tv is None:
            raise CommandError(f"{task} has no version")
        try:
            sandbox = task_sandbox_start(task_version=tv)
        except SandboxError as exc:
            raise CommandError(str(exc)) from exc
        try:
            result = sandbox.exec(cmd, user="agent", timeout=timeout)
        finally:
            sandbox.destroy()
        sys.stdout.buffer.write(result.stdout)
        sys.stdout.flush()
        sys.stderr.buffer.write(result.stderr)
        if result.timed_out:
            sys.stderr.write(f"sandbox_exec: timed out after {timeout:g} s\n")
        sys.exit(124 if result.timed_out else result.returncode)
