"""Who gets which task: eligibility, priority, capacity, and claims racing each other."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from baselining.models import (
    Assignment,
    AssignmentKind,
    AssignmentStatus,
    ContractorProfile,
    ContractorStatus,
)
from baselining.selectors import eligible_tasks
from baselining.services import (
    ERR_CAPACITY,
    ERR_NOT_ACTIVE,
    ERR_NOTHING,
    ERR_RULES,
    AssignmentError,
    assignment_claim_next,
    contractor_accept_rules,
)
from sandbox import SandboxError, get_backend
from tasks.models import Task
from tasks.services.environment import ERR_BACKEND_LACKS, task_sandbox_check
from tasks.services.importer import tasks_import
from tests.conftest import SIMPLE_FAMILY
from tests.factories import make_ready

pytestmark = [pytest.mark.sandbox]
ALL_AREAS = [{"area": a, "years": 3} for a in ("software engineering", "data science", "site reliability")]


def _contractor(name: str, areas=ALL_AREAS):  # type: ignore[no-untyped-def]
    user = get_user_model().objects.create_user(name, password="x-pass-123")
    ContractorProfile.objects.create(user=user, status=ContractorStatus.ACTIVE, expertise=areas)
    contractor_accept_rules(user=user)
    return user


@pytest.fixture
def staff(db):  # type: ignore[no-untyped-def]
    return get_user_model().objects.create_user("boss", password="x-pass-123", is_staff=True)


def _ready(staff, *task_ids: str) -> list[Task]:  # type: ignore[no-untyped-def]
    tasks = []
    for task_id in task_ids:
        family, name = task_id.split("/")
        task = Task.objects.get(family__name=family, name=name)
        make_ready(task, staff)
        tasks.append(task)
    return tasks


@pytest.mark.django_db
def test_only_ready_matching_unattempted_tasks_not_their_own(demo_suite, staff) -> None:
    _ready(staff, "ssh_key/find_key", "csv_stats/mean_latency", "email_reply/meeting", "blackbox/identify")
    data_person = _contractor("dana", [{"area": "Data Science", "years": 5}])
    names = {c.task.name for c in eligible_tasks(contractor=data_person, kind=AssignmentKind.BASELINE)}
    # email_reply names no expertise (anyone); ssh_key and blackbox want software engineering
    assert names == {"mean_latency", "meeting"}

    author = _contractor("ann")
    Task.objects.get(name="find_key").family.authors.add(author)
    names = {c.task.name for c in eligible_tasks(contractor=author, kind=AssignmentKind.BASELINE)}
    assert "find_key" not in names and "identify" in names

    a = assignment_claim_next(contractor=author)
    names_after = {c.task.name for c in eligible_tasks(contractor=author, kind=AssignmentKind.BASELINE)}
    assert a.task.name not in names_after  # attempted: never again, any version, any kind
    assert {c.task.name for c in eligible_tasks(contractor=author, kind=AssignmentKind.QA)} == set()


@pytest.mark.django_db
def test_priority_is_fewest_baselines_for_the_target_then_oldest(demo_suite, staff) -> None:
    first, second = _ready(staff, "email_reply/meeting", "email_reply/refund")
    Task.objects.filter(pk=second.pk).update(target_baselines=10)
    a = _contractor("a1")
    b = _contractor("b1")
    got_a = assignment_claim_next(contractor=a)
    got_b = assignment_claim_next(contractor=b)
    # both start at 0 filled: the older task first; then meeting is 1/3 filled, refund 0/10
    assert (got_a.task, got_b.task) == (first, second)
    assert got_a.status == AssignmentStatus.RESERVED and got_a.reserved_until is not None
    assert got_a.task_version == first.latest_version


@pytest.mark.django_db
def test_claim_refusals(demo_suite, staff, settings) -> None:
    _ready(staff, "email_reply/meeting", "email_reply/refund", "binary_pattern/squares")
    user = get_user_model().objects.create_user("newbie", password="x-pass-123")
    with pytest.raises(AssignmentError, match=ERR_NOT_ACTIVE):
        assignment_claim_next(contractor=user)
    ContractorProfile.objects.create(user=user, status=ContractorStatus.ACTIVE)
    with pytest.raises(AssignmentError, match=ERR_RULES):
        assignment_claim_next(contractor=user)
    contractor_accept_rules(user=user)
    settings.MAX_OPEN_ASSIGNMENTS = 2
    assignment_claim_next(contractor=user)
    assignment_claim_next(contractor=user)
    with pytest.raises(AssignmentError, match=ERR_CAPACITY.format(n=2)):
        assignment_claim_next(contractor=user)
    settings.MAX_OPEN_ASSIGNMENTS = 5
    assignment_claim_next(contractor=user)
    with pytest.raises(AssignmentError, match=ERR_NOTHING):
        assignment_claim_next(contractor=user)


@pytest.mark.django_db(transaction=True)
def test_twenty_contractors_claiming_at_once(demo_suite, settings) -> None:
    """Against PostgreSQL in CI: no task past its target, no contractor with a task twice."""
    staff = get_user_model().objects.create_user("boss2", password="x-pass-123", is_staff=True)
    tasks = _ready(
        staff, "email_reply/meeting", "email_reply/refund", "binary_pattern/squares", "ssh_key/find_key"
    )
    settings.MAX_OPEN_ASSIGNMENTS = 3
    contractors = [_contractor(f"c{i:02d}") for i in range(20)]
    barrier = threading.Barrier(len(contractors))
    errors: list[BaseException] = []
    outcomes: Counter[str] = Counter()

    def claim(user) -> None:  # type: ignore[no-untyped-def]
        try:
            barrier.wait()
            for _ in range(2):
                try:
                    assignment_claim_next(contractor=user)
                    outcomes["claimed"] += 1
                except AssignmentError:
                    outcomes["refused"] += 1
        except BaseException as exc:  # reported below, with the database's own words
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(u,)) for u in contractors]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    assert not errors, errors
    baselines = Assignment.objects.filter(kind=AssignmentKind.BASELINE)
    per_task = Counter(baselines.values_list("task_id", flat=True))
    assert all(per_task[t.pk] <= t.target_baselines for t in tasks), per_task
    pairs = list(baselines.values_list("contractor_id", "task_id"))
    assert len(pairs) == len(set(pairs))
    # every slot was taken: 4 tasks x 3 targets, out of 40 claims
    assert sum(per_task.values()) == 12 == outcomes["claimed"]
    assert outcomes["refused"] == 28
    print(f"concurrency on {connection.vendor}: {dict(outcomes)}")


@pytest.mark.django_db
def test_staff_assign_in_bulk_under_the_rules(demo_suite, staff) -> None:
    from baselining.services import assignment_assign

    meeting, refund = _ready(staff, "email_reply/meeting", "email_reply/refund")
    Task.objects.filter(pk=meeting.pk).update(target_baselines=1)
    meeting.refresh_from_db()
    a, b = _contractor("ba1"), _contractor("ba2")
    made, refused = assignment_assign(by=staff, contractors=[a, b], tasks=[meeting, refund], kind="baseline")
    assert {(m.contractor, m.task) for m in made} == {(a, meeting), (a, refund), (b, refund)}
    assert all(m.assigned_by == staff for m in made)
    assert refused == [f"{b} may not get {meeting}: not eligible (task status, expertise, needs or target)"]
    made, refused = assignment_assign(by=staff, contractors=[a], tasks=[refund], kind="baseline")
    assert made == [] and refused == [f"{a} may not get {refund}: attempted it before"]
    with pytest.raises(AssignmentError):
        assignment_assign(by=a, contractors=[b], tasks=[refund], kind="baseline")


@pytest.mark.django_db
def test_one_live_session_at_a_time(demo_suite, staff) -> None:
    from baselining.services.lifecycle import ERR_ONE_LIVE, SessionError, baseline_session_open

    _ready(staff, "email_reply/meeting", "email_reply/refund")
    user = _contractor("busy")
    first, second = assignment_claim_next(contractor=user), assignment_claim_next(contractor=user)
    baseline_session_open(assignment=first, user=user)
    with pytest.raises(SessionError, match=ERR_ONE_LIVE):
        baseline_session_open(assignment=second, user=user)


@pytest.mark.django_db
def test_a_secret_removed_after_the_import_holds_the_task(make_family, staff, settings) -> None:
    """The import records `env:NAME` only for a variable missing then: a task made ready with its secret
    set stayed assignable after TASK_ENVIRONMENT lost it, and its sandbox started without it."""
    settings.TASK_ENVIRONMENT = {"API_KEY": "k-123"}
    secret = SIMPLE_FAMILY.replace(
        "    standard_version", '    required_environment_variables = ["API_KEY"]\n    standard_version'
    )
    tasks_import(path=make_family("keyed", secret))
    task = Task.objects.get(family__name="keyed", name="one")
    assert task.latest_version is not None and task.latest_version.needs == []
    make_ready(task, staff)
    contractor = _contractor("keyless")
    assert [c.task for c in eligible_tasks(contractor=contractor, kind="baseline")] == [task]

    settings.TASK_ENVIRONMENT = {}
    assert eligible_tasks(contractor=contractor, kind="baseline") == []
    with pytest.raises(AssignmentError, match=ERR_NOTHING):
        assignment_claim_next(contractor=contractor)
    lacks = ERR_BACKEND_LACKS.format(
        task=task.latest_version, backend=get_backend().name, needs="env:API_KEY"
    )
    with pytest.raises(SandboxError) as refused:
        task_sandbox_check(task.latest_version)
    assert str(refused.value) == lacks

    settings.TASK_ENVIRONMENT = {"API_KEY": "k-456"}  # set again: the task is back
    assert [c.task for c in eligible_tasks(contractor=contractor, kind="baseline")] == [task]
    task_sandbox_check(task.latest_version)


@pytest.mark.django_db
def test_a_task_needing_an_image_build_is_handed_out_where_the_backend_builds_images(
    make_family, staff, settings
) -> None:
    """A family with install() records the need `install`: it was never assigned, even on docker, whose
    images run install() at build. Now the configured backend decides."""
    source = SIMPLE_FAMILY.replace(
        "    standard_version", "    @staticmethod\n    def install():\n        pass\n\n    standard_version"
    )
    tasks_import(path=make_family("built", source))  # bubblewrap: recorded, not run
    task = Task.objects.get(family__name="built", name="one")
    assert task.latest_version is not None and task.latest_version.needs == ["install"]
    make_ready(task, staff)
    contractor = _contractor("builder")
    assert eligible_tasks(contractor=contractor, kind="baseline") == []  # bubblewrap cannot run install()

    settings.SANDBOX_BACKEND = "docker"  # no engine is asked: what a backend gives is known from its class
    assert [c.task for c in eligible_tasks(contractor=contractor, kind="baseline")] == [task]
    task_sandbox_check(task.latest_version)  # nothing lacking


@pytest.mark.django_db
def test_unsettled_tasks_first_when_prioritised(settings) -> None:
    """PRIORITISE_UNSETTLED: a task whose estimates disagree is offered before one nearer its usual turn."""
    from baselining.exports import suite_statistics
    from baselining.selectors import ExportFilters
    from baselining.statistics import unsettled_tasks
    from baselining.synthetic import generate_suite

    generate_suite(n_tasks=30, attempts_per_task=4, seed=9, contractor_sigma=0.4)
    unsettled = set(unsettled_tasks(suite_statistics(ExportFilters()), "adjusted", 1.5).index)
    assert unsettled and len(unsettled) < 30
    # their usual turn is last: nearly at their target, the others far from theirs
    Task.objects.filter(pk__in=unsettled).update(target_baselines=5)
    Task.objects.exclude(pk__in=unsettled).update(target_baselines=100)
    assert assignment_claim_next(contractor=_contractor("usual")).task_id not in unsettled
    settings.PRIORITISE_UNSETTLED = True
    assert assignment_claim_next(contractor=_contractor("eager")).task_id in unsettled


@pytest.mark.django_db
def test_a_balanced_mix_offers_tasks_done_by_the_other_kind_of_baseliner(settings) -> None:
    """BALANCE_CONTRACTOR_MIX: the fastest baseliner is offered a task done so far by slow ones, the slowest
    one a task done by fast ones; off, both get the usual (least filled, oldest) task."""
    from baselining.exports import load_frames
    from baselining.selectors import ExportFilters
    from baselining.statistics import speed_mix
    from baselining.synthetic import generate_suite

    generate_suite(n_tasks=40, attempts_per_task=3, seed=4, n_contractors=12, contractor_sigma=0.6)
    Task.objects.update(target_baselines=50)
    speeds, mix = speed_mix(load_frames(ExportFilters())[1])
    fast, slow = (
        get_user_model().objects.get(pk=speeds.idxmin()),
        get_user_model().objects.get(pk=speeds.idxmax()),
    )
    for user in (fast, slow):
        ContractorProfile.objects.filter(user=user).update(expertise=ALL_AREAS)
        contractor_accept_rules(user=user)
    usual = eligible_tasks(contractor=fast, kind=AssignmentKind.BASELINE)[0].task
    got = assignment_claim_next(contractor=fast)
    assert got.task == usual
    got.delete()
    settings.BALANCE_CONTRACTOR_MIX = True
    done_by = {
        who: set(Assignment.objects.filter(contractor=who).values_list("task_id", flat=True))
        for who in (fast, slow)
    }
    offered_fast = assignment_claim_next(contractor=fast).task_id
    offered_slow = assignment_claim_next(contractor=slow).task_id
    assert mix[offered_fast] == max(mix[t] for t in mix.index if t not in done_by[fast])  # the slowest-done
    assert mix[offered_slow] == min(mix[t] for t in mix.index if t not in done_by[slow])  # the fastest-done
