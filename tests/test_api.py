"""The read-only staff API (api/): who may read, what it shows, that it agrees with the exports, its cost."""

from __future__ import annotations

import io
import json
import math
import re
from datetime import date
from typing import Any

import pandas as pd
import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import URLPattern

from api.services import api_token_create
from api.urls import urlpatterns as api_urlpatterns
from baselining.exports import (
    BASELINES_COLUMNS,
    FLAGS_COLUMNS,
    TASKS_COLUMNS,
    flags_table,
    read_csv_kwargs,
    suite_statistics,
)
from baselining.models import BaselineSession, ContractorProfile
from baselining.selectors import ExportFilters
from baselining.services.flags import flag_raise
from baselining.synthetic import generate_suite
from tasks.models import Flag, Task
from terminal.services import terminal_session_create
from tests.factories import passed_qa_run

pytestmark = pytest.mark.django_db
HOST = "127.0.0.1"
N_TASKS = 30  # 3 families of 10
ATTEMPTS = 4  # 120 sessions: more than a page, so an N+1 query would cost about 100 queries
N_FLAGS = 24


@pytest.fixture
def suite() -> dict[str, Any]:
    generate_suite(n_tasks=N_TASKS, attempts_per_task=ATTEMPTS, n_contractors=20, prefix="gen")
    users = list(get_user_model().objects.filter(username__startswith="gen-").order_by("pk"))
    for u in users:  # e-mail addresses that must never show up either
        u.email = f"{u.username}@example.org"
    get_user_model().objects.bulk_update(users, ["email"])
    tasks = list(Task.objects.select_related("latest_version").order_by("pk"))
    for i in range(N_FLAGS):
        by = users[i % len(users)]
        tv = tasks[i].latest_version
        assert tv is not None
        # a contractor reports problems of versions they had a session of; some from that session
        session = terminal_session_create(user=by, task_version=tv, purpose="baseline")
        terminal = session if i % 3 == 0 else None
        flag_raise(
            task_version=tv,
            by=by,
            category=["unclear", "missing", "other"][i % 3],
            severity=["minor", "major"][i % 2],
            description=f"problem {i}",
            terminal_session=terminal,
            recording_offset=12.25 * i if terminal else None,
            source="session" if terminal else "page",
        )
    return {"users": users, "tasks": tasks}


def _user(username: str, *, staff: bool = False) -> Any:
    return get_user_model().objects.create_user(username, password="x-pass-123", is_staff=staff)


@pytest.fixture
def staff() -> Any:
    return _user("staffer", staff=True)


@pytest.fixture
def contractor() -> Any:
    user = _user("contractor_a")
    ContractorProfile.objects.create(user=user, status="active")
    return user


def token_client(user: Any) -> Client:
    key = api_token_create(user=user, replace=True)
    return Client(HTTP_HOST=HOST, headers={"Authorization": f"Token {key}"})


@pytest.fixture
def api(staff: Any) -> Client:
    return token_client(staff)


def get_json(client: Client, url: str, status: int = 200) -> Any:
    resp = client.get(url)
    assert resp.status_code == status, (url, resp.status_code, resp.content[:500])
    return json.loads(resp.content, parse_constant=_no_nan)


def _no_nan(name: str) -> None:
    raise AssertionError(f"{name} in JSON")


def get_all(client: Client, url: str) -> list[dict[str, Any]]:
    """Every row of a paginated list, following `next`."""
    rows: list[dict[str, Any]] = []
    next_url: str | None = url
    while next_url:
        page = get_json(client, next_url)
        rows += page["results"]
        next_url = page["next"]
    return rows


def body(resp: Any) -> bytes:
    return b"".join(resp.streaming_content) if resp.streaming else bytes(resp.content)


def content(resp: Any) -> str:
    return body(resp).decode()


# --- Who may read --------------------------------------------------------------------------------------


def api_urls(suite: dict[str, Any]) -> dict[str, str]:
    """A concrete URL for every route under /api/; the test fails if a route is added without one."""
    task = suite["tasks"][0]
    urls = {
        "tasks/": "/api/tasks/",
        "tasks/<str:family>/<str:name>/": f"/api/tasks/{task.family.name}/{task.name}/",
        "sessions/": "/api/sessions/",
        "sessions/<int:pk>/": f"/api/sessions/{BaselineSession.objects.first().pk}/",
        "flags/": "/api/flags/",
        "flags/<int:pk>/": f"/api/flags/{Flag.objects.first().pk}/",
        "statistics/": "/api/statistics/",
        "exports/<str:name>": "/api/exports/tasks.csv",
        "schema/": "/api/schema/",
        "docs/": "/api/docs/",
    }
    routes = {str(p.pattern) for p in api_urlpatterns if isinstance(p, URLPattern)}
    assert set(urls) == routes - {""}  # (the root holds links only: test_the_root_says_where_to_go)
    return urls


