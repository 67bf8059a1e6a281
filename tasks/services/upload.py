"""Safe extraction of an uploaded zip or tar of task families into a temporary directory."""

from __future__ import annotations

import tarfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import IO

from tasks.services.importer import TaskImportError

ERR_NOT_ARCHIVE = "the upload is not a zip or tar archive"
ERR_UNSAFE_PATH = "the archive holds an unsafe path: {name}"
ERR_TOO_BIG = "the archive unpacks to more than {limit} MB"
ERR_LINK = "the archive holds a link, which task families may not contain: {name}"
ERR_BROKEN = "the archive could not be read: {error}"
ERR_TOO_MANY = "the archive holds more than {limit} entries"
MAX_ENTRIES = 20_000


def _check_name(name: str) -> None:
    p = PurePosixPath(name)
    if p.is_absolute() or ".." in p.parts or "\\" in name:
        raise TaskImportError(ERR_UNSAFE_PATH.format(name=name))


def extract_archive(fileobj: IO[bytes], dest: Path, *, max_bytes: int) -> None:
    """Unpack into dest, refusing absolute paths, '..', links, devices and more than max_bytes."""
    limit_mb = max_bytes // (1024 * 1024)
    try:
        _extract(fileobj, dest, max_bytes=max_bytes, limit_mb=limit_mb)
    except TaskImportError:
        raise
    except (
        zipfile.BadZipFile,
        tarfile.TarError,
        EOFError,
        OSError,
        RuntimeError,
        NotImplementedError,
    ) as exc:
        # corrupt, truncated, encrypted, unsupported compression, a file and a directory of one name...
        raise TaskImportError(ERR_BROKEN.format(error=exc)) from exc


def _extract(fileobj: IO[bytes], dest: Path, *, max_bytes: int, limit_mb: int) -> None:
    fileobj.seek(0)
    if zipfile.is_zipfile(fileobj):
        fileobj.seek(0)
        with zipfile.ZipFile(fileobj) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_ENTRIES:
                raise TaskImportError(ERR_TOO_MANY.format(limit=MAX_ENTRIES))
            for info in infos:
                _check_name(info.filename)
                if (info.external_attr >> 16) & 0o170000 == 0o120000:
                    raise TaskImportError(ERR_LINK.format(name=info.filename))
            if sum(i.file_size for i in infos) > max_bytes:
                raise TaskImportError(ERR_TOO_BIG.format(limit=limit_mb))
            zf.extractall(dest)  # noqa: S202  (every name and link checked above)
        return
    fileobj.seek(0)
    try:
        with tarfile.open(fileobj=fileobj, mode="r:*") as tf:
            members = tf.getmembers()
            if len(members) > MAX_ENTRIES:
                raise TaskImportError(ERR_TOO_MANY.format(limit=MAX_ENTRIES))
            total = 0
            for m in members:
                _check_name(m.name)
                if m.issym() or m.islnk():
                    raise TaskImportError(ERR_LINK.format(name=m.name))
                if not (m.isfile() or m.isdir()):
                    raise TaskImportError(ERR_UNSAFE_PATH.format(name=m.name))
                total += m.size
            if total > max_bytes:
                raise TaskImportError(ERR_TOO_BIG.format(limit=limit_mb))
            tf.extractall(dest, filter="data")
    except tarfile.ReadError as exc:
        raise TaskImportError(ERR_NOT_ARCHIVE) from exc
