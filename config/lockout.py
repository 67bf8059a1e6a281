"""The page a locked-out login gets (django-axes' AXES_LOCKOUT_CALLABLE): 429, with how long to wait."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

MSG_LOCKED_OUT = (
    "Too many failed logins for this user name or from this address: logging in is locked for {minutes} "
    "minutes, and every failed attempt meanwhile starts the wait again."
)


def lockout_minutes() -> int:
    return max(1, round(float(settings.AXES_COOLOFF_TIME) * 60))


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: Any = None
) -> HttpResponse:
    message = MSG_LOCKED_OUT.format(minutes=lockout_minutes())
    return render(request, "registration/locked_out.html", {"message": message}, status=429)
