"""Error answers that echo what the client sent: plain text, never HTML, so nothing echoed can run as script.

A 400 that names the bad value is useful to whoever made the request; rendered as HTML it would run any
markup in that value (a crafted link, opened by staff). SecurityMiddleware adds `nosniff`, so a browser
shows these as text whatever they contain.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.http import HttpResponse

PLAIN_TEXT = "text/plain; charset=utf-8"


def bad_request(message: str) -> HttpResponse:
    """400 with the message as plain text (it may quote the request's own values)."""
    return HttpResponse(message + "\n", status=400, content_type=PLAIN_TEXT)


def posted_id(value: str | None) -> int | None:
    """An object id from a form or query value, or None when it is none: a tampered form selects nothing
    and says so, instead of a ValueError (or a database OverflowError, for 30 digits) and a 500."""
    if value is None or not (value.isascii() and value.isdigit()) or len(value) > 18:
        return None
    return int(value)


def posted_ids(values: Iterable[str]) -> list[int]:
    """The ids among posted values (a multiple select's): the others are left out, as posted_id says."""
    return [i for i in map(posted_id, values) if i is not None]
