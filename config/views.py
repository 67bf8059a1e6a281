"""The landing page (staff go to the task catalogue, contractors to their own work) and the health check."""

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect


@login_required
def home(request: HttpRequest) -> HttpResponse:
    if request.user.is_staff:
        return redirect("tasks:catalogue")
    return redirect("baselining:work")


def database_trouble() -> str:
    """ "" when the database answers a query; else why not (the error's type)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:
        return f"unreachable: {type(exc).__name__}"
    return ""


def healthz(request: HttpRequest) -> HttpResponse:
    """For load balancers and docker-compose health checks: 200 when the database answers, else 503."""
    if database_trouble():
        return HttpResponse("database unreachable\n", status=503, content_type="text/plain")
    return HttpResponse("ok\n", content_type="text/plain")
