from django.contrib import admin

from api.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Staff see and revoke (delete) keys here; a key is made with `manage.py api_token` (docs/api.md)."""

    list_display = ("user", "prefix", "created")
    readonly_fields = ("user", "prefix", "digest", "created")

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False  # a key made here could never be shown: the command makes and prints them
