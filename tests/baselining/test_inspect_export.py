"""Human baselines as Inspect eval logs (baselining/inspect_export.py), read back by inspect_ai itself."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from inspect_ai.event import InfoEvent, ScoreEvent
from inspect_ai.log import read_eval_log

from baselining import clock
from baselining.exports import suite_statistics
from baselining.inspect_export import CAST_MAX_BYTES, file_name, terminal_text, write_logs
from baselining.models import BaselineSession, ClockEvent, ContractorProfile, ReviewStatus, SessionState
from baselining.selectors import ExportFilters
from baselining.services.lifecycle import clock_append, clock_events
from baselining.synthetic import generate_suite
from terminal.services import terminal_session_create

pytestmark = pytest.mark.django_db
BASE = "https://baselines.example"
ATTEMPTS = ("success", "failure", "gave_up", "time_limit")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
# what the contractor's terminal showed: colours, a title, a line edited with backspaces, a progress line
# overwritten by carriage returns, and a marker the platform wrote
CAST_EVENTS = [
    [0.5, "o", "\x1b]0;sandbox\x07\x1b[32mcontractor@box\x1b[0m:~$ "],
    [1.0, "i", "cat notes.tyy\x7f\x7fxt\r"],
    [1.1, "o", "cat notes.tyy\b \b"],
    [1.15, "o", "\b\x1b[K"],
    [1.2, "o", "xt\r\nhello from the sandbox\r\n"],
    [2.0, "o", "progress 10%\rprogress 100%\r\n"],
    [3.0, "m", "submit"],
    [3.1, "o", "$ echo done\r\ndone\r\n"],
]


def _cast() -> str:
    lines = [json.dumps({"version": 2, "width": 80, "height": 24, "timestamp": 1767000000})]
    return "\n".join([*lines, *(json.dumps(e) for e in CAST_EVENTS)]) + "\n"


def _valid_baselines(include_invalid: bool = False):  # type: ignore[no-untyped-def]
    qs = BaselineSession.objects.filter(
        assignment__kind="baseline", state=SessionState.ENDED, outcome__in=ATTEMPTS
    )
    if not include_invalid:
        qs = qs.exclude(review_status=ReviewStatus.INVALID)
    return qs.select_related("assignment__task__family", "assignment__task_version", "assignment__contractor")


@pytest.fixture
def baselines(db, settings, tmp_path):  # type: ignore[no-untyped-def]
    """A small generated suite (invalid attempts and QA runs among them), one of whose attempts is clocked
    for real (a pause in it), with a terminal session, its recording and a submission."""
    settings.RECORDINGS_DIR = tmp_path / "recordings"
    settings.RECORDINGS_DIR.mkdir()
    generate_suite(
        n_tasks=4, attempts_per_task=6, seed=7, tasks_per_family=2, n_contractors=12, invalid_rate=0.15
    )
    sessions = BaselineSession.objects.filter(assignment__kind="baseline")
    assert sessions.filter(review_status=ReviewStatus.INVALID).exists()  # the seed gives some of each
    assert BaselineSession.objects.filter(assignment__kind="qa").exists()
    s = sessions.exclude(review_status=ReviewStatus.INVALID).filter(outcome="success").order_by("pk").first()
    # the clock: started, paused 5 minutes, resumed, submitted 40 minutes after the start
    ClockEvent.objects.filter(session=s).delete()
    for kind, minutes in (("started", 0), ("paused", 10), ("resumed", 15), ("submitted", 40)):
        at = T0 + timedelta(minutes=minutes, seconds=0.25)
        clock_append(
            session=s, event=clock.Event(clock.Kind(kind), at, since=at if kind == "paused" else None)
        )
    end = T0 + timedelta(minutes=40, seconds=0.25)
    s.working_seconds = clock.working_seconds(clock_events(s), end)
    s.ended_at = end
    s.score = 0.75
    s.submission = "the key is 4F-19"
    a = s.assignment
    s.terminal = terminal_session_create(user=a.contractor, task_version=a.task_version, purpose="baseline")
    s.save()
    s.terminal.recording_path.write_text(_cast())
    # every other valid attempt answered something
    for other in sessions.exclude(pk=s.pk):
        other.submission = f"answer of attempt {other.pk}"
        other.save(update_fields=["submission"])
    return s


def _read(source: Path | io.BytesIO, resolve: bool = True) -> Any:
    """inspect_ai's reading of a log (Any: the checks below are the types)."""
    return read_eval_log(
        source if isinstance(source, io.BytesIO) else str(source), resolve_attachments=resolve
    )


