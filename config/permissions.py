"""Role checks shared by every app: staff pages answer 403 to contractors, anonymous users log in."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.http.response import HttpResponseBase

View = Callable[..., HttpResponseBase]


def acting_user(request: HttpRequest) -> User:
    """The logged-in user of a view behind login_required/staff_required, typed as such."""
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied("login required")
    return user


def staff_required(view: View) -> View:
    @login_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_staff:
            raise PermissionDenied("staff only")
        return view(request, *args, **kwargs)

    return wrapped
