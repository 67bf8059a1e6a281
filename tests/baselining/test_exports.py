"""Per-task statistics from the database, and the exports that carry them (docs/exports.md)."""

from __future__ import annotations

import io
import json
import math
from datetime import date

import numpy as np
import pandas as pd
import pytest
from django.core.management import call_command
from scipy import stats

from baselining.exports import (
    BASELINES_COLUMNS,
    CONTRACTORS_COLUMNS,
    FLAGS_COLUMNS,
    METR_COLUMNS,
    RUNS_EXTRA_COLUMNS,
    TASKS_COLUMNS,
    export_lines,
    read_csv_kwargs,
    suite_statistics,
)
from baselining.models import BaselineSession, ReviewStatus
from baselining.selectors import ExportFilters
from baselining.synthetic import generate_suite

pytestmark = pytest.mark.django_db
ALL = ExportFilters()


def _read(name: str, filters: ExportFilters = ALL) -> str:
    return "".join(export_lines(name, filters))


@pytest.fixture
def suite(db):  # type: ignore[no-untyped-def]
    return generate_suite(n_tasks=60, attempts_per_task=8, seed=3, tasks_per_family=7)


def test_statistics_match_independent_computations(suite) -> None:
    df = suite_statistics(ALL)
    assert len(df) == 60
    rows = BaselineSession.objects.values_list(
        "assignment__task_id", "assignment__kind", "outcome", "working_seconds", "review_status"
    )
    checked = 0
    for task_id, row in df.iterrows():
        mine = [r for r in rows if r[0] == task_id and r[1] == "baseline"]
        valid = [r for r in mine if r[4] != ReviewStatus.INVALID]
        wins = [r[3] / 60 for r in valid if r[2] == "success"]
        assert row["attempts"] == len(valid) and row["successes"] == len(wins)
        assert row["invalid_excluded"] == len(mine) - len(valid)
        if len(wins) >= 2:
            assert row["gmean_minutes"] == pytest.approx(stats.gmean(wins), rel=1e-9)
            assert row["gsd"] == pytest.approx(stats.gstd(wins), rel=1e-9)
            assert row["spread"] == pytest.approx(max(wins) / min(wins), rel=1e-9)
            # the default estimate: the contractor-adjusted median (docs/exports.md, "Which estimate to use")
            assert row["human_source"] == "baseline"
            assert row["human_minutes"] == row["adjusted_median_minutes"]
            checked += 1
        elif not wins and row["qa_successes"] == 0:
            assert row["human_source"] == "estimate"
    assert checked > 30


def test_the_censoring_aware_estimate_recovers_known_medians(db) -> None:
    """Generated suites with known medians: the censored fit's CI covers the truth; success-only is low."""
    covered, fitted, bias = 0, 0, []
    for seed in range(10):
        suite = generate_suite(n_tasks=30, attempts_per_task=10, seed=100 + seed, prefix=f"s{seed}")
        df = suite_statistics(ExportFilters(family=""))
        df = df.loc[list(suite.true_median)]
        truth = pd.Series(suite.true_median)
        ok = df["censored_ci_low"].notna()
        fitted += int(ok.sum())
        covered += int(((df["censored_ci_low"] <= truth) & (truth <= df["censored_ci_high"]))[ok].sum())
        hard = df["censored_n"] >= 3
        bias += list(np.log(df.loc[hard, "gmean_minutes"] / truth[hard]).dropna())
    print(f"censored CI covered the true median for {covered} of {fitted} tasks; "
          f"success-only log-bias on hard tasks {np.mean(bias):+.3f} over {len(bias)}")  # fmt: skip
    assert covered >= 0.9 * fitted
    assert np.mean(bias) < -0.1


def test_every_csv_loads_with_the_documented_dtypes(suite, django_user_model) -> None:
    from baselining.services.flags import flag_raise
    from tasks.models import TaskVersion

    someone = django_user_model.objects.create_user("flagger", is_staff=True)  # staff flag any version
    for tv in TaskVersion.objects.all()[:3]:
        flag_raise(
            task_version=tv, by=someone, category="unclear", severity="minor", description='a "quoted",\nline'
        )
    for name, columns in (("tasks.csv", TASKS_COLUMNS), ("baselines.csv", BASELINES_COLUMNS),
                          ("flags.csv", FLAGS_COLUMNS), ("contractors.csv", CONTRACTORS_COLUMNS)):  # fmt: skip
        df = pd.read_csv(io.StringIO(_read(name)), **read_csv_kwargs(columns))
        assert list(df.columns) == list(columns), name
        for column, dtype in columns.items():
            want = "datetime64" if dtype == "datetime" else dtype
            assert str(df[column].dtype).startswith(want), (name, column, df[column].dtype)


