"""DATA_DIR and what the platform keeps in it are private to the platform's own user.

Settings call `secure_data_dir` at start-up (every process: web, worker, session host, commands): the
database file, the secret key, family snapshots (task source: the answers), recordings and uploaded
imports are no other host user's to read. Existing files and directories are tightened too, where this
user owns them (a volume made by someone else is left as it is).
"""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_DIR = 0o700
# DATA_DIR when the bubblewrap backend keeps its sandboxes under it: each sandbox's own (unprivileged) root
# must be able to walk down to its state directory to mount it; it can list and read nothing here.
TRAVERSABLE_DIR = 0o711
PRIVATE_FILE = 0o600
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")  # SQLite gives them its database file's mode


def _ours(path: Path) -> bool:
    return path.stat().st_uid == os.geteuid()


def private_dir(path: Path, mode: int = PRIVATE_DIR) -> None:
    """Create the directory with `mode` (its missing parents too), or tighten it to `mode` if ours."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.mkdir(mode=mode, exist_ok=True)
    if _ours(path) and path.stat().st_mode & 0o777 != mode:
        os.chmod(path, mode)


def private_file(path: Path) -> None:
    """Create an empty file 0600 if missing (so SQLite never creates it with the umask's mode), or
    tighten it to 0600 if ours."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
    except FileExistsError:
        if _ours(path) and path.stat().st_mode & 0o777 != PRIVATE_FILE:
            os.chmod(path, PRIVATE_FILE)


def secure_data_dir(
    data_dir: Path, *, private_dirs: list[Path], sqlite_file: Path | None, traversable: bool
) -> None:
    """DATA_DIR 0700 (0711 when sandboxes must walk through it), the listed directories that live in it
    0700, and the SQLite database with its side files 0600."""
    private_dir(data_dir, TRAVERSABLE_DIR if traversable else PRIVATE_DIR)
    for path in private_dirs:
        if path.resolve().is_relative_to(data_dir):
            private_dir(path)
    if sqlite_file is not None:
        private_file(sqlite_file)
        for suffix in SQLITE_SIDE_FILES:
            side = sqlite_file.with_name(sqlite_file.name + suffix)
            if side.exists():
                private_file(side)
