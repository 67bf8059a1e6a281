"""python manage.py import_runs FILE... [--human-times platform|file]: store agent runs, all or nothing.

FILE is METR's run file (JSON Lines or CSV), or Inspect eval logs: `.eval` or `.json` files, or directories of
them (`--inspect-map`, `--scorer`, `--threshold`, `--skip-unmatched`, `--preview` apply to those)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from horizons import inspect_logs
from horizons.models import HumanTimes
from horizons.services import RunsImportError, runs_import


class Command(BaseCommand):
    help = (
        "Import agent runs: METR's run format (JSON Lines or CSV) or Inspect eval logs (.eval, .json, dirs)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", nargs="+")
        parser.add_argument("--human-times", choices=HumanTimes.values, default=HumanTimes.PLATFORM)
        parser.add_argument(
            "--inspect-map",
            help='Inspect logs: a JSON task map {"inspect_task/sample_id": "family/name", '
            '"inspect_task/*": "family/{id}"}',
        )
        parser.add_argument(
            "--scorer", help="Inspect logs: the scorer whose score counts (default: the first)"
        )
        parser.add_argument(
            "--threshold",
            type=float,
            default=None,
            help="Inspect logs: success is score >= this (default 1.0)",
        )
        parser.add_argument(
            "--skip-unmatched",
            action="store_true",
            help="Inspect logs: leave out samples of no platform task",
        )
        parser.add_argument(
            "--preview",
            action="store_true",
            help="Inspect logs: show each sample's task and score; store nothing",
        )

    def handle(self, *args: Any, file: list[str], human_times: str, **options: Any) -> None:
        paths = [Path(f) for f in file]
        if len(paths) == 1 and paths[0].is_file() and not _is_inspect(paths[0]):
            path = paths[0]
            try:
                result = runs_import(data=path.read_bytes(), name=path.name, human_times=human_times)
            except RunsImportError as exc:
                raise CommandError(f"nothing imported: {exc}") from exc
            self.stdout.write(f"{result.stored} runs imported from {path.name}")
        else:
            for path in paths:
                if not path.exists():
                    raise CommandError(f"{path}: no such file")
            result = self._inspect(paths, human_times, options)
            if result is None:
                return
        for line in result.left_out:
            self.stdout.write(f"  {line}")

    def _inspect(self, paths: list[Path], human_times: str, options: dict[str, Any]) -> Any:
        try:
            task_map = None
            if options["inspect_map"]:
                task_map = inspect_logs.load_task_map(Path(options["inspect_map"]).read_bytes())
            files = inspect_logs.log_files(paths)
            threshold = (
                inspect_logs.DEFAULT_THRESHOLD if options["threshold"] is None else options["threshold"]
            )
            if options["preview"]:
                logs = inspect_logs.read_logs(files)
                converted = inspect_logs.inspect_rows(logs, task_map, options["scorer"], threshold)
                for r in converted.rows:
                    self.stdout.write(
                        f"{r['alias']}\t{r['task_id']}\tscore {r['score_cont']:g} -> {r['score_binarized']}"
                        + (f"\t{r['fatal_error_from']}" if r["fatal_error_from"] else "")
                    )
                self.stdout.write(f"{len(converted.unmatched)} samples match no platform task:")
                for sample, task in converted.unmatched.items():
                    self.stdout.write(f"  {sample} -> {task}")
                return None
            result = inspect_logs.inspect_import(
                files, human_times=human_times, task_map=task_map, scorer=options["scorer"],
                threshold=threshold, skip_unmatched=options["skip_unmatched"],
            )  # fmt: skip
        except (RunsImportError, OSError) as exc:
            raise CommandError(f"nothing imported: {exc}") from exc
        self.stdout.write(f"{result.stored} runs imported from {len(files)} Inspect log(s)")
        return result


def _is_inspect(path: Path) -> bool:
    if path.suffix == ".eval":
        return True
    if path.suffix != ".json":
        return False
    return inspect_logs.is_inspect_log(path.name, path.read_bytes())
