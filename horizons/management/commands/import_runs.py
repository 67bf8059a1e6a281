"""python manage.py import_runs FILE [--human-times platform|file]: store agent runs, all or nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from horizons.models import HumanTimes
from horizons.services import RunsImportError, runs_import


class Command(BaseCommand):
    help = "Import agent runs in METR's run format (JSON Lines or CSV)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file")
        parser.add_argument("--human-times", choices=HumanTimes.values, default=HumanTimes.PLATFORM)

    def handle(self, *args: Any, file: str, human_times: str, **options: Any) -> None:
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"{file}: no such file")
        try:
            result = runs_import(data=path.read_bytes(), name=path.name, human_times=human_times)
        except RunsImportError as exc:
            raise CommandError(f"nothing imported: {exc}") from exc
        self.stdout.write(f"{result.stored} runs imported from {path.name}")
        for line in result.left_out:
            self.stdout.write(f"  {line}")
