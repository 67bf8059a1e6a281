"""Messages people read, as written."""

from __future__ import annotations


def sentence(text: str) -> str:
    """An error or notice made a sentence: its first letter upper-case, the rest exactly as written
    (str.capitalize lowered every other letter: "MIN_FREE_DISK_MB", or a password rule's "It must..."), and
    a full stop unless it ends with one."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."
