"""Staff catalogue, task page, status changes and the upload page: who may see what, and what they see."""

from __future__ import annotations

import html
import io
import re
import tarfile
import zipfile

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from tasks.models import Task, TaskStatus, TaskVersion
from tests.conftest import SIMPLE_FAMILY

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client):  # type: ignore[no-untyped-def]
    user = get_user_model().objects.create_user("sam", password="pw-staff-1", is_staff=True)
    client.force_login(user)
    return user


@pytest.fixture
def contractor_client(client):  # type: ignore[no-untyped-def]
    user = get_user_model().objects.create_user("cora", password="pw-contractor-1")
    client.force_login(user)
    return client


def test_login_page_and_login_flow(client) -> None:
    get_user_model().objects.create_user("ann", password="pw-ann-12345")
    assert client.get(reverse("login")).status_code == 200
    resp = client.post(reverse("login"), {"username": "ann", "password": "wrong"})
    assert b"didn't match" in resp.content
    resp = client.post(reverse("login"), {"username": "ann", "password": "pw-ann-12345"})
    assert resp.status_code == 302
    assert client.get(reverse("home")).status_code == 302  # contractors land on "My work"
    assert client.get(reverse("baselining:work")).status_code == 200
    client.post(reverse("logout"))
    assert client.get(reverse("home")).status_code == 302


@pytest.mark.sandbox
def test_staff_pages_are_staff_only(client, contractor_client, demo_suite) -> None:
    task = Task.objects.get(family__name="ssh_key", name="find_key")
    urls = [
        reverse("tasks:catalogue"),
        reverse("tasks:upload"),
        reverse("tasks:detail", args=["ssh_key", "find_key"]),
    ]
    for url in urls:
        assert contractor_client.get(url).status_code == 403, url
    contractor_client.logout()
    for url in urls:
        resp = client.get(url)
        assert resp.status_code == 302 and resp["Location"].startswith("/login/"), url
    resp = client.post(reverse("tasks:status", args=["ssh_key", "find_key"]), {"status": "ready"})
    assert resp.status_code == 302 and resp["Location"].startswith("/login/")
    task.refresh_from_db()
    assert task.status == TaskStatus.DRAFT


def test_contractor_home_shows_no_task_content(contractor_client, make_family) -> None:
    from tasks.services.importer import tasks_import

    tasks_import(path=make_family("secretive", SIMPLE_FAMILY))
    resp = contractor_client.get(reverse("home"), follow=True)
    assert resp.status_code == 200
    page = re.sub(rb'name="csrfmiddlewaretoken" value="[^"]*"', b"", resp.content)  # random: may hold "42"
    assert b"secretive" not in page and b"42" not in page


@pytest.mark.sandbox
def test_catalogue_filters_and_search(client, staff, demo_suite, django_assert_max_num_queries) -> None:
    url = reverse("tasks:catalogue")
    with django_assert_max_num_queries(8):
        resp = client.get(url)
    assert resp.status_code == 200
    assert resp.content.count(b'href="/tasks/') >= Task.objects.count()

    def names(**params: str) -> set[str]:
        return {t.task_id for t in client.get(url, params).context["tasks"]}

    assert names(family="email_reply") == {"email_reply/meeting", "email_reply/refund"}
    assert names(expertise="data science") == {"csv_stats/mean_latency", "csv_stats/error_rate"}
    assert names(q="private key") == {"ssh_key/find_key"}
    assert names(status="ready") == set()
    assert names(needs="install") == set()
    assert len(names(needs="none")) == Task.objects.count()


@pytest.mark.sandbox
def test_catalogue_query_count_does_not_grow_with_tasks(
    client, staff, make_family, django_assert_max_num_queries
) -> None:
    from tasks.services.importer import tasks_import

    for i in range(6):
        make_family(f"fam{i}", SIMPLE_FAMILY)
    tasks_import(path=make_family("fam_last", SIMPLE_FAMILY).parent)
    with django_assert_max_num_queries(8):
        resp = client.get(reverse("tasks:catalogue"))
    assert len(resp.context["tasks"]) == 14


@pytest.mark.sandbox
def test_task_page_shows_instructions_exactly_and_marks_unmet_needs(client, staff, make_family) -> None:
    from tasks.services.importer import tasks_import

    source = SIMPLE_FAMILY.replace(
        'return "Submit the answer."', 'return "Line <1>\\n  indented & <b>raw</b>"'
    )
    source = source.replace(
        "class TaskFamily:", "class TaskFamily:\n    required_environment_variables = ['TOKEN']"
    )
    tasks_import(path=make_family("shown", source))
    resp = client.get(reverse("tasks:detail", args=["shown", "one"]))
    assert resp.status_code == 200
    html = resp.content.decode()
    assert "Line &lt;1&gt;\n  indented &amp; &lt;b&gt;raw&lt;/b&gt;</pre>" in html
    assert "Cannot start on the bubblewrap backend" in html and "TASK_ENV_TOKEN" in html


