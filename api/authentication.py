"""`Authorization: Token <key>` against the stored digests (api.models.ApiToken): one query per request."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from api.models import ApiToken
from api.services import token_digest


class HashedTokenAuthentication(TokenAuthentication):
    """DRF's token scheme (same header, same 401 with `WWW-Authenticate: Token`), keys looked up by digest."""

    model = ApiToken

    def authenticate_credentials(self, key: str) -> tuple[User, Any]:
        token = ApiToken.objects.select_related("user").filter(digest=token_digest(key)).first()
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        return (token.user, token)
