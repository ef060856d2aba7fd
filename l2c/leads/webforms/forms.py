"""Forms of the web-form set-up page. They parse; the services validate and save."""
from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from l2c.core.forms import ServiceModelForm
from l2c.core.validation import assignable_owners

from ..models import Campaign, WebForm
from .fields import CAPTURE_FIELDS, MAX_LABEL

DEFAULT_FIELDS = [
    {"name": "first_name", "label": "", "required": False},
    {"name": "last_name", "label": "", "required": True},
    {"name": "email", "label": "", "required": True},
    {"name": "company", "label": "", "required": False},
    {"name": "description", "label": "", "required": False},
]


class WebFormForm(ServiceModelForm):
    """The form's settings; its field list comes from the rows of `field_rows` (one per lead field)."""

    # plain text: the service checks it is an http(s) address (one place for the rule)
    redirect_url = forms.CharField(label=_("redirect after submit"), required=False, max_length=500,
                                   widget=forms.URLInput(attrs={"placeholder": "https://www.example.com/thanks"}))

    class Meta:
        model = WebForm
        fields = ["name", "is_active", "campaign", "source", "owner", "consent_text", "consent_required",
                  "thank_you_text", "redirect_url", "allowed_origins"]
        widgets = {"consent_text": forms.Textarea(attrs={"rows": 3}),
                   "thank_you_text": forms.Textarea(attrs={"rows": 3}),
                   "allowed_origins": forms.Textarea(attrs={"rows": 3, "placeholder": "https://www.example.com"})}

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["campaign"].queryset = Campaign.objects.restrict(user).order_by("name")
        self.fields["campaign"].empty_label = _("— none —")
        self.fields["owner"].queryset = assignable_owners(user)
        self.fields["owner"].empty_label = _("Assignment rules decide")
        current = self.instance.fields if self.instance.pk else DEFAULT_FIELDS
        self.field_rows = self._rows(current)
        self.field_errors: list[str] = []

    def _rows(self, current: list[dict]) -> list[dict]:
        """One row per capturable lead field: included?, label, required?, position (the form's order)."""
        by_name = {item["name"]: (pos, item) for pos, item in enumerate(current, start=1)}
        rows = []
        for name, spec in CAPTURE_FIELDS.items():
            if self.is_bound:
                on = self.data.get(f"f_{name}_on") == "on"
                label = (self.data.get(f"f_{name}_label") or "")[:MAX_LABEL * 2]
                required = self.data.get(f"f_{name}_req") == "on"
                position = self.data.get(f"f_{name}_pos") or ""
            else:
                pos, item = by_name.get(name, (None, {}))
                on, label, required = name in by_name, item.get("label", ""), bool(item.get("required"))
                position = str(pos) if pos else ""
            rows.append({"name": name, "default_label": spec.label, "on": on, "label": label,
                         "required": required, "position": position})
        return rows

    def cleaned_fields(self) -> list[dict]:
        """The included rows in the chosen order (by position, then the catalogue order)."""
        def order(row_index):
            index, row = row_index
            try:
                return (int(row["position"]), index)
            except (TypeError, ValueError):
                return (10_000, index)

        included = [(i, row) for i, row in enumerate(self.field_rows) if row["on"]]
        return [{"name": row["name"], "label": row["label"].strip(), "required": row["required"]}
                for _i, row in sorted(included, key=order)]

    def service_values(self) -> dict:
        values = dict(self.cleaned_data)
        values["fields"] = self.cleaned_fields()
        return values
