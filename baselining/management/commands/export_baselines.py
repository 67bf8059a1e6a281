"""python manage.py export_baselines --out DIR [--format csv|metr|inspect] [filters]: the exports as files."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from baselining.exports import export_lines
from baselining.selectors import ExportFilters

FILES = {"csv": ["tasks.csv", "baselines.csv", "contractors.csv", "flags.csv"], "metr": ["runs.jsonl"]}
INSPECT = "inspect"  # one Inspect eval log per task (baselining/inspect_export.py)


def _day(option: str, value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{option}: {value!r} is not a date (YYYY-MM-DD)") from None


class Command(BaseCommand):
    help = (
        "Write tasks.csv, baselines.csv, contractors.csv and flags.csv (or METR-format runs.jsonl, or one "
        "Inspect eval log per task) to a directory."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", required=True, help="directory to write into (created if missing)")
        parser.add_argument("--format", choices=sorted([*FILES, INSPECT]), default="csv")
        parser.add_argument(
            "--log-format",
            choices=["eval", "json"],
            default="eval",
            help="with --format inspect: Inspect's .eval (the default) or .json logs",
        )
        parser.add_argument("--family", default="", help="only this task family")
        parser.add_argument("--status", default="", help="only tasks in this status")
        parser.add_argument("--since", help="attempts (flags) that ended (were raised) on or after this day")
        parser.add_argument("--until", help="... and on or before this day")
        parser.add_argument("--include-invalid", action="store_true", help="attempts staff marked invalid")
        parser.add_argument("--base-url", default="", help="prefix for recording and replay links")

    def handle(self, *args: Any, **options: Any) -> None:
        filters = ExportFilters(
            family=options["family"],
            status=options["status"],
            since=_day("--since", options["since"]),
            until=_day("--until", options["until"]),
            include_invalid=options["include_invalid"],
        )
        out = Path(options["out"])
        out.mkdir(parents=True, exist_ok=True)
        if options["format"] == INSPECT:
            # inspect_ai takes 1.3 s to import: only this format pays for it
            from baselining.inspect_export import write_logs  # noqa: PLC0415

            written = write_logs(filters, out, options["base_url"], options["log_format"])
            for name, samples in written:
                self.stdout.write(f"{name}: {samples} samples")
            self.stdout.write(f"{len(written)} Inspect logs")
            return
        for name in FILES[options["format"]]:
            # written beside, then renamed: a reader never sees half a file
            part = out / f".{name}.part"
            rows = 0
            with part.open("w", encoding="utf-8", newline="") as fh:
                for line in export_lines(name, filters, options["base_url"]):
                    fh.write(line)
                    rows += 1
            part.replace(out / name)
            header = 1 if name.endswith(".csv") else 0
            self.stdout.write(f"{name}: {rows - header} rows")
