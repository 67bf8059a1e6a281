"""Celery jobs of the task suite."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="tasks.run_import_job")
def run_import_job(job_id: int) -> str:
    from tasks.services.import_jobs import import_job_run

    return str(import_job_run(job_id).status)
