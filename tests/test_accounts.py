"""Accounts and defaults: failed logins locked out (django-axes), no demo users without DEMO=1, a clean
`check --deploy` with the production settings, private files in DATA_DIR, API keys stored as digests."""

from __future__ import annotations

import importlib
import json
import os
import secrets
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.utils import timezone

from api.models import ApiToken
from api.services import ApiTokenError, api_token_create, token_digest
from config.lockout import MSG_LOCKED_OUT

pytestmark = pytest.mark.django_db
REPO = Path(__file__).resolve().parent.parent
PASSWORD = "a-long-pass-phrase-9"


def _login(username: str, password: str, address: str = "10.0.0.1") -> Any:
    return Client(REMOTE_ADDR=address).post("/login/", {"username": username, "password": password})


def _logged_in(resp: Any) -> bool:
    return resp.status_code == 302 and "_auth_user_id" in resp.client.session


@pytest.fixture
def staff() -> Any:
    return get_user_model().objects.create_user("staffer", password=PASSWORD, is_staff=True)


# --- Failed logins ----------------------------------------------------------------------------------------


def test_a_username_is_locked_out_after_the_limit_from_any_address(staff, settings) -> None:
    assert settings.AXES_FAILURE_LIMIT == 5
    for i in range(4):
        assert _login("staffer", f"guess-{i}", address=f"10.0.1.{i}").status_code == 200  # the form again
    assert _login("staffer", "guess-4", address="10.0.1.4").status_code == 429  # the 5th failure locks
    # the right password, from a fresh address: refused, with a clear page
    resp = _login("staffer", PASSWORD, address="10.0.2.1")
    assert resp.status_code == 429 and not _logged_in(resp)
    assert MSG_LOCKED_OUT.format(minutes=15) in resp.content.decode()
    # another user is not affected
    get_user_model().objects.create_user("other", password=PASSWORD)
    assert _logged_in(_login("other", PASSWORD, address="10.0.2.2"))


def test_an_address_is_locked_out_after_the_limit_for_any_username(staff) -> None:
    for i in range(5):
        _login(f"nobody-{i}", "guess", address="10.0.3.3")  # spraying user names from one address
    resp = _login("staffer", PASSWORD, address="10.0.3.3")
    assert resp.status_code == 429 and not _logged_in(resp)
    assert _logged_in(_login("staffer", PASSWORD, address="10.0.3.4"))


def test_the_lockout_ends_after_the_cool_off(staff) -> None:
    with time_machine.travel(timezone.now(), tick=False) as clock:
        for i in range(5):
            _login("staffer", f"guess-{i}")
        assert _login("staffer", PASSWORD).status_code == 429
        clock.shift(timedelta(minutes=16))
        assert _logged_in(_login("staffer", PASSWORD))


def test_api_token_and_session_auth_work_and_bad_tokens_lock_nobody_out(staff) -> None:
    key = api_token_create(user=staff)
    for _ in range(10):  # a token is not a password: failures here are no login attempts
        bad = Client().get("/api/tasks/", headers={"Authorization": "Token wrong"})
        assert bad.status_code == 401
    assert Client().get("/api/tasks/", headers={"Authorization": f"Token {key}"}).status_code == 200
    resp = _login("staffer", PASSWORD)
    assert _logged_in(resp)
    assert resp.client.get("/api/tasks/").status_code == 200  # session auth, after a password login


# --- Demo users -------------------------------------------------------------------------------------------


def test_without_demo_no_known_password_works(settings) -> None:
    settings.DEMO_MODE = False
    assert get_user_model().objects.count() == 0  # migrations make no user
    with pytest.raises(CommandError, match="only with DEMO=1"):
        call_command("demo_setup")
    assert get_user_model().objects.count() == 0
    for name in ("staff", "alice", "bob"):
        assert not _logged_in(_login(name, name))
    # a deployment without DEMO reads it as off
    out = subprocess.run(
        [sys.executable, "-c", "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'config.settings'; "
         "django.setup(); from django.conf import settings; print(settings.DEMO_MODE)"],
        cwd=REPO, env={k: v for k, v in os.environ.items() if k != "DEMO"}, capture_output=True, text=True,
        timeout=120, check=True,
    )  # fmt: skip
    assert out.stdout.strip().splitlines()[-1] == "False"


# --- check --deploy, in a subprocess with the production settings of docs/deployment.md --------------------

PRODUCTION_ENV = {
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "baselines.example.org",
    "CSRF_TRUSTED_ORIGINS": "https://baselines.example.org",
    "HTTPS": "1",
    "DATABASE_URL": "postgres://baselines:secret@postgres:5432/baselines",
    "REDIS_URL": "redis://redis:6379/0",
    "SESSION_HOST_SOCKET": "/run/baselines/host.sock",
    "SANDBOX_BACKEND": "docker",
}


def _production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "DEMO", "DATABASE_URL", "REDIS_URL")}
    return {**base, **PRODUCTION_ENV, "DATA_DIR": str(tmp_path / "data"), **extra}