def test_the_root_says_where_to_go(suite, staff) -> None:
    """`/api/` answers anyone with the endpoints, the schema, the docs and how to authenticate; no data.
    Every link it gives is a route that answers staff."""
    for client in (Client(HTTP_HOST=HOST), token_client(staff)):
        resp = client.get("/api/")
        assert resp.status_code == 200 and resp["Content-Type"] == "application/json"
        doc = json.loads(content(resp))
        assert doc["docs"] == f"http://{HOST}/api/docs/" and doc["schema"] == f"http://{HOST}/api/schema/"
        assert "Token" in doc["authentication"]
    endpoints = doc["endpoints"]
    links = [doc["docs"], doc["schema"], *(v for v in endpoints.values() if isinstance(v, str))]
    links += list(endpoints["exports"].values())
    staff_client = token_client(staff)
    for link in links:
        assert staff_client.get(link.removeprefix(f"http://{HOST}")).status_code == 200, link


def test_auth_matrix_tokens_and_sessions(suite, staff, contractor) -> None:
    inactive_staff = _user("gone", staff=True)
    inactive_client = token_client(inactive_staff)
    inactive_staff.is_active = False
    inactive_staff.save()
    session_staff, session_contractor = Client(HTTP_HOST=HOST), Client(HTTP_HOST=HOST)
    session_staff.force_login(staff)
    session_contractor.force_login(contractor)
    clients = {
        "anonymous": Client(HTTP_HOST=HOST),
        "bad token": Client(HTTP_HOST=HOST, headers={"Authorization": "Token not-a-token"}),
        "inactive staff token": inactive_client,
        "contractor token": token_client(contractor),
        "contractor session": session_contractor,
        "staff token": token_client(staff),
        "staff session": session_staff,
    }
    expected = {
        "anonymous": 401,
        "bad token": 401,
        "inactive staff token": 401,
        "contractor token": 403,
        "contractor session": 403,
        "staff token": 200,
        "staff session": 200,
    }
    for url in api_urls(suite).values():
        got = {}
        for who, client in clients.items():
            resp = client.get(url)
            got[who] = resp.status_code
            if resp.status_code == 401:
                assert resp["WWW-Authenticate"] == "Token", url
        assert got == expected, url


def test_contractor_reads_nothing(suite, contractor) -> None:
    """Every route, with and without filters, answers a contractor 403 and says nothing of the data."""
    client = token_client(contractor)
    urls = [
        *api_urls(suite).values(),
        "/api/exports/baselines.csv",
        "/api/exports/flags.csv",
        "/api/exports/runs.jsonl",
        "/api/exports/inspect.zip",
        "/api/exports/nope.csv",
        "/api/tasks/?status=ready",
        "/api/sessions/?kind=baseline",
        "/api/statistics/?family=gen_f00000",
        "/api/schema/?format=json",
    ]
    for url in urls:
        resp = client.get(url)
        assert resp.status_code == 403, url
        assert b"gen_f" not in resp.content and b"gen-c" not in resp.content, url
    assert client.post("/api/tasks/", {}).status_code == 403


def test_read_only(suite, api) -> None:
    for url in api_urls(suite).values():
        for method in ("post", "put", "patch", "delete"):
            assert getattr(api, method)(url).status_code == 405, (method, url)


# --- What it shows --------------------------------------------------------------------------------------


def test_tasks_list_detail_and_filters(suite, api) -> None:
    rows = get_all(api, "/api/tasks/?limit=7")
    assert len(rows) == N_TASKS
    task = Task.objects.select_related("family", "latest_version").order_by("family__name", "name").first()
    assert rows[0] == {
        "id": task.pk,
        "task_id": f"{task.family.name}/{task.name}",
        "family": task.family.name,
        "name": task.name,
        "status": "ready",
        "task_version": 1,
        "estimate_minutes": task.latest_version.estimate_minutes,
        "needs": [],
        "target_baselines": 3,
        "created_at": rows[0]["created_at"],
    }
    assert get_json(api, f"/api/tasks/{task.family.name}/{task.name}/") == rows[0]
    assert get_json(api, "/api/tasks/gen_f00000/nope/", 404) == {"detail": "no task gen_f00000/nope"}

    family = get_json(api, "/api/tasks/?family=gen_f00001")
    assert family["count"] == 10
    assert {r["family"] for r in family["results"]} == {"gen_f00001"}
    assert get_json(api, "/api/tasks/?status=draft")["count"] == 0
    assert get_json(api, "/api/tasks/?status=ready&family=gen_f00002")["count"] == 10


