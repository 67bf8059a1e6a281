"""Error answers that echo what the client sent: plain text, never HTML, so nothing echoed can run as script.

A 400 that names the bad value is useful to whoever made the request; rendered as HTML it would run any
markup in that value (a crafted link, opened by staff). SecurityMiddleware adds `nosniff`, so a browser
shows these as text whatever they contain.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from uuid import UUID

from django.http import HttpResponse

PLAIN_TEXT = "text/plain; charset=utf-8"


def bad_request(message: str) -> HttpResponse:
    """400 with the message as plain text (it may quote the request's own values)."""
    return plain(message + "\n", status=400)


def plain(body: str | bytes, *, status: int = 200, content_type: str = PLAIN_TEXT) -> HttpResponse:
    """An answer that is text, never HTML (content_type must be a text/plain one)."""
    if not content_type.startswith("text/plain"):
        raise ValueError(f"not a plain text type: {content_type}")
    return HttpResponse(body, status=status, content_type=content_type)


def posted_id(value: str | None) -> int | None:
    """An object id from a form or query value, or None when it is none: a tampered form selects nothing
    and says so, instead of a ValueError (or a database OverflowError, for 30 digits) and a 500."""
    if value is None or not (value.isascii() and value.isdigit()) or len(value) > 18:
        return None
    return int(value)


def posted_ids(values: Iterable[str]) -> list[int]:
    """The ids among posted values (a multiple select's): the others are left out, as posted_id says."""
    return [i for i in map(posted_id, values) if i is not None]


def posted_uuid(value: object) -> UUID | None:
    """A UUID from a form or JSON value, or None when it is none (a bad one was a ValidationError and a 500
    in a UUIDField lookup)."""
    try:
        return UUID(str(value))
    except ValueError:
        return None


def seconds(value: object) -> float | None:
    """A finite number of seconds >= 0 from a query, form or JSON value, or None when it is not one: `inf`,
    `nan`, `1e309` and negatives are refused (a recording offset or a replay's start)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) and number >= 0 else None
