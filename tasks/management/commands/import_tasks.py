"""python manage.py import_tasks PATH: import one family directory or a directory of families."""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tasks.services.importer import TaskImportError, tasks_import


class Command(BaseCommand):
    help = "Import METR Task Standard task families (all or nothing)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)

    def handle(self, *args: Any, path: Path, **options: Any) -> None:
        try:
            report = tasks_import(path=path)
        except TaskImportError as exc:
            raise CommandError(f"nothing imported: {exc}") from exc
        for line in report.lines():
            self.stdout.write(line)
        self.stdout.write("nothing changed" if not report.changed else "import complete")
