from __future__ import annotations

from django import forms

from horizons.models import HumanTimes


class RunsUploadForm(forms.Form):
    runs = forms.FileField(
        required=False, help_text="METR run file (JSON Lines or CSV) or an Inspect eval log (.eval or .json)"
    )
    inspect_map = forms.FileField(
        required=False,
        help_text='Inspect logs: optional task map, JSON {"inspect_task/sample_id": "family/name", '
        '"inspect_task/*": "family/{id}"}',
    )
    threshold = forms.FloatField(
        required=False, help_text="Inspect logs: a run succeeds when its score is at least this (default 1.0)"
    )
    skip_unmatched = forms.BooleanField(
        required=False, help_text="Inspect logs: leave out samples that map to no platform task"
    )
    human_times = forms.ChoiceField(
        choices=HumanTimes.choices, initial=HumanTimes.PLATFORM, widget=forms.RadioSelect
    )
    release_dates = forms.FileField(required=False, help_text="optional CSV: agent,release_date")

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if not data.get("runs") and not data.get("release_dates"):
            raise forms.ValidationError("choose a file of runs (or of release dates)")
        return data


class FitForm(forms.Form):
    weighting = forms.ChoiceField(
        choices=[("invsqrt", "invsqrt (METR's default)"), ("equal", "equal per task"), ("none", "none")],
        required=False,
    )
    legacy = forms.BooleanField(required=False, help_text="METR's published setting: C=10")
