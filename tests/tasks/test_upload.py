"""Uploaded archives, through the staff upload page: every limit is checked while the archive is read, and
refuses as soon as it is passed, with a clear message and nothing stored or queued."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile
import zipfile
from collections.abc import Callable

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from tasks.models import ImportJob, Task
from tasks.services import upload
from tests.conftest import SIMPLE_FAMILY

pytestmark = pytest.mark.django_db

FAMILY = SIMPLE_FAMILY.encode()


@pytest.fixture
def staff_client(client: Client) -> Client:
    client.force_login(get_user_model().objects.create_user("sam", password="pw-staff-1", is_staff=True))
    return client


def _post(client: Client, data: bytes, name: str) -> str:
    archive = io.BytesIO(data)
    archive.name = name
    resp = client.post(reverse("tasks:upload"), {"archive": archive}, follow=True)
    assert resp.status_code == 200
    assert ImportJob.objects.count() == 0 and Task.objects.count() == 0
    page = resp.content.decode()
    assert "Nothing was imported." in page
    return page


def _member(tf: tarfile.TarFile, name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.size = kind, len(data) if kind == tarfile.REGTYPE else 0
    tf.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def _tar(build: Callable[[tarfile.TarFile], None]) -> bytes:
    """A tar.gz of the family and whatever build() adds."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        _member(tf, "fam/fam.py", FAMILY)
        build(tf)
    return gzip.compress(buf.getvalue())


def _block(name: str, data: bytes = b"") -> bytes:
    """One member as it stands in a tar stream: its header block, its data, padding to 512 bytes."""
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info.tobuf(format=tarfile.USTAR_FORMAT) + data + b"\0" * (-len(data) % 512)


def _gzip(*chunks: bytes) -> bytes:
    """A tar.gz of raw chunks (from _block and _pax_header), ended as tar ends."""
    return gzip.compress(b"".join([*chunks, b"\0" * 1024]), compresslevel=1)


def _pax_header(size: int) -> bytes:
    """A pax extended header whose one record (a comment) is `size` bytes long."""
    info = tarfile.TarInfo("././@PaxHeader")
    info.type, info.size = tarfile.XHDTYPE, size
    prefix = f"{size} comment=".encode()
    body = prefix + b"a" * (size - len(prefix) - 1) + b"\n"
    return info.tobuf(format=tarfile.USTAR_FORMAT) + body + b"\0" * (-size % 512)


def test_a_tar_past_the_entry_limit_is_refused_without_reading_the_rest(staff_client) -> None:
    """A tar of a million entries was read whole (24 s, +430 MB) before it was counted. Here what follows
    entry MAX_ENTRIES + 1 is unreadable: reading on would fail differently."""
    entries = [_block("fam/fam.py", FAMILY), *(_block(f"fam/d/{i}") for i in range(upload.MAX_ENTRIES))]
    unreadable = _pax_header(100)[:512] + b"not a header".ljust(1024, b"!")
    page = _post(staff_client, _gzip(*entries, unreadable), "many.tar.gz")
    assert upload.ERR_TOO_MANY.format(limit=upload.MAX_ENTRIES) in page


def test_a_zip_past_the_entry_limit_is_refused_before_zipfile_reads_its_directory(staff_client) -> None:
    """zipfile reads the whole list of files into objects at once (a million: 30 s, +550 MB); entries past
    the limit are broken here, as zipfile would have said."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("fam/fam.py", FAMILY)
        for i in range(upload.MAX_ENTRIES + 1):
            zf.writestr(f"fam/d/{i}", b"")
    data = bytearray(buf.getvalue())
    last = data.rfind(b"PK\x01\x02")
    data[last : last + 4] = b"XX\x01\x02"  # the last entry of the central directory, unreadable
    page = _post(staff_client, bytes(data), "many.zip")
    assert upload.ERR_TOO_MANY.format(limit=upload.MAX_ENTRIES) in page


def test_a_tar_header_claiming_megabytes_is_refused_before_it_is_read(staff_client) -> None:
    """tarfile reads a pax header whole, at the size it claims: 1 MB of gzip made 3 GB of memory."""
    archive = _gzip(_block("fam/fam.py", FAMILY), _pax_header(upload.MAX_TAR_READ * 4), _block("fam/x", b"x"))
    page = _post(staff_client, archive, "pax.tar.gz")
    assert upload.ERR_HEADER_TOO_BIG.format(limit=upload.MAX_TAR_READ // 1024) in page


def test_a_tar_stream_longer_than_its_members_is_refused(staff_client, settings) -> None:
    """Headers that are each small enough still must not add up to gigabytes to decompress."""
    settings.TASK_UPLOAD_MAX_BYTES = 1024 * 1024
    header = _pax_header(upload.MAX_TAR_READ - 1024)
    count = upload.TAR_OVERHEAD // len(header) + 2
    members = [header + _block(f"fam/{i}.txt", b"x") for i in range(count)]
    page = _post(staff_client, _gzip(_block("fam/fam.py", FAMILY), *members), "long.tar.gz")
    assert upload.ERR_TOO_BIG.format(limit=1) in page


def test_a_tar_member_name_that_is_not_utf8_is_refused(staff_client) -> None:
    """Such a name was unpacked, then crashed the import (a 500 in the embedded mode)."""

    def build(tf: tarfile.TarFile) -> None:
        info = tarfile.TarInfo("fam/caf\udce9.txt")  # the byte 0xe9, as tarfile reads it back
        info.size = 1
        tf.addfile(info, io.BytesIO(b"x"))

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.GNU_FORMAT, errors="surrogateescape") as tf:
        _member(tf, "fam/fam.py", FAMILY)
        build(tf)
    page = _post(staff_client, buf.getvalue(), "latin.tar.gz")
    assert upload.ERR_NAME_NOT_UTF8.format(name="fam/caf\\xe9.txt") in page


def test_a_zip_entry_flagged_utf8_whose_name_is_not_is_refused(staff_client) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("fam/fam.py", FAMILY)
        zf.writestr("fam/caf\u00e9.txt", b"x")  # written as UTF-8, with the UTF-8 flag
    data = buf.getvalue().replace("caf\u00e9".encode(), b"caf\xe9\xe9")  # same length, not UTF-8
    page = _post(staff_client, data, "latin.zip")
    assert upload.ERR_NAME_NOT_UTF8.format(name="fam/caf\\xe9\\xe9.txt") in page


@pytest.mark.parametrize(
    ("kind", "shown"), [(tarfile.FIFOTYPE, "a FIFO (named pipe)"), (tarfile.CHRTYPE, "a character device")]
)
def test_a_fifo_or_device_in_a_tar_is_refused_by_name(staff_client, kind, shown) -> None:
    page = _post(staff_client, _tar(lambda tf: _member(tf, "fam/pipe", kind=kind)), "special.tar.gz")
    assert upload.ERR_SPECIAL.format(kind=shown, name="fam/pipe") in page


@pytest.mark.parametrize("compress", [lambda b: b, gzip.compress, bz2.compress, lzma.compress])
def test_every_tar_compression_still_unpacks(tmp_path, compress) -> None:
    plain = gzip.decompress(_tar(lambda tf: None))
    upload.extract_archive(io.BytesIO(compress(plain)), tmp_path, max_bytes=1024 * 1024)
    assert (tmp_path / "fam" / "fam.py").read_bytes() == FAMILY