def _logs(out: Path) -> dict[str, Any]:
    return {p.name: _read(p) for p in sorted(out.glob("*.eval"))}


def _zip(resp: Any) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(b"".join(resp.streaming_content)))


def test_the_logs_read_back_with_every_field(baselines, tmp_path) -> None:
    out = tmp_path / "inspect"
    written = write_logs(ExportFilters(), out, BASE)
    logs = _logs(out)
    valid = list(_valid_baselines())
    tasks = {s.assignment.task for s in valid}
    # one log per task with valid baselines, named family__task.eval
    assert sorted(logs) == sorted(file_name(t.family.name, t.name) for t in tasks)
    assert sorted(n for n, _ in written) == sorted(logs)
    stats = suite_statistics(ExportFilters())
    by_id = {}
    for name, log in logs.items():
        task = next(t for t in tasks if file_name(t.family.name, t.name) == name)
        mine = [s for s in valid if s.assignment.task == task]
        assert log.status == "success"
        assert log.eval.model == "human"
        assert log.eval.task == f"{task.family.name}/{task.name}"
        assert log.eval.task_version == max(s.assignment.task_version.version for s in mine)
        assert log.eval.dataset.samples == len(mine) == len(log.samples)
        assert sorted(log.eval.dataset.sample_ids) == sorted(s.pk for s in mine)
        assert log.eval.metadata["task_family"] == task.family.name
        assert log.eval.metadata["human_minutes"] == pytest.approx(stats.loc[task.pk, "human_minutes"])
        assert log.eval.metadata["human_source"] == stats.loc[task.pk, "human_source"]
        scores = [s.score if s.score is not None else 0.0 for s in mine]
        (result,) = log.results.scores
        assert result.name == "baseline" and result.scored_samples == len(mine)
        assert result.metrics["mean"].value == pytest.approx(sum(scores) / len(mine))
        successes = sum(s.outcome == "success" for s in mine)
        assert result.metrics["success_rate"].value == pytest.approx(successes / len(mine))
        assert log.stats.started_at and log.stats.completed_at
        by_id.update({sample.id: (sample, log) for sample in log.samples})
    # one sample per valid baseline attempt; invalid attempts and QA runs are not there
    assert sorted(by_id) == sorted(s.pk for s in valid)
    invalid = _valid_baselines(include_invalid=True).filter(review_status=ReviewStatus.INVALID)
    assert invalid.exists() and not set(invalid.values_list("pk", flat=True)) & set(by_id)
    assert not set(BaselineSession.objects.filter(assignment__kind="qa").values_list("pk", flat=True)) & set(
        by_id
    )
    usernames = set(get_user_model().objects.values_list("username", flat=True))
    for s in valid:
        sample, log = by_id[s.pk]
        pseudonym = ContractorProfile.objects.get(user=s.assignment.contractor).pseudonym
        first = ClockEvent.objects.filter(session=s, kind="started").order_by("seq").first()
        wall = (s.ended_at - first.at).total_seconds()
        assert sample.epoch == 1
        assert sample.input == s.assignment.task_version.instructions
        assert sample.target == ""
        assert sample.output.completion == s.submission
        assert sample.output.model == "human"
        assert sample.messages[-1].text == s.submission
        score = sample.scores["baseline"]
        assert score.value == (s.score if s.score is not None else 0.0)
        assert score.answer == s.submission
        assert score.explanation.startswith(s.outcome)
        assert score.metadata["outcome"] == s.outcome and score.metadata["score"] == s.score
        assert score.metadata["success"] == (s.outcome == "success")
        assert sample.working_time == pytest.approx(s.working_seconds, abs=0.1)
        assert sample.total_time == pytest.approx(wall, abs=0.1)
        assert datetime.fromisoformat(sample.started_at) == first.at
        assert datetime.fromisoformat(sample.completed_at) == s.ended_at
        meta = sample.metadata
        assert meta["contractor"] == pseudonym and meta["contractor"] not in usernames
        assert meta["outcome"] == s.outcome and meta["review_status"] == s.review_status
        assert meta["session_id"] == s.pk
        assert meta["working_seconds"] == pytest.approx(s.working_seconds, abs=0.1)
        assert meta["wall_seconds"] == pytest.approx(wall, abs=0.1)
        assert meta["task_id"] == log.eval.task
        assert isinstance(sample.events[-1], ScoreEvent) and sample.events[-1].score == score
        assert not any(u in sample.model_dump_json() for u in usernames)  # pseudonyms only
    # the clocked attempt: our clock's times, its replay link and its transcript
    sample, _log = by_id[baselines.pk]
    assert sample.working_time == pytest.approx(35 * 60, abs=0.1)  # 40 minutes less the 5 paused
    assert sample.total_time == pytest.approx(40 * 60, abs=0.1)
    assert sample.metadata["paused_seconds"] == pytest.approx(5 * 60, abs=0.1)
    assert sample.scores["baseline"].value == 0.75
    assert sample.output.completion == "the key is 4F-19"
    replay = f"{BASE}/terminal/sessions/{baselines.terminal_id}/replay/"
    assert sample.metadata["replay_url"] == replay
    assert (
        sample.metadata["recording_url"] == f"{BASE}/terminal/sessions/{baselines.terminal_id}/recording.cast"
    )
    assert sample.metadata["transcript"] == "complete"
    info: list[Any] = [e for e in sample.events if isinstance(e, InfoEvent)]
    assert [e.source for e in info] == ["baseline", "terminal", "asciicast"]
    assert replay in info[0].data and sample.metadata["contractor"] in info[0].data
    text = info[1].data
    assert "hello from the sandbox" in text and "progress 100%" in text and "progress 10%" not in text
    assert "contractor@box:~$ cat notes.txt\n" in text  # colours and title gone, the edit applied
    assert "[3.0 s: submit]" in text and "\x1b" not in text and "\r" not in text
    assert info[2].data["recording"] == _cast() and info[2].data["complete"] is True
    # without resolving, the transcript is held in the sample's attachments (as Inspect holds large content)
    raw = _read(next(out.glob(f"*{baselines.assignment.task.name}.eval")), resolve=False)
    kept = next(s for s in raw.samples if s.id == baselines.pk)
    assert kept.events[1].data.startswith("attachment://") and _cast() in kept.attachments.values()


