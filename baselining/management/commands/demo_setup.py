"""python manage.py demo_setup: demo users and the demo suite. Refuses to run outside demo mode (DEMO=1)."""

from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from baselining.models import ContractorProfile, ContractorStatus
from baselining.synthetic import generate_suite
from horizons.demo import DEMO_PREFIX, DEMO_SUITE
from horizons.models import HumanTimes
from horizons.services import runs_import
from tasks.models import Task, TaskFamily, TaskStatus
from tasks.services.importer import TaskImportError, tasks_import
from tasks.services.status import record_status_change

DEMO_USERS = (("staff", True), ("alice", False), ("bob", False))
DEMO_EXPERTISE = {
    "alice": ["software engineering", "data science"],
    "bob": ["software engineering", "site reliability"],
}


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
        for name, areas in DEMO_EXPERTISE.items():
            profile, _ = ContractorProfile.objects.get_or_create(user=User.objects.get(username=name))
            profile.status = ContractorStatus.ACTIVE
            profile.expertise = [{"area": a, "years": 5} for a in areas]
            profile.save()
        # Demo tasks that can run here are ready for baselining, so "Get my next task" has something to give.
        # Staff could not do this (ready needs a passed QA run); the demo setup does it as the system, and
        # says so in each task's status history.
        for task in Task.objects.filter(status=TaskStatus.DRAFT).select_related("latest_version"):
            if task.latest_version is not None and not task.latest_version.needs:
                with transaction.atomic():
                    locked = Task.objects.select_for_update().get(pk=task.pk)
                    record_status_change(
                        task=locked,
                        status=TaskStatus.READY,
                        by=None,
                        note="demo setup: ready without a QA run",
                    )
        self._synthetic_baselines()
        self.stdout.write(
            self.style.WARNING(
                "DEMO MODE: users staff/staff (staff), alice/alice and bob/bob (contractors). "
                "Not for production."
            )
        )

    def _synthetic_baselines(self) -> None:
        """Finished baselines on synthetic tasks, so Statistics, Exports and Horizons show real plots: 40
        tasks in families named synthetic_f..., by 24 made-up contractors, each task retired at once (never
        handed out) with a note that says what it is; and the demo agents' runs on them (horizons.demo)."""
        if TaskFamily.objects.filter(name__startswith=f"{DEMO_PREFIX}_f").exists():
            return
        with transaction.atomic():  # all of it, or none (a rerun then tries again)
            self._seed()

    def _seed(self) -> None:
        suite = generate_suite(prefix=DEMO_PREFIX, contractor_sigma=0.35, **DEMO_SUITE)
        for task in Task.objects.select_for_update().filter(pk__in=list(suite.true_median)):
            record_status_change(
                task=task, status=TaskStatus.RETIRED, by=None,
                note="demo setup: synthetic baselines for the demo's statistics, not a real task",
            )  # fmt: skip
        runs = Path(settings.BASE_DIR) / "examples" / "horizons" / "demo_runs.jsonl"
        result = runs_import(data=runs.read_bytes(), name=runs.name, human_times=HumanTimes.PLATFORM)
        self.stdout.write(
            f"  demo data (synthetic): {suite.n_attempts} baselines on {suite.n_tasks} tasks, "
            f"{result.stored} agent runs"
        )
