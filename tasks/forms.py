from django import forms

from config import limits
from tasks.models import TaskStatus


class UploadForm(forms.Form):
    archive = forms.FileField(help_text="A .zip or .tar(.gz) of one family directory or of several.")


class StatusForm(forms.Form):
    status = forms.ChoiceField(choices=TaskStatus.choices)
    note = forms.CharField(
        required=False,
        max_length=limits.STATUS_NOTE,
        widget=forms.TextInput(attrs={"placeholder": "Why (optional)"}),
    )