def test_invalid_attempts_when_asked_and_filters(baselines, tmp_path) -> None:
    write_logs(ExportFilters(include_invalid=True), tmp_path / "all", BASE)
    ids = {s.id for log in _logs(tmp_path / "all").values() for s in log.samples}
    assert ids == set(_valid_baselines(include_invalid=True).values_list("pk", flat=True))
    family = baselines.assignment.task.family.name
    write_logs(ExportFilters(family=family), tmp_path / "one", BASE)
    logs = _logs(tmp_path / "one")
    assert logs and all(log.eval.metadata["task_family"] == family for log in logs.values())
    assert write_logs(ExportFilters(since=date(2031, 1, 1)), tmp_path / "none") == []


def test_a_long_recording_is_cut_with_a_note(baselines, tmp_path) -> None:
    line = json.dumps([1.0, "o", "x" * 999 + "\r\n"])
    baselines.terminal.recording_path.write_text(
        _cast() + "\n".join([line] * (CAST_MAX_BYTES // len(line) + 10)) + "\n"
    )
    write_logs(ExportFilters(family=baselines.assignment.task.family.name), tmp_path, BASE)
    sample = next(s for log in _logs(tmp_path).values() for s in log.samples if s.id == baselines.pk)
    assert sample.metadata["transcript"] == "cut"
    cast = sample.events[2].data["recording"]
    assert (
        len(cast.encode()) <= CAST_MAX_BYTES and cast.endswith("\n") and not sample.events[2].data["complete"]
    )
    assert "the whole session is in the replay" in sample.events[1].data


def test_terminal_text_applies_what_the_terminal_did() -> None:
    assert terminal_text(_cast()).startswith("contractor@box:~$ cat notes.txt\nhello from the sandbox\n")
    assert terminal_text('{"version": 2}\nnot json\n[1, "o", "a\\u001b[1mb"]\n') == "ab"


def test_the_command_writes_one_log_per_task(baselines, tmp_path) -> None:
    out, logs = io.StringIO(), tmp_path / "logs"
    call_command(
        "export_baselines", "--out", str(logs), "--format", "inspect", "--base-url", BASE, stdout=out
    )
    tasks = {s.assignment.task for s in _valid_baselines()}
    assert sorted(p.name for p in logs.iterdir()) == sorted(file_name(t.family.name, t.name) for t in tasks)
    assert f"{len(tasks)} Inspect logs" in out.getvalue()
    for p in logs.iterdir():
        assert _read(p).eval.model == "human"
    call_command(
        "export_baselines",
        "--out",
        str(tmp_path / "j"),
        "--format",
        "inspect",
        "--log-format",
        "json",
        stdout=out,
    )
    (first, *_) = sorted((tmp_path / "j").iterdir())
    assert first.suffix == ".json" and _read(first).samples


def test_page_and_api_give_staff_the_zip_and_refuse_contractors(baselines) -> None:
    User = get_user_model()
    staff = User.objects.create_user("staffer", password="x-pass-123", is_staff=True)
    contractor = baselines.assignment.contractor
    tasks = {s.assignment.task for s in _valid_baselines()}
    for url in ("/stats/exports/inspect.zip", "/api/exports/inspect.zip"):
        client = Client(HTTP_HOST="testserver")
        client.force_login(staff)
        resp = client.get(url)
        assert resp.status_code == 200, url
        assert resp["Content-Type"] == "application/zip"
        assert 'filename="inspect.zip"' in resp["Content-Disposition"]
        with _zip(resp) as zf:
            assert sorted(zf.namelist()) == sorted(file_name(t.family.name, t.name) for t in tasks)
            name = file_name(baselines.assignment.task.family.name, baselines.assignment.task.name)
            log = _read(io.BytesIO(zf.read(name)))
        sample = next(s for s in log.samples if s.id == baselines.pk)
        assert (
            sample.metadata["replay_url"]
            == f"http://testserver/terminal/sessions/{baselines.terminal_id}/replay/"
        )
        # the filters are the other exports'
        family = baselines.assignment.task.family.name
        with _zip(client.get(f"{url}?family={family}")) as zf:
            assert zf.namelist() and all(n.startswith(f"{family}__") for n in zf.namelist())
        assert client.get(f"{url}?since=yesterday").status_code == 400
        refused = Client(HTTP_HOST="testserver")
        refused.force_login(contractor)
        resp = refused.get(url)
        assert resp.status_code == 403 and not resp.content.startswith(b"PK\x03\x04")  # no zip
    page = Client(HTTP_HOST="testserver")
    page.force_login(staff)
    assert b'href="/stats/exports/inspect.zip"' in page.get("/stats/exports/").content