def test_sessions_show_pseudonyms_never_usernames(suite, api) -> None:
    rows = get_all(api, "/api/sessions/?limit=50")
    assert len(rows) == N_TASKS * ATTEMPTS
    sessions = BaselineSession.objects.select_related(
        "assignment__contractor__contractor", "assignment__task__family"
    ).in_bulk()
    for row in rows:
        s = sessions[row["id"]]
        assert row["contractor"] == s.assignment.contractor.contractor.pseudonym
        assert row["task_id"] == s.assignment.task.task_id
        assert row["working_seconds"] == s.working_seconds
        assert row["outcome"] == s.outcome
        assert row["state"] == "ended"
        assert row["recording_url"] is None  # generated attempts have no terminal
        assert row["started_at"] is not None
    body = api.get("/api/sessions/?limit=1000").content.decode()
    for user in suite["users"]:
        assert user.username not in body
        assert user.email not in body
    assert "username" not in body
    assert "email" not in body

    someone = rows[0]["contractor"]
    mine = get_json(api, f"/api/sessions/?contractor={someone}")
    assert mine["count"] == sum(r["contractor"] == someone for r in rows) > 0
    assert {r["contractor"] for r in mine["results"]} == {someone}
    qa = get_json(api, "/api/sessions/?kind=qa&limit=1000")
    assert qa["count"] == sum(r["kind"] == "qa" for r in rows) > 0
    invalid = get_json(api, "/api/sessions/?review_status=invalid&limit=1000")["results"]
    assert all(r["review_reason"] == "rules" for r in invalid)
    assert get_json(api, "/api/sessions/?family=gen_f00000")["count"] == 10 * ATTEMPTS


def test_session_without_contractor_profile_and_with_recording(suite, api) -> None:
    """A QA tester without a profile appears as u_<id>, as in baselines.csv; the recording link is absolute."""
    checklist = passed_qa_run(suite["tasks"][0])
    session = checklist.session
    row = get_json(api, f"/api/sessions/{session.pk}/")
    tester = session.assignment.contractor
    assert row["contractor"] == f"u_{tester.pk}"
    assert tester.username not in json.dumps(row)
    assert row["recording_url"] == f"http://{HOST}/terminal/sessions/{session.terminal_id}/recording.cast"
    assert row["outcome"] is None and row["review_reason"] is None and row["started_at"] is None
    get_json(api, "/api/sessions/999999/", 404)


def test_flags_are_the_facts_of_flags_csv(suite, api) -> None:
    rows = get_all(api, "/api/flags/?limit=10")
    assert len(rows) == N_FLAGS
    assert set(rows[0]) == set(FLAGS_COLUMNS)
    table = flags_table(ExportFilters(), base_url=f"http://{HOST}")
    header = next(table)
    csv_rows = [dict(zip(header, r, strict=True)) for r in table]
    pseudonyms = dict(ContractorProfile.objects.values_list("user__username", "pseudonym"))
    for api_row, csv_row in zip(rows, csv_rows, strict=True):
        for col in ("flag_id", "task_id", "family", "task", "task_version", "category", "severity", "status",
                    "source", "description", "resolution_note"):  # fmt: skip
            assert api_row[col] == csv_row[col], col
        assert (api_row["replay_url"] or "") == csv_row["replay_url"]
        assert (api_row["terminal_session_id"] or "") == str(csv_row["terminal_session_id"])
        offset = api_row["recording_offset_s"]
        assert ("" if offset is None else f"{offset:.3f}") == csv_row["recording_offset_s"]
        # both name the reporter by pseudonym, like the sessions: never by username
        assert api_row["raised_by"] == csv_row["raised_by"] in pseudonyms.values()
    assert any(r["replay_url"] and "?t=" in r["replay_url"] for r in rows)
    assert get_json(api, f"/api/flags/{rows[3]['flag_id']}/") == rows[3]

    assert get_json(api, "/api/flags/?severity=major")["count"] == N_FLAGS // 2
    assert get_json(api, "/api/flags/?category=missing&status=open")["count"] == N_FLAGS // 3
    assert get_json(api, "/api/flags/?status=fixed")["count"] == 0
    assert get_json(api, "/api/flags/?family=gen_f00002")["count"] == N_FLAGS - 20


