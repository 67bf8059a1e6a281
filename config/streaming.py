"""Streaming text exports: rows in, lines out, one at a time (flat memory at any size where the lines are
written as they come: the export command. Django under ASGI gathers a StreamingHttpResponse of a synchronous
iterator whole before sending it: docs/exports.md)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from django.http import StreamingHttpResponse


class _Echo:
    """A file-like object whose write returns the line, so csv.writer can feed a generator."""

    def write(self, value: str) -> str:
        return value


# A spreadsheet reads a cell that starts with one of these as a formula (OWASP, "CSV Injection"); a quote
# starts a text cell. Text cells that start with either get one more quote in front (csv_text).
FORMULA_FIRST = frozenset("=+-@\t\r'")


def csv_text(value: str) -> str:
    """A text cell a spreadsheet shows as text, never runs as a formula: OWASP's rule, a leading `'` when
    the text starts with `=`, `+`, `-`, `@`, tab or CR, and also when it starts with `'`, so that dropping
    one leading `'` from every cell that has one gives back the raw text exactly (docs/exports.md)."""
    return "'" + value if value[:1] in FORMULA_FIRST else value


def csv_lines(rows: Iterable[Sequence[Any]], text_columns: Iterable[int] = ()) -> Iterator[str]:
    """The rows as CSV lines; the cells at positions `text_columns` are free text, neutralised by csv_text
    (numbers in other columns, a negative score included, are written as they are)."""
    # The writer quotes a cell that holds a character of its line terminator, and only those: with "\n"
    # alone, a CR in a text cell went out bare and readers (pandas among them) split the row there. So it
    # ends its lines with CRLF, and each line is given back with LF.
    writer = csv.writer(_Echo(), lineterminator="\r\n")
    write = writer.writerow
    text = tuple(text_columns)
    first = FORMULA_FIRST
    for row in rows:
        for i in text:
            value = row[i]
            if type(value) is str and value[:1] in first:  # rare: the row is copied only then
                row = [csv_text(v) if j in text and type(v) is str else v for j, v in enumerate(row)]
                break
        yield write(row)[:-2] + "\n"


def jsonl_lines(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    for row in rows:
        yield json.dumps(row, allow_nan=False) + "\n"


def download(lines: Iterable[str], filename: str) -> StreamingHttpResponse:
    kind = "text/csv" if filename.endswith(".csv") else "application/x-ndjson"
    response = StreamingHttpResponse(lines, content_type=f"{kind}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
