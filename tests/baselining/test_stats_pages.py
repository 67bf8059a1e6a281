"""The staff statistics dashboard and export downloads: who may see them, what they show, their cost."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from django.contrib.auth import get_user_model

from baselining.exports import BASELINES_COLUMNS, read_csv_kwargs
from baselining.synthetic import generate_suite
from tasks.models import Task

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):  # type: ignore[no-untyped-def]
    client.force_login(get_user_model().objects.create_user("boss", password="x-pass-123", is_staff=True))
    return client


def test_dashboard_shows_the_suite_in_plots_and_tables(staff_client, django_assert_max_num_queries) -> None:
    generate_suite(n_tasks=50, attempts_per_task=6, seed=5, tasks_per_family=10)
    # session, user, flag count, tasks, attempts, contractors' stated experience: not per task or contractor
    with django_assert_max_num_queries(9):
        resp = staff_client.get("/stats/")
    html = resp.content.decode()
    assert resp.status_code == 200
    assert html.count("<svg") == 4  # coverage, lengths, every baseline per task, speed by experience
    assert "50 tasks" in html and "gen_f00004" in html
    assert html.count('class="badge src-') >= 4
    one = staff_client.get("/stats/?family=gen_f00001").content.decode()
    assert "10 tasks" in one and "gen_f00002/" not in one
    bad = staff_client.get("/stats/?since=2026-13-45").content.decode()
    assert "Enter a valid date" in bad


def test_dashboard_with_nothing_yet(staff_client) -> None:
    html = staff_client.get("/stats/").content.decode()
    assert "0 tasks" in html and "No finished baselines yet." in html


def test_only_staff_see_statistics_and_exports(client, django_user_model) -> None:
    generate_suite(n_tasks=3, attempts_per_task=2, seed=1)
    client.force_login(django_user_model.objects.create_user("carol", password="x-pass-123"))
    for url in ("/stats/", "/stats/exports/", "/stats/exports/baselines.csv", "/tasks/flags.csv"):
        assert client.get(url).status_code in (302, 403), url


def test_export_downloads_stream_and_refuse_bad_filters(staff_client) -> None:
    generate_suite(n_tasks=10, attempts_per_task=4, seed=2)
    resp = staff_client.get("/stats/exports/baselines.csv?include_invalid=on")
    assert resp.streaming and resp["Content-Disposition"] == 'attachment; filename="baselines.csv"'
    df = pd.read_csv(
        io.StringIO(b"".join(resp.streaming_content).decode()), **read_csv_kwargs(BASELINES_COLUMNS)
    )
    assert len(df) == 40
    assert df["recording_url"].isna().all()  # generated attempts have no terminal session
    resp = staff_client.get("/stats/exports/baselines.csv?since=2026-05-01&until=2026-04-01")
    assert resp.status_code == 400 and b"the date range ends before it starts" in resp.content
    assert staff_client.get("/stats/exports/secrets.csv").status_code == 400
    page = staff_client.get("/stats/exports/?family=gen_f00000").content.decode()
    assert "/stats/exports/runs.jsonl?family=gen_f00000" in page


def test_task_names_are_text_in_the_plots_never_mathtext_or_markup(staff_client) -> None:
    """A family's get_tasks() may name a task anything: `$\\x{...}$` made matplotlib's mathtext parser raise
    (the dashboard answered 500), and markup must reach the inline SVG escaped."""
    generate_suite(n_tasks=4, attempts_per_task=3, seed=4, tasks_per_family=4)
    # (no "/": a task name with one is another matter, the importer's)
    names = [r"$\x{...}$", r"$\frac$", "<svg onload=alert(1)>", '"><img src=x onerror=alert(1)>']
    for task, name in zip(Task.objects.order_by("pk"), names, strict=True):
        Task.objects.filter(pk=task.pk).update(name=name)  # as an import would store it (no sandbox here)
    resp = staff_client.get("/stats/")
    html = resp.content.decode()
    assert resp.status_code == 200 and html.count("<svg") == 4  # the three, and speed by experience
    assert r"gen_f00000/$\x{...}$" in html and r"gen_f00000/$\frac$" in html  # in the plot, as written
    assert "<svg onload" not in html and "<img src=x" not in html
    assert "&lt;svg onload=alert(1)&gt;" in html


def test_tasks_whose_estimates_disagree_are_listed_as_needing_more_baselines(staff_client, settings) -> None:
    from baselining.exports import suite_statistics
    from baselining.selectors import ExportFilters
    from baselining.statistics import unsettled_tasks

    generate_suite(n_tasks=40, attempts_per_task=4, seed=9, contractor_sigma=0.4)
    expected = unsettled_tasks(suite_statistics(ExportFilters()), "adjusted", 1.5)
    assert 0 < len(expected) < 40  # some tasks' attempts settle them, some do not
    section = staff_client.get("/stats/").content.decode().split('id="unsettled"')[1].split("</section>")[0]
    listed = [row.split("</a>")[0].rsplit(">", 1)[1] for row in section.split("<tr><td><a ")[1:]]
    assert listed == [f"{t.family}/{t.name}" for t in expected.itertuples()]  # farthest apart first
    assert "contractor-adjusted median" in section and "geometric mean of successes" in section
    settings.ESTIMATES_DISAGREE_FACTOR = 1000.0
    html = staff_client.get("/stats/").content.decode()
    assert "estimates agree within 1000.0x" in html.split('id="unsettled"')[1]