def test_check_deploy_is_clean_with_the_production_settings(tmp_path) -> None:
    docs = (REPO / "docs" / "deployment.md").read_text()
    for name in PRODUCTION_ENV:  # the settings this test uses are the ones the docs tell production to set
        assert f"`{name}" in docs, name
    manage = [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"]
    ok = subprocess.run(manage, cwd=REPO, env=_production_env(tmp_path), capture_output=True, text=True,
                        timeout=300)  # fmt: skip
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "System check identified no issues" in ok.stdout
    demo = subprocess.run(manage, cwd=REPO, env=_production_env(tmp_path, DEMO="1"), capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert demo.returncode != 0 and "baselines.W002" in demo.stdout + demo.stderr


# --- DATA_DIR: private ----------------------------------------------------------------------------------

LIST_MODES = """
import django, json, os
os.environ['DJANGO_SETTINGS_MODULE'] = 'config.settings'
django.setup()
from django.core.management import call_command
from django.db import connection
call_command('migrate', verbosity=0)
with connection.cursor() as c:  # an open connection: SQLite's -wal and -shm files exist now
    c.execute("INSERT INTO django_content_type (app_label, model) VALUES ('x', 'y')")
root = os.environ['DATA_DIR']
modes = {'.': [os.stat(root).st_mode & 0o777, True]}
for d, dirs, files in os.walk(root):
    for name in dirs + files:
        p = os.path.join(d, name)
        modes[os.path.relpath(p, root)] = [os.lstat(p).st_mode & 0o777, os.path.isdir(p)]
print(json.dumps(modes))
"""


# DATA_DIR is 0711 whenever sandboxes live under it, whatever this process's backend: processes of one
# platform sharing it may use either (a test server on docker beside an import on bubblewrap), and each
# would otherwise set the other's mode.
@pytest.mark.parametrize(
    ("backend", "sandboxes_inside", "top"),
    [("docker", True, 0o711), ("bubblewrap", True, 0o711), ("docker", False, 0o700)],
)
def test_a_fresh_data_dir_is_private(tmp_path, backend, sandboxes_inside, top) -> None:
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "SANDBOX_DIR")}
    env.update(DATA_DIR=str(data), SANDBOX_BACKEND=backend)
    if not sandboxes_inside:
        env["SANDBOX_DIR"] = str(tmp_path / "sandboxes")
    out = subprocess.run([sys.executable, "-c", LIST_MODES], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=300, check=True)  # fmt: skip
    modes = json.loads(out.stdout.strip().splitlines()[-1])
    assert modes.pop(".") == [top, True]
    for name in (
        "db.sqlite3",
        "db.sqlite3-wal",
        "db.sqlite3-shm",
        "secret_key",
        "families",
        "recordings",
        "imports",
    ):
        assert name in modes, name
    for name, (mode, is_dir) in modes.items():
        assert mode == (0o700 if is_dir else 0o600), f"{name}: {oct(mode)}"


# --- API keys: stored as digests ----------------------------------------------------------------------


def _stored_values() -> str:
    return json.dumps(list(ApiToken.objects.values()), default=str)


def test_api_keys_are_stored_only_as_digests(staff) -> None:
    key = api_token_create(user=staff)
    assert len(key) == 40
    assert key not in _stored_values() and ApiToken.objects.get().digest == token_digest(key)
    ok = Client().get("/api/tasks/", headers={"Authorization": f"Token {key}"})
    assert ok.status_code == 200
    with pytest.raises(ApiTokenError, match="already has an API key"):
        api_token_create(user=staff)
    new = api_token_create(user=staff, replace=True)
    assert Client().get("/api/tasks/", headers={"Authorization": f"Token {key}"}).status_code == 401
    assert Client().get("/api/tasks/", headers={"Authorization": f"Token {new}"}).status_code == 200


def test_the_api_token_command_prints_a_key_once(staff, capsys) -> None:
    call_command("api_token", "staffer")
    key = capsys.readouterr().out.strip()
    assert Client().get("/api/tasks/", headers={"Authorization": f"Token {key}"}).status_code == 200
    with pytest.raises(CommandError, match="already has an API key"):
        call_command("api_token", "staffer")
    call_command("api_token", "staffer", "-r")
    assert capsys.readouterr().out.strip() != key
    call_command("api_token", "staffer", "--revoke")
    assert not ApiToken.objects.exists()


def test_keys_of_drf_authtoken_are_migrated_to_digests_and_keep_working(staff) -> None:
    """A database from before: DRF's authtoken table with a key in clear text."""
    migration = importlib.import_module("api.migrations.0002_hash_drf_tokens")
    old_key = secrets.token_hex(20)
    with connection.cursor() as c:
        c.execute(
            "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, created timestamp, user_id integer)"
        )
        c.execute("INSERT INTO authtoken_token VALUES (%s, %s, %s)", [old_key, timezone.now(), staff.pk])
    assert migration.copy_hashed(connection, ApiToken) == 1
    with connection.cursor() as c:
        c.execute("SELECT count(*) FROM authtoken_token")
        assert c.fetchone()[0] == 0  # the clear copy is gone
    assert old_key not in _stored_values()
    assert Client().get("/api/tasks/", headers={"Authorization": f"Token {old_key}"}).status_code == 200
