"""Template context shared by every page: the length limits of free-text fields (config/limits.py)."""

from __future__ import annotations

from django.http import HttpRequest

from config.limits import maxlengths

_MAXLEN = maxlengths()


def limits(request: HttpRequest) -> dict[str, dict[str, int]]:
    return {"maxlen": _MAXLEN}
