#!/usr/bin/env python
"""Django's command-line utility."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    if sys.argv[1:2] == ["session_host"]:
        # one asyncio process that never forks with Django loaded (keepers come from a forker without it):
        # its database calls pooled, as the web process's are (config/asgi.py), not a connection each
        os.environ.setdefault("DATABASE_POOL", "1")
        os.environ.setdefault("DATABASE_POOL_TIMEOUT", "5")
    from django.core.management import execute_from_command_line  # noqa: PLC0415  (after the settings module is named)

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
