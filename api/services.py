"""Making and revoking API keys. Only their SHA-256 digest is stored; the key is returned once."""

from __future__ import annotations

import hashlib
import secrets

from django.contrib.auth.models import User
from django.db import transaction

from api.models import ApiToken

ERR_EXISTS = "{user} already has an API key (made {created:%Y-%m-%d %H:%M} UTC): replace it to get a new one"


class ApiTokenError(Exception):
    pass


def token_digest(key: str) -> str:
    """SHA-256, unsalted and fast on purpose: keys are 160 random bits (no dictionary to try), and the
    digest is what the database looks a presented key up by."""
    return hashlib.sha256(key.encode()).hexdigest()


def api_token_create(*, user: User, replace: bool = False) -> str:
    """A new key for the user (the old one stops working with replace); the key, never stored, is returned."""
    key = secrets.token_hex(20)
    with transaction.atomic():
        existing = ApiToken.objects.select_for_update().filter(user=user).first()
        if existing is not None and not replace:
            raise ApiTokenError(ERR_EXISTS.format(user=user, created=existing.created))
        ApiToken.objects.filter(user=user).delete()
        ApiToken.objects.create(user=user, digest=token_digest(key), prefix=key[:8])
    return key


def api_token_revoke(*, user: User) -> bool:
    return ApiToken.objects.filter(user=user).delete()[0] > 0
