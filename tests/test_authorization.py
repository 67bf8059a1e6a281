"""Every URL and WebSocket route x {anonymous, contractor A, contractor B, staff}: the expected answer."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from baselining.models import ContractorProfile, ContractorStatus
from baselining.services import assignment_claim_next, contractor_accept_rules
from baselining.services.lifecycle import baseline_session_open
from tasks.models import Task
from tests.factories import make_ready
from tests.websockets import ws_handshake

pytestmark = [pytest.mark.sandbox, pytest.mark.django_db(transaction=True)]
ROLES = ("anonymous", "A", "B", "staff")
LOGIN = 302  # anonymous users are sent to the login page
# every /api/ route; tests/test_api.py covers tokens
API: dict[str, int | None] = {"anonymous": 401, "A": 403, "B": 403, "staff": 200}


def _all_routes(resolver=None, prefix: str = "") -> set[str]:  # type: ignore[no-untyped-def]
    out: set[str] = set()
    for p in (resolver or get_resolver()).url_patterns:
        if isinstance(p, URLResolver):
            if str(p.pattern).startswith("admin/"):
                continue
            out |= _all_routes(p, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            out.add(prefix + str(p.pattern))
    return out


@pytest.fixture
def world(demo_suite):  # type: ignore[no-untyped-def]
    User = get_user_model()
    staff = User.objects.create_user("staffer", password="x-pass-123", is_staff=True)
    a = User.objects.create_user("contractor_a", password="x-pass-123")
    b = User.objects.create_user("contractor_b", password="x-pass-123")
    for u in (a, b):
        ContractorProfile.objects.create(
            user=u, status=ContractorStatus.ACTIVE, expertise=[{"area": "software engineering"}]
        )
        contractor_accept_rules(user=u)
    make_ready(Task.objects.get(name="find_key"), staff)
    assignment = assignment_claim_next(contractor=a)
    session = baseline_session_open(assignment=assignment, user=a)
    return {"staff": staff, "A": a, "B": b, "assignment": assignment, "session": session}


def test_every_route_for_every_role(world, settings, tmp_path) -> None:
    settings.RECORDINGS_DIR = tmp_path
    s, a = world["session"], world["assignment"]
    s.terminal.recording_path.write_text('{"version": 2, "width": 80, "height": 24}\n')
    tv = a.task_version
    t = f"{a.task.family.name}/{a.task.name}"
    from baselining.services.flags import flag_raise

    flag = flag_raise(task_version=tv, by=world["A"], category="other", severity="minor", description="typo")
    from tasks.models import ImportJob

    job = ImportJob.objects.create(source="suite.zip", status="done")
    # (method, url, route pattern it exercises): {role: status}
    cases: dict[tuple[str, str, str], dict[str, int | None]] = {
        ("get", "/", ""): {"anonymous": LOGIN, "A": 302, "B": 302, "staff": 302},
        ("get", "/login/", "login/"): {"anonymous": 200, "A": 302, "B": 302, "staff": 302},
        ("post", "/logout/", "logout/"): {"anonymous": 302, "A": 302, "B": 302, "staff": 302},
        ("get", "/tasks/", "tasks/"): {"anonymous": LOGIN, "A": 403, "B": 403, "staff": 200},
        ("get", "/tasks/import/", "tasks/import/"): {"anonymous": LOGIN, "A": 403, "B": 403, "staff": 200},
        ("get", f"/tasks/import/{job.pk}/", "tasks/import/<int:job_id>/"): {
            "anonymous": LOGIN,
            "A": 403,
            "B": 403,
            "staff": 200,
        },
        ("get", f"/tasks/{t}/", "tasks/<str:family>/<taskname:name>/"): {
            "anonymous": LOGIN,
            "A": 403,
            "B": 403,
            "staff": 200,
        },
        ("post", f"/tasks/{t}/status/", "tasks/<str:family>/<taskname:name>/status/"): {
            "anonymous": LOGIN,
            "A": 403,
            "B": 403,
            "staff": 302,
        },
        ("get", "/terminal/try/", "terminal/try/"): {"anonymous": LOGIN, "A": 403, "B": 403, "staff": 200},
        ("post", f"/terminal/try/{tv.pk}/", "terminal/try/<int:task_version_id>/"): {
            "anonymous": LOGIN,
            "A": 403,
            "B": 403,
            "staff": 302,
        },
        ("get", "/terminal/sessions/", "terminal/sessions/"): {
            "anonymous": LOGIN,
            "A": 403,
            "B": 403,
            "staff": 200,
        },
        ("post", "/terminal/hosts/no-such-machine/drain/", "terminal/hosts/<str:name>/drain/"): {
            "anonymous": LOGIN,
            "A": 403,
            "B": 403,
            "staff": 404,  # staff may drain; this machine is not registered
        },
        ("get", f"/terminal/sessions/{s.terminal_id}/", "terminal/sessions/<uuid:session_id>/"): {
            "anonymous": LOGIN,
            "A": 200,
            "B": 404,
            "staff": 200,
        },
        (
            "get",
            f"/terminal/sessions/{s.terminal_id}/replay/",
            "terminal/sessions/<uuid:session_id>/replay/",
        ): {"anonymous": LOGIN, "A": 403, "B": 403, "staff": 200},
        (
            "get",
            f"/terminal/sessions/{s.terminal_id}/recording.cast",
            "terminal/sessions/<uuid:session_id>/recording.cast",
        ): {"anonymous": LOGIN, "A": 403, "B": 403, "staff": 200},
        ("get", "/work/", "work/"): {"anonymous": LOGIN, "A": 200, "B": 200, "staff": 200},
        ("post", "/work/rules/", "work/rules/"): {"anonymous": LOGIN, "A": 302, "B": 302, "staff": 302},
        ("get", f"/work/assignments/{a.pk}/", "work/assignments/<int:assignment_id>/"): {
            "anonymous": LOGIN,
            "A": 200,
            "B": 404,
            "staff": 404,
        },
        ("get", f"/work/sessions/{s.pk}/", "work/sessions/<int:session_id>/"): {
            "anonymous": LOGIN,
            "A": 200,
            "B": 404,
            "staff": 200,
        },
        ("get", f"/work/sessions/{s.pk}/clock.json", "work/sessions/<int:session_id>/clock.json"): {
            "anonymous": LOGIN,
            "A": 200,
            "B": 404,
            "staff": 200,
        },
        ("post", f"/work/sessions/{s.pk}/pause/", "work/sessions/<int:session_id>/<slug:action>/"): {
            "anonymous": LOGIN,
            "A": 302,
            "B": 404,
            "staff": 404,
        },
        ("get", "/work/review/", "work/review/"): {"anonymous": LOGIN, "A": 403, "B": 403, "staff": 200},
        ("get", "/apply/", "apply/"): {"anonymous": 200, "A": 200, "B": 200, "staff": 200},
        ("get", "/work/vetting/", "work/vetting/"): {"anonymous": LOGIN, "A": 403, "B": 403, "staff": 200},
        ("post", f"/work/vetting/{world['A'].contractor.pk}/", "work/vetting/<int:profile_id>/"): {
            "anonymous": LOGIN,
            "A": 403,
            "B": 403,
            "staff": 302,
        },
        ("post", "/work/invitations/", "work/invitations/"): {
            "anonymous": LOGIN,
            "A": 403,
            "B": 403,
            "staff": 302,
        },
        ("get", "/work/assign/", "work/assign/"): {"anonymous": LOGIN, "A": 403, "B": 403, "staff": 200},
        ("get", "/tasks/flags/", "tasks/flags/"): {"anonymous": LOGIN, "A": 403, "B": 403, "staff": 200},
        ("get", "/tasks/flags.csv", "tasks/flags.csv"): {
            "anonymous": LOGIN,
            "A": 403,
            "B": 403,
            "staff": 200,
        },
        ("post", "/tasks/flags/api/", "tasks/flags/api/"): {
            "anonymous": LOGIN,
            "A": 400,
            "B": 400,
            "staff": 400,
        },
        ("get", f"/tasks/flags/{flag.pk}/", "tasks/flags/<int:flag_id>/"): {
            "anonymous": LOGIN,
            "A": 403,
            "B": 403,
            "staff": 200,
        },
        ("post", f"/terminal/sessions/{s.terminal_id}/flag/", "terminal/sessions/<uuid:session_id>/flag/"): {
            "anonymous": LOGIN,
            "A": 403,
            "B": 403,
            "staff": 302,
        },
        ("get", f"/work/sessions/{s.pk}/report/", "work/sessions/<int:session_id>/report/"): {
            "anonymous": LOGIN,
            "A": 200,
            "B": 404,
            "staff": 200,
        },
        ("get", f"/work/review/{s.pk}/", "work/review/<int:session_id>/"): {
            "anonymous": LOGIN,
            "A": 403,
            "B": 403,
            "staff": 200,
        },
        # the health check: public, says only "ok" or "database unreachable"
        ("get", "/healthz", "healthz"): {"anonymous": 200, "A": 200, "B": 200, "staff": 200},
        # readiness: public, says only which dependency answers
        ("get", "/readyz", "readyz"): {"anonymous": 200, "A": 200, "B": 200, "staff": 200},
        # metrics: the scraper's, by METRICS_TOKEN, or from loopback while none is set (the test client's
        # address; tests/terminal/test_metrics.py refuses another address and a wrong token)
        ("get", "/metrics", "metrics"): {"anonymous": 200, "A": 200, "B": 200, "staff": 200},
        # time horizons: staff only
        ("get", "/horizons/", "horizons/"): {"anonymous": LOGIN, "A": 403, "B": 403, "staff": 200},
        ("post", "/horizons/flag/", "horizons/flag/"): {"anonymous": LOGIN, "A": 403, "B": 403, "staff": 302},
        # statistics and exports: staff only
        ("get", "/stats/", "stats/"): {"anonymous": LOGIN, "A": 403, "B": 403, "staff": 200},
        ("get", "/stats/exports/", "stats/exports/"): {"anonymous": LOGIN, "A": 403, "B": 403, "staff": 200},
        ("get", "/stats/exports/baselines.csv", "stats/exports/<str:name>"): {
            "anonymous": LOGIN,
            "A": 403,
            "B": 403,
            "staff": 200,
        },
        # human baselines as Inspect eval logs (a zip of .eval files): the same route, the same rule
        ("get", "/stats/exports/inspect.zip", "stats/exports/<str:name>"): {
            "anonymous": LOGIN,
            "A": 403,
            "B": 403,
            "staff": 200,
        },
        # the REST API (api/): staff only; no credentials is 401 (a token is asked for), not a login redirect
        ("get", "/api/", "api/"): {"anonymous": 200, "A": 200, "B": 200, "staff": 200},  # links only
        ("get", "/api/tasks/", "api/tasks/"): API,
        ("get", f"/api/tasks/{t}/", "api/tasks/<str:family>/<str:name>/"): API,
        ("get", "/api/sessions/", "api/sessions/"): API,
        ("get", f"/api/sessions/{s.pk}/", "api/sessions/<int:pk>/"): API,
        ("get", "/api/flags/", "api/flags/"): API,
        ("get", f"/api/flags/{flag.pk}/", "api/flags/<int:pk>/"): API,
        ("get", "/api/statistics/", "api/statistics/"): API,
        ("get", "/api/exports/baselines.csv", "api/exports/<str:name>"): API,
        ("get", "/api/exports/inspect.zip", "api/exports/<str:name>"): API,
        ("get", "/api/schema/", "api/schema/"): API,
        ("get", "/api/docs/", "api/docs/"): API,
        # ending someone else's session, and claiming, last: they change state
        # scoring an answer on Try a task: staff, in their own trial session only (this one is A's)
        (
            "post",
            f"/terminal/sessions/{s.terminal_id}/score/",
            "terminal/sessions/<uuid:session_id>/score/",
        ): {
            "anonymous": LOGIN,
            "A": 403,
            "B": 403,
            "staff": 404,
        },
        ("post", f"/terminal/sessions/{s.terminal_id}/end/", "terminal/sessions/<uuid:session_id>/end/"): {
            "anonymous": LOGIN,
            "A": None,
            "B": 404,
            "staff": None,
        },
        ("post", "/work/next/", "work/next/"): {"anonymous": LOGIN, "A": None, "B": 302, "staff": 302},
    }
    missing = _all_routes() - {route for _, _, route in cases}
    assert not missing, f"routes without an authorization case: {missing}"
    got: dict[tuple[str, str], dict[str, int]] = {}
    for (method, url, _route), expected in cases.items():
        for role in ROLES:
            if expected[role] is None:
                continue
            client = Client(HTTP_HOST="127.0.0.1")
            if role != "anonymous":
                client.force_login(world[role])
            resp = getattr(client, method)(url)
            got.setdefault((method, url), {})[role] = resp.status_code
            if role == "anonymous" and expected[role] == LOGIN and method == "get" and url != "/":
                assert resp["Location"].startswith("/login/"), url
    want = {(m, u): {r: c for r, c in e.items() if c is not None} for (m, u, _), e in cases.items()}
    assert got == want
    # B saw nothing of A's: the private task data never appears on A's own pages either
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(world["A"])
    page = client.get(f"/work/assignments/{a.pk}/").content.decode()
    assert "backup.dat" not in page  # the answer lives in the private task data


def test_websocket_route_for_every_role(world) -> None:

    s = world["session"]

    def attach(role: str, origin: str = "http://127.0.0.1") -> bool:
        headers = [(b"origin", origin.encode()), (b"host", b"127.0.0.1")]
        if role != "anonymous":
            client = Client(HTTP_HOST="127.0.0.1")
            client.force_login(world[role])
            headers.append((b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()))

        reply = ws_handshake(f"/ws/terminal/{s.terminal_id}/", headers)
        return bool(reply["type"] == "websocket.accept")

    assert {role: attach(role) for role in ROLES} == {
        "anonymous": False,
        "A": True,
        "B": False,
        "staff": True,
    }
    assert attach("A", origin="http://evil.example") is False
