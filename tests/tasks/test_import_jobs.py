"""Uploads are imported by a worker: through the broker to a real Celery worker in CI, with the output (image
builds on the docker backend) on the staff page as it comes, all or nothing, once per job."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.test import Client

from tasks.models import ImportJob, ImportJobStatus, TaskVersion
from tasks.services.import_jobs import import_job_run
from tests.conftest import SIMPLE_FAMILY
from tests.terminal.conftest import wait_until

pytestmark = [pytest.mark.sandbox, pytest.mark.django_db(transaction=True)]


def _zip(files: dict[str, str], name: str = "suite.zip") -> io.BytesIO:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)
    buf.seek(0)
    buf.name = name
    return buf


def _staff_client(users) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(users["staff"])
    return client


def test_a_worker_imports_the_upload_and_the_page_follows_it(remote_server, worker, users) -> None:
    client = _staff_client(users)
    resp = client.post("/tasks/import/", {"archive": _zip({"up/up.py": SIMPLE_FAMILY})})
    assert resp.status_code == 302
    job = ImportJob.objects.get()
    assert resp["Location"] == f"/tasks/import/{job.pk}/"
    wait_until(lambda: ImportJob.objects.get(pk=job.pk).status == ImportJobStatus.DONE, timeout=90)
    job.refresh_from_db()
    assert job.report == ["up: imported as version 1 (2 tasks)"] and job.created_by == users["staff"]
    assert "== up" in job.output and not job.workdir.exists()
    page = client.get(resp["Location"]).content.decode()
    assert "up: imported as version 1 (2 tasks)" in page and 'http-equiv="refresh"' not in page
    if worker is not None:  # with a broker (CI), a separate worker process ran it
        assert "tasks.run_import_job" in (remote_server.tmp / "worker.log").read_text()


def test_a_broken_family_fails_the_job_and_stores_nothing(users, settings) -> None:
    from config.celery import app

    eager, app.conf.task_always_eager = app.conf.task_always_eager, True
    try:
        client = _staff_client(users)
        bad = _zip({"good/good.py": SIMPLE_FAMILY, "bad/bad.py": "class TaskFamily(:\n"})
        client.post("/tasks/import/", {"archive": bad})
    finally:
        app.conf.task_always_eager = eager
    job = ImportJob.objects.get()
    assert job.status == ImportJobStatus.FAILED
    assert job.error.startswith("Nothing was imported. bad: bad.py:1: syntax error")
    assert TaskVersion.objects.count() == 0
    page = client.get(f"/tasks/import/{job.pk}/").content.decode()
    assert "Nothing was imported." in page
    assert import_job_run(job.pk).status == ImportJobStatus.FAILED  # a second delivery changes nothing


def test_image_build_output_reaches_the_job(users, settings) -> None:
    settings.SANDBOX_BACKEND = "docker"
    from config.celery import app

    eager, app.conf.task_always_eager = app.conf.task_always_eager, True
    try:
        family = SIMPLE_FAMILY + f"\n# {id(settings)}\n"  # new content: a fresh image build
        _staff_client(users).post("/tasks/import/", {"archive": _zip({"built/built.py": family})})
    finally:
        app.conf.task_always_eager = eager
    job = ImportJob.objects.get()
    assert job.status == ImportJobStatus.DONE, job.error
    assert "Step 1/" in job.output and "Successfully built" in job.output
