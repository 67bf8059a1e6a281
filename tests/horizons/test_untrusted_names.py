"""Agent names come from run files anyone may have written: as text in the plots (never mathtext, never
markup) and as text in the CSV files (never a formula)."""

from __future__ import annotations

import io

import pandas as pd
from django.contrib.auth import get_user_model
from django.core.management import call_command

from tests.horizons.test_runs import _runs, suite  # noqa: F401  (suite: a fixture, found by name)

MATHTEXT = r"$\frac$"  # matplotlib: "Expected \frac{num}{den}" (a 500 before)
MARKUP = "<script>alert(1)</script>"
FORMULA = '=HYPERLINK("http://evil.example","x")'
AGENTS = {MATHTEXT: 4.0, MARKUP: 30.0, FORMULA: 240.0}


def test_the_page_draws_any_agent_name_as_text(suite, client) -> None:  # noqa: F811
    client.force_login(get_user_model().objects.create_user("boss", password="x-pass-123", is_staff=True))
    upload = io.BytesIO(_runs(suite, AGENTS, per_task=3))
    upload.name = "runs.jsonl"
    resp = client.post("/horizons/", {"runs": upload, "human_times": "platform"}, follow=True)
    html = resp.content.decode()
    assert resp.status_code == 200
    assert html.count("<svg") >= 3
    assert MARKUP not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert MATHTEXT in html  # drawn as it is written


def test_compute_horizons_writes_names_as_text_and_numbers_as_numbers(suite, tmp_path) -> None:  # noqa: F811
    path = tmp_path / "runs.jsonl"
    path.write_bytes(_runs(suite, AGENTS, per_task=3))
    call_command("compute_horizons", "--out", str(tmp_path), "--runs", str(path), "--bootstrap", "50",
                 stdout=io.StringIO())  # fmt: skip
    table = pd.read_csv(tmp_path / "horizons.csv", keep_default_na=False, na_values=[""])
    assert set(table["agent"]) == {MATHTEXT, MARKUP, "'" + FORMULA}
    assert table["slope"].dtype == "float64" and (table["slope"] < 0).all()  # negative: still numbers
    assert (tmp_path / "agent-00.svg").read_text().count(MATHTEXT) >= 1
