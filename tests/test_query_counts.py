"""List pages, the dashboard and the exports cost the same number of queries for 3 rows as for 30.

An N+1 (a query per row) fails here: the count is taken at two sizes and must not grow.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from baselining.synthetic import generate_suite
from tasks.models import Flag, TaskVersion
from terminal.models import SessionPurpose
from terminal.services import terminal_session_create

pytestmark = pytest.mark.django_db
PAGES = [
    "/tasks/",
    "/tasks/flags/",
    "/work/review/",
    "/terminal/sessions/",
    "/work/vetting/",
    "/work/assign/",
    "/stats/",
    "/stats/exports/tasks.csv",
    "/stats/exports/baselines.csv",
    "/stats/exports/flags.csv",
    "/stats/exports/runs.jsonl",
]


def _grow(n: int, seed: int) -> None:
    suite_user = get_user_model().objects.create_user(f"flagger{seed}")
    generate_suite(n_tasks=n, attempts_per_task=2, seed=seed, prefix=f"q{seed}", n_contractors=n)
    versions = list(TaskVersion.objects.filter(task__family__name__startswith=f"q{seed}_"))
    for tv in versions:
        terminal_session_create(user=suite_user, task_version=tv, purpose=SessionPurpose.BASELINE)
    flags = [
        Flag(
            task=tv.task,
            task_version=tv,
            raised_by=suite_user,
            category="other",
            severity="minor",
            description="x",
        )
        for tv in versions
    ]
    Flag.objects.bulk_create(flags)


def _count(client, url: str) -> int:  # type: ignore[no-untyped-def]
    with CaptureQueriesContext(connection) as ctx:
        resp = client.get(url)
        assert resp.status_code == 200, (url, resp.status_code)
        if resp.streaming:
            b"".join(resp.streaming_content)
    return len(ctx.captured_queries)


def test_query_counts_do_not_grow_with_rows(client) -> None:
    client.force_login(get_user_model().objects.create_user("boss", password="x-pass-123", is_staff=True))
    _grow(3, 1)
    small = {url: _count(client, url) for url in PAGES}
    _grow(27, 2)
    large = {url: _count(client, url) for url in PAGES}
    grew = {url: (small[url], large[url]) for url in PAGES if large[url] > small[url]}
    assert not grew, f"queries per page grew with the rows (3 -> 30 of each): {grew}"
    print("queries per page:", small)
