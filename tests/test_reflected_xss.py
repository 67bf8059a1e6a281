"""Every route, every parameter, a script for a value: no HTML answer echoes it raw, and nothing is a 500.

The walk takes every URL pattern of config.urls (the admin's too), fills its path parameters with real
objects, and then, as anonymous, a contractor and staff:
- asks for it plainly, recording which query and form parameters the view reads (QueryDict lookups);
- puts a payload into each path parameter that can hold text (<str:...>, <path:...>, regex groups);
- puts a payload into all of the query parameters at once, and (outside the admin) into each alone: the
  names the views read, and common ones the views might read;
- POSTs the payload in every form parameter the view reads (each alone and all at once, then follows the
  redirect, where a message may repeat it).
An answer of an HTML (or XML, SVG) type must not hold the payload's markup unescaped; no answer may be 500.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from django.contrib.auth import get_user_model
from django.http import QueryDict
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.converters import IntConverter, PathConverter, SlugConverter, StringConverter, UUIDConverter

from baselining.models import BaselineSession
from baselining.services import contractor_accept_rules
from baselining.services.flags import flag_raise
from baselining.synthetic import generate_suite
from tasks.models import ImportJob
from terminal.services import terminal_session_create

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'  # breaks out of an attribute, and has no "/": fits a <str:...>
PAYLOADS = [SCRIPT, IMG]
COMBINED = "'" + IMG + SCRIPT  # for the one-at-a-time passes: both contexts in one value
BIG = "9" * 30  # where a number is wanted: past any database integer
# What must never come back unescaped in a page (an attribute-escaped echo holds neither).
MARKUP = ["<script>alert(1)", "<img src=x onerror=alert(1)>"]
# Parameters views commonly read, beside the ones the walk sees them read.
COMMON = [
    "status", "q", "sort", "order", "o", "t", "page", "p", "task", "family", "agent", "kind", "state",
    "category", "severity", "since", "until", "include_invalid", "next", "invite", "limit", "offset",
    "format", "lang", "version", "outcome", "review_status", "contractor", "task_status", "weighting",
    "legacy", "expertise", "needs", "e", "_changelist_filters", "_popup", "_to_field", "offset",
]  # fmt: skip
HTML_TYPES = ("html", "xml", "svg")
# POSTs the walk does not make, and why.
NO_POST = {
    "logout": "logs the walker out",
    "admin:logout": "logs the walker out",
    "terminal:end": "ends the terminal session the other routes show",
}
ADMIN = "admin"


@dataclass
class Route:
    name: str
    route: str
    params: dict[str, str]  # parameter -> "int", "uuid", "slug", "str", "path" or "regex"

    @property
    def is_admin(self) -> bool:
        return self.name.startswith(ADMIN + ":")


def _kind(converter: Any) -> str:
    for cls, kind in ((IntConverter, "int"), (UUIDConverter, "uuid"), (SlugConverter, "slug"),
                      (PathConverter, "path"), (StringConverter, "str")):  # fmt: skip
        if isinstance(converter, cls):
            return kind
    return "regex"


def all_routes(
    resolver: URLResolver | None = None, ns: tuple[str, ...] = (), prefix: str = ""
) -> list[Route]:
    out: list[Route] = []
    for p in (resolver or get_resolver()).url_patterns:
        if isinstance(p, URLResolver):
            out += all_routes(p, (*ns, p.namespace) if p.namespace else ns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            converters = getattr(p.pattern, "converters", {})
            groups = p.pattern.regex.groupindex
            params = {g: _kind(converters[g]) if g in converters else "regex" for g in groups}
            name = ":".join((*ns, p.name)) if p.name else ""
            out.append(Route(name, prefix + str(p.pattern), params))
    return out


@pytest.fixture
def world(settings, tmp_path):  # type: ignore[no-untyped-def]
    """A small suite with one of everything a route can name: built without a sandbox."""
    settings.RECORDINGS_DIR = tmp_path
    generate_suite(n_tasks=3, attempts_per_task=2, n_contractors=2, prefix="w", tasks_per_family=3, seed=1)
    user_model = get_user_model()
    staff = user_model.objects.create_user("staffer", password="x-pass-123", is_staff=True, is_superuser=True)
    contractor = user_model.objects.filter(username__startswith="w-").order_by("pk")[0]
    contractor_accept_rules(user=contractor)
    session = BaselineSession.objects.filter(assignment__contractor=contractor).order_by("pk")[0]
    tv = session.assignment.task_version
    terminal = terminal_session_create(user=contractor, task_version=tv, purpose="baseline")
    terminal.recording_path.write_text('{"version": 2, "width": 80, "height": 24}\n[0.5, "o", "hi"]\n')
    BaselineSession.objects.filter(pk=session.pk).update(terminal=terminal)  # as a real session has one
    flag = flag_raise(task_version=tv, by=staff, category="other", severity="minor", description="typo")
    job = ImportJob.objects.create(source="suite.zip", status="done")
    task = tv.task
    real: dict[str, Any] = {
        "job_id": job.pk,
        "task_version_id": tv.pk,
        "assignment_id": session.assignment_id,
        "flag_id": flag.pk,
        "profile_id": contractor.contractor.pk,
        "family": task.family.name,
        "name": task.name,
        "int:session_id": session.pk,
        "uuid:session_id": terminal.id,
        "action": "pause",
        "stats:export/name": "baselines.csv",
        "api:export/name": "baselines.csv",
        "api:session/pk": session.pk,
        "api:flag/pk": flag.pk,
    }
    return {"staff": staff, "contractor": contractor, "real": real}


def _real(route: Route, param: str, kind: str, real: dict[str, Any]) -> Any:
    for key in (f"{route.name}/{param}", f"{kind}:{param}", param):
        if key in real:
            return real[key]
    if route.is_admin:  # the admin's own parameters: any object will do
        return {"app_label": "tasks", "content_type_id": 1, "object_id": "1", "url": "x"}.get(param, "1")
    raise AssertionError(f"no real value for {route.name} parameter {param}: add one to the world")


PLACEHOLDER = "XSSPLACEHOLDER0"


def _url(route: Route, real: dict[str, Any], payload_in: str | None = None, payload: str = "") -> str | None:
    kwargs = {p: _real(route, p, k, real) for p, k in route.params.items()}
    if payload_in is not None:
        kwargs[payload_in] = payload if route.params[payload_in] == "int" else PLACEHOLDER
    try:
        url = reverse(route.name, kwargs=kwargs)
    except Exception:  # a regex group that cannot hold the placeholder (the admin's app_label)
        return None
    return url.replace(PLACEHOLDER, quote(payload, safe=""))


@dataclass
class Walk:
    clients: dict[str, Client]
    problems: list[str] = field(default_factory=list)
    requests: int = 0

    def check(self, role: str, method: str, url: str, data: dict[str, str] | None = None) -> Any:
        client = self.clients[role]
        resp = getattr(client, method)(url, data or {})
        self.requests += 1
        where = f"{role} {method.upper()} {url}" + (f" {sorted(data)}" if data else "")
        ctype = resp.get("Content-Type", "")
        if resp.status_code >= 500:
            self.problems.append(f"{resp.status_code}: {where}")
        # read to the end: the test client closes a streamed answer then (closing it early would fire
        # request_finished, whose handler closes the test database's connection)
        body = b"".join(resp.streaming_content) if getattr(resp, "streaming", False) else resp.content
        if not ctype or any(t in ctype for t in HTML_TYPES):
            text = body.decode(errors="replace")
            for markup in MARKUP:
                if markup in text:
                    self.problems.append(f"{markup!r} echoed raw ({resp.status_code}, {ctype}): {where}")
        return resp


@pytest.fixture
def read_keys(monkeypatch):  # type: ignore[no-untyped-def]
    """Every key a view looks up in request.GET or request.POST (forms and DRF read them the same way)."""
    keys: set[str] = set()
    for method in ("__getitem__", "get", "getlist", "__contains__"):
        original = getattr(QueryDict, method)

        def spy(self, key, *args, _original=original, **kwargs):  # type: ignore[no-untyped-def]
            if isinstance(key, str):
                keys.add(key)
            return _original(self, key, *args, **kwargs)

        monkeypatch.setattr(QueryDict, method, spy)
    return keys


def _each(routes: list[Route]) -> Iterator[Route]:
    for route in routes:
        if route.name:
            yield route


def test_no_route_echoes_a_script_or_answers_500(world, read_keys) -> None:
    routes = all_routes()
    unnamed = [r.route for r in routes if not r.name]
    assert all(r.startswith("admin/") for r in unnamed), unnamed  # the admin's catch-all: nothing to name
    clients = {"anonymous": Client(HTTP_HOST="127.0.0.1", raise_request_exception=False)}
    for role in ("contractor", "staff"):
        clients[role] = Client(HTTP_HOST="127.0.0.1", raise_request_exception=False)
        clients[role].force_login(world[role])
    walk = Walk(clients)
    real = world["real"]

    # 1. plainly, as everyone: what answers, and which parameters the views read
    plain: dict[tuple[str, str], int] = {}
    for route in _each(routes):
        url = _url(route, real)
        assert url is not None, route.name
        for role in clients:
            plain[(route.name, role)] = walk.check(role, "get", url).status_code
    get_keys = set(read_keys) | set(COMMON)
    assert {"t", "status", "family", "page", "invite", "since", "weighting", "next"} <= get_keys

    # 2. the payloads in every path parameter that can hold text, and in all query parameters at once
    for route in _each(routes):
        for role in clients:
            for payload in PAYLOADS:
                for param, kind in route.params.items():
                    value = {"str": payload, "path": payload, "regex": payload, "int": BIG}.get(kind)
                    url = None if value is None else _url(route, real, param, value)
                    if url is not None:
                        walk.check(role, "get", url)
                base = _url(route, real)
                assert base is not None
                walk.check(role, "get", base + "?" + urlencode(dict.fromkeys(sorted(get_keys), payload)))

    # 3. each query parameter alone, wherever the role gets an answer (not a login redirect or a 403)
    for route in _each(routes):
        base = _url(route, real)
        assert base is not None
        for role in clients:
            if route.is_admin or plain[(route.name, role)] in (302, 403, 405):
                continue
            for key in sorted(get_keys):
                walk.check(role, "get", base + "?" + urlencode({key: COMBINED}))

    # 4. forms: what each POST reads, then the payload in each of those fields alone and in all at once
    for route in _each(routes):
        if route.is_admin or route.name in NO_POST:
            continue
        base = _url(route, real)
        assert base is not None
        for role in clients:
            read_keys.clear()
            walk.check(role, "post", base)
            fields = sorted(read_keys)
            alone = [{k: v} for k in fields for v in (COMBINED, BIG)]
            for data in [*alone, dict.fromkeys(fields, COMBINED), dict.fromkeys(fields, BIG)]:
                resp = walk.check(role, "post", base, data)
                if resp.status_code == 302 and resp["Location"].startswith("/"):
                    walk.check(role, "get", resp["Location"])  # where a message repeats what was sent

    print(f"{walk.requests} requests over {len(routes)} routes, {len(get_keys)} query parameters")
    assert not walk.problems, "\n".join(sorted(set(walk.problems)))


@pytest.mark.parametrize("value", ["abc", BIG, "-1", "١٢"])
def test_tampered_ids_in_staff_forms_select_nothing(world, value: str) -> None:
    """Found by the walk: a non-number (or 30 digits) where a form posts ids was a ValueError (an
    OverflowError) and a 500."""
    from tasks.models import Flag

    client = Client(HTTP_HOST="127.0.0.1", raise_request_exception=True)
    client.force_login(world["staff"])
    flag = Flag.objects.get()
    for url, data in (
        ("/tasks/flags/", {"flags": [value, str(flag.pk)], "to": "confirmed"}),
        (f"/tasks/flags/{flag.pk}/", {"to": "duplicate", "duplicate_of": value}),
        (f"/tasks/flags/{flag.pk}/", {"to": "fixed", "fixed_in": value}),
        ("/work/assign/", {"contractors": [value], "tasks": [value]}),
    ):
        resp = client.post(url, data)
        assert resp.status_code == 302, (url, data)
    flag.refresh_from_db()
    assert flag.status == "confirmed"  # the good id in the list still counted; the bad ones did nothing


def test_no_view_builds_html_from_a_string() -> None:
    """The audit, kept: error answers go through config.http (plain text), pages through templates, which
    escape; the only unescaped output is matplotlib's SVG (it escapes text itself: tests/baselining/
    test_stats_pages.py and tests/horizons/test_untrusted_names.py put markup in the names it draws)."""
    from pathlib import Path

    from django.conf import settings

    base = Path(settings.BASE_DIR)
    code = re.compile(r"\bHttpResponse(BadRequest|NotFound|Forbidden|NotAllowed|Gone|ServerError)?\(|mark_safe|"
                      r"format_html|SafeString|\bsafe_join")  # fmt: skip
    found = []
    for app in ("api", "baselining", "config", "horizons", "tasks", "terminal"):
        for path in (base / app).rglob("*.py"):
            rel = str(path.relative_to(base))
            if "migrations" in rel or rel == "config/http.py":
                continue
            for n, line in enumerate(path.read_text().splitlines(), 1):
                if code.search(line) and 'content_type="text/plain"' not in line:
                    found.append(f"{rel}:{n}: {line.strip()}")
    svg = {
        "plots.coverage|safe",
        "plots.lengths|safe",
        "plots.points|safe",
        "plots.speed|safe",
        "trend_plot|safe",
        "svg|safe",
    }  # matplotlib's SVG (baselining/plots.py: text is text, never markup)
    for path in (base / "templates").rglob("*.html"):
        text = path.read_text()
        for match in re.finditer(r"\{\{\s*([^}]*?\|safe)\s*\}\}|\{%\s*autoescape\s+off", text):
            if match.group(1) not in svg:
                found.append(f"{path.relative_to(base)}: {match.group(0)}")
    assert not found, "\n".join(found)
