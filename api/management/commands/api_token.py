"""manage.py api_token USERNAME [-r | --revoke]: make (print once), replace or revoke a user's API key."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from api.services import ApiTokenError, api_token_create, api_token_revoke


class Command(BaseCommand):
    help = (
        "Make a user's API key and print it (only its digest is stored); -r replaces it, --revoke deletes it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("-r", "--replace", action="store_true", help="replace the key: the old one stops")
        parser.add_argument("--revoke", action="store_true", help="delete the key: API access by key ends")

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"no user {options['username']!r}")
        if options["revoke"]:
            done = api_token_revoke(user=user)
            self.stdout.write("revoked" if done else "no key to revoke")
            return
        try:
            key = api_token_create(user=user, replace=options["replace"])
        except ApiTokenError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(key)
