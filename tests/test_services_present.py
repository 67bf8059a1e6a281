"""In CI the real PostgreSQL and Redis are used: a missing service fails here instead of being skipped."""

import os
import uuid

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection

REQUIRED = os.environ.get("REQUIRE_SERVICES") == "1"


@pytest.mark.django_db
def test_database_is_postgresql_when_required() -> None:
    if REQUIRED:
        assert connection.vendor == "postgresql", "CI must run against PostgreSQL (DATABASE_URL)"
    with connection.cursor() as cur:
        cur.execute("SELECT 1")
        assert cur.fetchone() == (1,)


def test_channel_layer_round_trip() -> None:
    """The configured channel layer carries a message (Redis in CI, in-memory otherwise)."""
    if REQUIRED:
        assert settings.REDIS_URL, "CI must run against Redis (REDIS_URL)"
    layer = get_channel_layer()
    assert layer is not None
    channel = async_to_sync(layer.new_channel)()
    token = uuid.uuid4().hex
    async_to_sync(layer.send)(channel, {"type": "probe", "token": token})
    assert async_to_sync(layer.receive)(channel)["token"] == token


def test_celery_broker_is_redis_when_required() -> None:
    from config.celery import app

    if REQUIRED:
        assert app.conf.broker_url.startswith("redis://")
        conn = app.connection_for_write()
        conn.ensure_connection(max_retries=1)
        conn.release()
    else:
        assert app.conf.task_always_eager


def test_every_periodic_job_names_a_registered_task() -> None:
    """The embedded timer and Celery beat run CELERY_BEAT_SCHEDULE: each entry must name a real task."""
    from config.celery import app
    from terminal.lifespan import import_task_modules

    import_task_modules()
    for name, job in settings.CELERY_BEAT_SCHEDULE.items():
        assert job["task"] in app.tasks, name
