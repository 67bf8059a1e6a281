"""Forms for staff pages that are not models: the export and dashboard filters."""

from __future__ import annotations

from django import forms

from baselining.selectors import ExportFilters
from tasks.models import TaskStatus


class ExportFilterForm(forms.Form):
    family = forms.CharField(required=False, max_length=200)
    status = forms.ChoiceField(
        required=False,
        choices=[("", "Any status"), *TaskStatus.choices],
        widget=forms.Select(attrs={"aria-label": "Task status"}),
    )
    since = forms.DateField(required=False, help_text="attempts that ended on or after (YYYY-MM-DD)")
    until = forms.DateField(required=False, help_text="... and on or before")
    include_invalid = forms.BooleanField(required=False)

    def clean_include_invalid(self) -> bool:
        # a checkbox sends "on"; the API and the command line say true/false, 1/0, yes/no
        raw = str(self.data.get("include_invalid", "")).strip().lower()
        if raw in ("", "0", "false", "no", "off"):
            return False
        if raw in ("1", "true", "yes", "on"):
            return True
        raise forms.ValidationError("say true or false")

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            raise forms.ValidationError("the date range ends before it starts")
        return data

    def filters(self) -> ExportFilters:
        d = self.cleaned_data
        return ExportFilters(
            family=d.get("family") or "",
            status=d.get("status") or "",
            since=d.get("since"),
            until=d.get("until"),
            include_invalid=bool(d.get("include_invalid")),
        )