# --- Statistics and exports agree with baselining.exports ------------------------------------------------


def _expected_statistics(filters: ExportFilters) -> list[dict[str, Any]]:
    stats = suite_statistics(filters)
    out = []
    for row in stats.itertuples():
        r = row._asdict()
        values = {
            "task_id": f"{r['family']}/{r['name']}",
            "task_family": r["family"],
            "task_name": r["name"],
            **{c: r[c] for c in TASKS_COLUMNS if c in r},
        }
        out.append({c: _plain(values[c]) for c in TASKS_COLUMNS})
    return out


def _plain(v: Any) -> Any:
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    return v.item() if hasattr(v, "item") else v


@pytest.mark.parametrize(
    ("query", "filters"),
    [
        ("", ExportFilters()),
        (
            "family=gen_f00001&status=ready&since=2026-03-01&until=2026-08-31",
            ExportFilters(
                family="gen_f00001", status="ready", since=date(2026, 3, 1), until=date(2026, 8, 31)
            ),
        ),
    ],
)
def test_statistics_equal_suite_statistics(suite, api, query, filters) -> None:
    rows = get_all(api, f"/api/statistics/?{query}")
    expected = _expected_statistics(filters)
    assert rows == expected
    assert rows and list(rows[0]) == list(TASKS_COLUMNS)


def test_statistics_nan_is_null(suite, api) -> None:
    """A task nobody attempted has no times: nulls, never NaN (which is not JSON)."""
    untouched = Task.objects.create(family=suite["tasks"][0].family, name="zzz_new", status="ready")
    rows = get_json(api, "/api/statistics/?family=" + untouched.family.name)["results"]
    row = next(r for r in rows if r["task_name"] == "zzz_new")
    assert row["attempts"] == 0
    assert row["gmean_minutes"] is None and row["human_minutes"] is None and row["task_version"] is None
    assert "NaN" not in api.get("/api/statistics/").content.decode()


def test_export_files_load_with_the_documented_dtypes(suite, api) -> None:
    resp = api.get("/api/exports/tasks.csv?family=gen_f00001&status=ready", headers={"Accept": "text/csv"})
    assert resp.status_code == 200
    assert resp["Content-Type"].startswith("text/csv")
    assert resp["Content-Disposition"] == 'attachment; filename="tasks.csv"'
    tasks = pd.read_csv(io.StringIO(content(resp)), **read_csv_kwargs(TASKS_COLUMNS))
    assert list(tasks.columns) == list(TASKS_COLUMNS)
    assert len(tasks) == 10 and set(tasks["task_family"]) == {"gen_f00001"}
    assert str(tasks["gmean_minutes"].dtype) == "float64" and str(tasks["attempts"].dtype) == "Int64"
    api_stats = pd.DataFrame(get_json(api, "/api/statistics/?family=gen_f00001")["results"])
    assert (
        tasks["gmean_minutes"].fillna(-1).tolist()
        == api_stats["gmean_minutes"].astype(float).fillna(-1).tolist()
    )

    baselines = pd.read_csv(
        io.StringIO(content(api.get("/api/exports/baselines.csv?include_invalid=true"))),
        **read_csv_kwargs(BASELINES_COLUMNS),
    )
    assert len(baselines) == N_TASKS * ATTEMPTS
    flags = pd.read_csv(
        io.StringIO(content(api.get("/api/exports/flags.csv"))), **read_csv_kwargs(FLAGS_COLUMNS)
    )
    assert len(flags) == N_FLAGS
    runs = api.get("/api/exports/runs.jsonl?family=gen_f00000")
    assert runs["Content-Type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in content(runs).splitlines()]
    assert lines and {r["task_family"] for r in lines} == {"gen_f00000"}


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/exports/tasks.csv?since=yesterday", "since"),
        ("/api/exports/baselines.csv?since=2026-02-01&until=2026-01-01", "non_field_errors"),
        ("/api/exports/flags.csv?status=bogus", "status"),
        ("/api/exports/runs.jsonl?famly=gen_f00000", "famly"),
        ("/api/statistics/?until=31/31/2026", "until"),
        ("/api/statistics/?page=2", "page"),
        ("/api/tasks/?status=bogus", "status"),
        ("/api/tasks/?famly=gen_f00000", "famly"),
        ("/api/sessions/?kind=exam", "kind"),
        ("/api/sessions/?review_status=maybe", "review_status"),
        ("/api/flags/?severity=huge", "severity"),
        ("/api/flags/1/?verbose=1", "verbose"),
    ],
)
def test_bad_filters_are_400_naming_the_parameter(suite, api, url, field) -> None:
    resp = api.get(url)
    assert resp.status_code == 400, url
    errors = json.loads(resp.content)
    assert list(errors) == [field]
    assert errors[field] and all(isinstance(m, str) and m for m in errors[field])


