"""The audit page's filters, read from the query string; times are in the reader's zone."""

from django import forms

from reviewapp.core.audit.search import AuditFilter


class AuditFilterForm(forms.Form):
    actor = forms.CharField(required=False, max_length=150, label="By")
    object_type = forms.CharField(required=False, max_length=80, label="Object type")
    object_id = forms.CharField(required=False, max_length=64, label="Object id")
    action = forms.CharField(required=False, max_length=80, label="Action")
    since = forms.DateTimeField(
        required=False,
        label="From",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
    )
    until = forms.DateTimeField(
        required=False,
        label="To",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
    )

    def clean(self):
        cleaned = super().clean() or {}
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since >= until:
            self.add_error("until", "“To” must be later than “From”.")
        return cleaned

    def audit_filter(self) -> AuditFilter:
        data = self.cleaned_data
        return AuditFilter(
            actor=data["actor"].strip(),
            object_type=data["object_type"].strip().lower(),
            object_id=data["object_id"].strip(),
            action=data["action"].strip(),
            since=data["since"],
            until=data["until"],
        )