def test_tasks_csv_round_trips_the_statistics(suite) -> None:
    df = pd.read_csv(io.StringIO(_read("tasks.csv")), **read_csv_kwargs(TASKS_COLUMNS))
    ours = suite_statistics(ALL)
    assert len(df) == len(ours)
    by_id = df.set_index("task_id")
    for _, row in ours.iterrows():
        got = by_id.loc[f"{row['family']}/{row['name']}"]
        for column in ("attempts", "successes", "gmean_minutes", "ci_low", "censored_median_minutes",
                       "human_minutes", "estimate_minutes"):  # fmt: skip
            a, b = got[column], row[column]
            assert (pd.isna(a) and pd.isna(b)) or a == b, column  # exact: floats written as repr


def test_baselines_csv_rows_and_filters(suite) -> None:
    everything = pd.read_csv(
        io.StringIO(_read("baselines.csv", ExportFilters(include_invalid=True))),
        **read_csv_kwargs(BASELINES_COLUMNS),
    )
    assert len(everything) == suite.n_attempts
    valid = pd.read_csv(io.StringIO(_read("baselines.csv")), **read_csv_kwargs(BASELINES_COLUMNS))
    assert len(valid) == (everything["review_status"] != "invalid").sum()
    assert (everything["wall_seconds"] >= everything["working_seconds"]).all()
    assert np.allclose(
        everything["paused_seconds"], everything["wall_seconds"] - everything["working_seconds"]
    )
    assert everything["contractor"].str.startswith("c_").all()  # pseudonyms, not usernames
    assert not everything["contractor"].str.contains("gen-").any()
    family = everything["task_family"].iloc[0]
    one = pd.read_csv(io.StringIO(_read("baselines.csv", ExportFilters(family=family, include_invalid=True))))
    assert len(one) == (everything["task_family"] == family).sum() > 0
    day = everything["ended_at"].sort_values().iloc[len(everything) // 2].date()
    early = pd.read_csv(
        io.StringIO(_read("baselines.csv", ExportFilters(until=day, include_invalid=True))),
        parse_dates=["ended_at"],
    )
    assert len(early) == (everything["ended_at"].dt.date <= day).sum()
    assert (early["ended_at"].dt.date <= day).all()
    late = _read("baselines.csv", ExportFilters(since=date(2030, 1, 1)))
    assert late.count("\n") == 1  # the header only


def test_metr_rows_join_metr_run_files(suite) -> None:
    lines = _read("runs.jsonl").splitlines()
    rows = [json.loads(line) for line in lines]
    df = pd.read_json(io.StringIO("\n".join(lines)), lines=True)
    assert (
        list(df.columns) == METR_COLUMNS + RUNS_EXTRA_COLUMNS
    )  # METR's, then which estimate and its interval
    baseline = df["human_source"] == "baseline"
    assert (df.loc[baseline, "human_estimate"] == "adjusted").all() and df.loc[
        ~baseline, "human_estimate"
    ].isna().all()
    inside = (df["human_minutes_low"] <= df["human_minutes"]) & (
        df["human_minutes"] <= df["human_minutes_high"]
    )
    assert inside[baseline & df["human_minutes_low"].notna()].all()
    assert set(df["alias"]) == {"human"} == set(df["model"])
    assert df["equal_task_weight"].sum() == pytest.approx(1.0)
    assert df["invsqrt_task_weight"].sum() == pytest.approx(1.0)
    per_task = df.groupby("task_id")["equal_task_weight"].sum()
    assert np.allclose(per_task, 1 / len(per_task))
    stats_df = suite_statistics(ALL)
    minutes = {f"{r['family']}/{r['name']}": r["human_minutes"] for _, r in stats_df.iterrows()}
    for r in rows:
        assert r["started_at"] == 0 and r["completed_at"] > 0
        assert r["score_binarized"] in (0, 1)
        if r["human_minutes"] is not None:
            assert math.isclose(r["human_minutes"], minutes[r["task_id"]])
    assert {r["run_id"] for r in rows} == set(
        BaselineSession.objects.filter(assignment__kind="baseline")
        .exclude(review_status=ReviewStatus.INVALID)
        .values_list("id", flat=True)
    )


def test_export_command_writes_every_file(suite, tmp_path) -> None:
    out = io.StringIO()
    call_command("export_baselines", "--out", str(tmp_path), stdout=out)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "baselines.csv",
        "contractors.csv",
        "flags.csv",
        "tasks.csv",
    ]
    assert "tasks.csv: 60 rows" in out.getvalue()
    call_command("export_baselines", "--out", str(tmp_path / "m"), "--format", "metr", stdout=out)
    assert [p.name for p in (tmp_path / "m").iterdir()] == ["runs.jsonl"]
    with pytest.raises(Exception, match="--since"):
        call_command("export_baselines", "--out", str(tmp_path), "--since", "yesterday")


