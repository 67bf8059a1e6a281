from django import forms

from tasks.models import TaskStatus


class UploadForm(forms.Form):
    archive = forms.FileField(help_text="A .zip or .tar(.gz) of one family directory or of several.")


class StatusForm(forms.Form):
    status = forms.ChoiceField(choices=TaskStatus.choices)
    note = forms.CharField(required=False, widget=forms.TextInput(attrs={"placeholder": "Why (optional)"}))
