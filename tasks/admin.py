from django.contrib import admin

from tasks.models import FamilyVersion, Task, TaskFamily, TaskStatusChange, TaskVersion


class ReadOnly(admin.ModelAdmin):
    """Task content changes only through the importer; the admin shows it."""

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


for model in (TaskFamily, FamilyVersion, Task, TaskVersion, TaskStatusChange):
    admin.site.register(model, ReadOnly)
