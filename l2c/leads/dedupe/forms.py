"""The merge screen's form: which record survives, and per field which record's value wins."""
from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from .services import MergeSpec, default_choices


def choice_field_name(key: str) -> str:
    return f"pick_{key}"


class MergeForm(forms.Form):
    """Built for the records being merged: `survivor` and one `pick_<field>` radio group per field."""

    survivor = forms.TypedChoiceField(label=_("Survivor"), coerce=int, widget=forms.RadioSelect)

    def __init__(self, data=None, *, spec: MergeSpec, records: list, survivor_id: int | None = None):
        super().__init__(data)
        self.spec = spec
        self.records = records
        ids = [(r.pk, str(r.pk)) for r in records]
        self.fields["survivor"].choices = ids
        self.survivor_id = survivor_id if survivor_id in {r.pk for r in records} else default_survivor(spec, records)
        self.fields["survivor"].initial = self.survivor_id
        by_id = {r.pk: r for r in records}
        self.defaults = default_choices(spec, by_id[self.survivor_id], records)
        for key in spec.fields:
            self.fields[choice_field_name(key)] = forms.TypedChoiceField(
                coerce=int, choices=ids, required=False, initial=self.defaults[key], widget=forms.RadioSelect)

    def picked(self) -> dict[str, int]:
        """The chosen source per field (after is_valid): posted picks over the defaults."""
        out = {}
        for key in self.spec.fields:
            value = self.cleaned_data.get(choice_field_name(key))
            out[key] = value if value not in (None, "") else self.defaults[key]
        return out

    def current_pick(self, key: str) -> int:
        """The pick to show checked: the posted one (when it names a record of this merge), else the default."""
        if self.is_bound:
            raw = self.data.get(choice_field_name(key))
            if raw and raw.isdigit() and int(raw) in {r.pk for r in self.records}:
                return int(raw)
        return self.defaults[key]


def default_survivor(spec: MergeSpec, records: list) -> int:
    """A converted lead must survive; otherwise the oldest record (the one others were created after)."""
    converted = [r for r in records if getattr(r, "status", None) == "converted"]
    if converted:
        return converted[0].pk
    return min(records, key=lambda r: (r.created_at, r.pk)).pk