@pytest.mark.sandbox
@pytest.mark.parametrize("stored", ["one/two", "50%", "a%2Fb", "..", "with space"])
def test_pages_work_for_a_task_name_stored_before_the_name_rule(client, staff, make_family, stored) -> None:
    """Imports now refuse such names; one stored earlier must not make every page that links it a 500."""
    from tasks.services.importer import tasks_import

    tasks_import(path=make_family("legacy", SIMPLE_FAMILY))
    Task.objects.filter(name="one").update(name=stored)  # what an import before the rule stored

    catalogue = client.get(reverse("tasks:catalogue"))
    assert catalogue.status_code == 200
    link = re.search(
        rf'href="([^"]+)">legacy/<strong>{re.escape(html.escape(stored))}</strong>',
        catalogue.content.decode(),
    )
    assert link is not None
    steps = link[1].split("/")  # one path step for the name, never one a browser would resolve away
    assert len(steps) == 5 and steps[3] not in ("", ".", ".."), steps
    page = client.get(link[1])
    assert page.status_code == 200 and page.context["task"].name == stored
    action = re.search(r"<form method=\"post\" action=\"([^\"]+/status/)\"", page.content.decode())
    assert action is not None
    resp = client.post(action[1], {"status": "qa", "note": "checked"})
    assert resp.status_code == 302 and resp["Location"] == link[1]
    assert Task.objects.get(name=stored).status == TaskStatus.QA
    assert client.get(reverse("stats:dashboard")).status_code == 200


@pytest.mark.sandbox
def test_status_change_is_recorded_with_who_and_when(client, staff, make_family) -> None:
    from tasks.services.importer import tasks_import

    tasks_import(path=make_family("stat", SIMPLE_FAMILY))
    url = reverse("tasks:status", args=["stat", "one"])
    client.post(url, {"status": "qa", "note": "ready for QA"})
    resp = client.post(url, {"status": "qa"}, follow=True)
    assert b"already In QA" in resp.content
    task = Task.objects.get(name="one")
    assert task.status == TaskStatus.QA
    change = task.status_changes.first()
    assert (change.from_status, change.to_status, change.changed_by, change.note) == (
        "draft",
        "qa",
        staff,
        "ready for QA",
    )
    assert task.status_changes.count() == 2  # created + qa


def _zip(files: dict[str, str]) -> io.BytesIO:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    buf.seek(0)
    buf.name = "suite.zip"
    return buf


@pytest.fixture
def jobs_in_process():  # type: ignore[no-untyped-def]
    """Celery jobs run in this process, even with a broker (the broker path: test_import_jobs.py)."""
    from config.celery import app

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = eager


@pytest.mark.sandbox
@pytest.mark.django_db(transaction=True)  # the job runs in a thread of this process, on its own connection
def test_upload_zip_imports_families(client, staff, jobs_in_process) -> None:
    from tasks.models import ImportJob, ImportJobStatus
    from tests.terminal.conftest import wait_until

    archive = _zip({"suite/up/up.py": SIMPLE_FAMILY, "suite/up/manifest.yaml": "tasks:\n  one: {}\n"})
    resp = client.post(reverse("tasks:upload"), {"archive": archive})
    assert resp.status_code == 302 and "/tasks/import/" in resp["Location"]
    wait_until(lambda: ImportJob.objects.get().finished_at is not None, timeout=90)
    job = ImportJob.objects.get()
    assert job.status == ImportJobStatus.DONE, job.error
    resp = client.get(resp["Location"])
    assert b"up: imported as version 1 (2 tasks)" in resp.content and b"Imported" in resp.content
    assert TaskVersion.objects.filter(task__family__name="up").count() == 2
    assert TaskVersion.objects.get(task__name="one").family_version.imported_by == staff


@pytest.mark.parametrize(
    "kind",
    ["zip-traversal", "tar-traversal", "tar-symlink", "not-an-archive", "truncated-gzip", "corrupt-zip"],
)
def test_bad_upload_is_refused_and_nothing_stored(client, staff, kind) -> None:
    if kind == "zip-traversal":
        archive = _zip({"../evil/evil.py": SIMPLE_FAMILY})
    elif kind == "not-an-archive":
        archive = io.BytesIO(b"just some text")
        archive.name = "x.zip"
    elif kind == "corrupt-zip":
        good = _zip({"fam/fam.py": SIMPLE_FAMILY * 50}).getvalue()
        archive = io.BytesIO(good[:60] + b"\x00" * 400 + good[460:])
        archive.name = "x.zip"
    elif kind == "truncated-gzip":
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tf:
            data = (SIMPLE_FAMILY * 200).encode()
            info = tarfile.TarInfo("fam/fam.py")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        archive = io.BytesIO(buf.getvalue()[: len(buf.getvalue()) // 2])
        archive.name = "x.tar.gz"
    else:
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w:gz") as tf:
            data = SIMPLE_FAMILY.encode()
            info = tarfile.TarInfo("evil/evil.py" if kind == "tar-symlink" else "../evil/evil.py")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
            if kind == "tar-symlink":
                link = tarfile.TarInfo("evil/passwd")
                link.type = tarfile.SYMTYPE
                link.linkname = "/etc/passwd"
                tf.addfile(link)
        archive.seek(0)
        archive.name = "suite.tar.gz"
    resp = client.post(reverse("tasks:upload"), {"archive": archive}, follow=True)
    assert b"Nothing was imported." in resp.content
    assert Task.objects.count() == 0