def test_bad_filter_messages_are_clear(suite, api) -> None:
    assert get_json(api, "/api/exports/tasks.csv?famly=x", 400) == {
        "famly": ["unknown parameter: this endpoint takes family, include_invalid, since, status, until"]
    }
    assert get_json(api, "/api/exports/tasks.csv?since=2026-02-01&until=2026-01-01", 400) == {
        "non_field_errors": ["the date range ends before it starts"]
    }
    assert get_json(api, "/api/tasks/?status=bogus", 400) == {"status": ['"bogus" is not a valid choice.']}
    assert get_json(api, "/api/exports/secrets.txt", 404) == {
        "detail": "unknown export 'secrets.txt': one of tasks.csv, baselines.csv, contractors.csv, flags.csv, runs.jsonl, inspect.zip"
    }


# --- Cost: no N+1 ----------------------------------------------------------------------------------------

# (url, rows it must return, query pin): 1 for the token, then the count and the page (statistics: the
# two reads of suite_statistics). A query per row would be 50-100 more.
QUERY_PINS = [
    ("/api/tasks/", N_TASKS, 3),
    ("/api/sessions/", 100, 3),
    ("/api/flags/", N_FLAGS, 3),
    ("/api/statistics/", N_TASKS, 3),
    ("/api/tasks/gen_f00000/t00000/", None, 2),
    ("/api/sessions/?family=gen_f00001&kind=baseline&limit=1000", None, 3),
]


@pytest.mark.parametrize(("url", "n_rows", "pin"), QUERY_PINS)
def test_query_count_is_pinned(suite, api, django_assert_max_num_queries, url, n_rows, pin) -> None:
    with django_assert_max_num_queries(pin):
        data = get_json(api, url)
    if n_rows is not None:
        assert len(data["results"]) == n_rows


def test_export_query_count_is_pinned(suite, api, django_assert_max_num_queries) -> None:
    with django_assert_max_num_queries(3):  # the token, then the two reads of suite_statistics
        body = content(api.get("/api/exports/tasks.csv"))
    assert body.count("\n") == N_TASKS + 1


# --- Schema and docs ---------------------------------------------------------------------------------------


def test_schema_is_valid_openapi_3(suite, api) -> None:
    from drf_spectacular.validation import validate_schema

    schema = get_json(api, "/api/schema/?format=json")
    assert schema["openapi"].startswith("3.")
    validate_schema(schema)
    assert set(schema["paths"]) == {
        "/api/tasks/", "/api/tasks/{family}/{name}/", "/api/sessions/", "/api/sessions/{id}/", "/api/flags/",
        "/api/flags/{id}/", "/api/statistics/", "/api/exports/{name}",
    }  # fmt: skip
    assert "tokenAuth" in schema["components"]["securitySchemes"]
    stats = schema["components"]["schemas"]["TaskStatistics"]["properties"]
    assert list(stats) == list(TASKS_COLUMNS)
    assert all(p.get("nullable") for p in stats.values())
    yaml_resp = api.get("/api/schema/")
    assert yaml_resp.status_code == 200 and yaml_resp.content.startswith(b"openapi: 3.")


def test_docs_page_serves_its_assets_locally(suite, staff, settings) -> None:
    client = Client(HTTP_HOST=HOST)
    client.force_login(staff)
    resp = client.get("/api/docs/")
    assert resp.status_code == 200
    html = resp.content.decode()
    assert "swagger-ui" in html
    assert not re.search(r"cdn|unpkg|jsdelivr|https?://", html), "the docs page must not load anything remote"
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and all(a.startswith("/static/drf_spectacular_sidecar/") for a in assets), assets
    assert '"/api/schema/"' in html
    settings.WHITENOISE_USE_FINDERS = True  # serve from the apps' static dirs (no collectstatic in tests)
    static = Client(HTTP_HOST=HOST)
    for asset in assets:
        got = static.get(asset)
        assert got.status_code == 200, asset
        assert len(body(got)) > 500, asset
