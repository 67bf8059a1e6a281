"""The landing page: staff go to the task catalogue, contractors to their own work."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect


@login_required
def home(request: HttpRequest) -> HttpResponse:
    if request.user.is_staff:
        return redirect("tasks:catalogue")
    return redirect("baselining:work")