def test_exports_query_counts_do_not_grow_with_rows(suite, django_assert_max_num_queries) -> None:
    for name in ("tasks.csv", "baselines.csv", "flags.csv", "runs.jsonl"):
        with django_assert_max_num_queries(4):
            _read(name)


def test_docs_list_every_column_with_its_dtype() -> None:
    """docs/exports.md is the schema analysts read: it must say what the code writes."""
    import re
    from pathlib import Path

    from django.conf import settings

    doc = (Path(settings.BASE_DIR) / "docs" / "exports.md").read_text()
    for columns in (TASKS_COLUMNS, BASELINES_COLUMNS, FLAGS_COLUMNS, CONTRACTORS_COLUMNS):
        for column, dtype in columns.items():
            assert re.search(rf"^\| {column} \| {dtype} \|", doc, re.M), (column, dtype)
    for column in METR_COLUMNS + RUNS_EXTRA_COLUMNS:
        assert f"`{column}`" in doc, column


def test_contractors_csv_has_pseudonyms_speed_factors_and_stated_experience(suite) -> None:
    from baselining.models import ContractorProfile

    profiles = list(ContractorProfile.objects.select_related("user").order_by("pk")[:3])
    for years, p in zip((2, 7, "unknown"), profiles, strict=True):
        p.expertise = [{"area": "security", "years": years}, {"area": "data science", "years": 1}]
        p.save(update_fields=["expertise"])
    text = _read("contractors.csv")
    df = pd.read_csv(io.StringIO(text), **read_csv_kwargs(CONTRACTORS_COLUMNS))
    attempts = suite_statistics(ALL)["attempts"].sum()
    assert df["attempts"].sum() == attempts  # every valid baseline attempt, once
    assert df["contractor"].str.startswith("c_").all()  # pseudonyms only
    for p in profiles:
        assert p.user.username not in text
    by = df.set_index("contractor")
    assert by.loc[profiles[0].pseudonym, "years_experience"] == 2
    assert by.loc[profiles[1].pseudonym, "years_experience"] == 7
    assert by.loc[profiles[2].pseudonym, "years_experience"] == 1  # "unknown" is not a number of years
    assert by.loc[profiles[0].pseudonym, "expertise_areas"] == "data science; security"
    has = df["speed_factor"].notna()
    assert has.mean() > 0.9
    assert ((df["speed_ci_low"] <= df["speed_factor"]) & (df["speed_factor"] <= df["speed_ci_high"]))[
        has
    ].all()
    assert np.exp(np.log(df.loc[has, "speed_factor"]).mean()) == pytest.approx(1, abs=0.25)
    # expertise match: the years stated in each of their tasks' areas, over their valid baseline attempts
    assert by.loc[profiles[0].pseudonym, "years_in_task_areas"] == 1  # only data science is theirs
    other = ContractorProfile.objects.exclude(pk__in=[p.pk for p in profiles]).order_by("pk").first()
    assert other is not None
    stated = {e["area"]: e["years"] for e in other.expertise}
    areas = BaselineSession.objects.filter(
        assignment__contractor=other.user,
        assignment__kind="baseline",
        state="ended",
        outcome__in=["success", "failure", "gave_up", "time_limit"],
    ).exclude(review_status=ReviewStatus.INVALID)
    matched = [
        stated[area] for (area,) in areas.values_list("assignment__task__latest_version__expertise__0")
    ]
    assert len(set(matched)) == 2  # both areas among their tasks: the mean is between the two
    assert by.loc[other.pseudonym, "years_in_task_areas"] == pytest.approx(np.mean(matched))
