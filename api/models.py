"""API keys, kept only as digests: the key itself is shown once, when it is made (docs/api.md)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ApiToken(models.Model):
    """One key per user, like DRF's tokens, but a stolen database (or backup) holds no usable key."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_token")
    digest = models.CharField(max_length=64, unique=True)  # SHA-256 of the key, hex
    prefix = models.CharField(max_length=8)  # the key's first characters: tells keys apart, proves nothing
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"
