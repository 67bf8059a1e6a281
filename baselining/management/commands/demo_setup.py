"""python manage.py demo_setup: demo users and the demo suite. Refuses to run outside demo mode (DEMO=1)."""

from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from tasks.services.importer import TaskImportError, tasks_import

DEMO_USERS = (("staff", True), ("alice", False), ("bob", False))


class Command(BaseCommand):
    help = "Create the demo users (staff/staff, alice/alice, bob/bob) and import examples/tasks. DEMO=1 only."

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEMO_MODE:
            raise CommandError("demo_setup creates users with known passwords; it runs only with DEMO=1")
        User = get_user_model()
        for name, staff in DEMO_USERS:
            user, _ = User.objects.get_or_create(username=name)
            user.is_staff = staff
            user.is_superuser = staff
            user.set_password(name)  # demo only: well-known passwords, printed below
            user.save()
        try:
            report = tasks_import(path=Path(settings.BASE_DIR) / "examples" / "tasks")
        except TaskImportError as exc:
            raise CommandError(f"demo suite not imported: {exc}") from exc
        for line in report.lines():
            self.stdout.write(f"  {line}")
        self.stdout.write(
            self.style.WARNING(
                "DEMO MODE: users staff/staff (staff), alice/alice and bob/bob (contractors). "
                "Not for production."
            )
        )
