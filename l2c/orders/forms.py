"""Forms of the order pages: they parse input; the services check the rules."""
from __future__ import annotations

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import services
from .models import OrderStatus


class OrderFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=200)
    status = forms.ChoiceField(required=False, choices=[("", _("Any status")), *OrderStatus.choices])


def _date(label, required=False):
    return forms.DateField(label=label, required=required, initial=timezone.localdate,
                           widget=forms.DateInput(attrs={"type": "date"}))


class ShipForm(forms.Form):
    quantity = forms.CharField(label=_("Quantity"), max_length=40)
    date = _date(_("Shipped on"))
    carrier = forms.CharField(label=_("Carrier"), required=False, max_length=services.MAX_TEXT)
    tracking_number = forms.CharField(label=_("Tracking number"), required=False, max_length=services.MAX_TEXT)


class DateForm(forms.Form):
    date = _date(_("Date"))


class ActivateForm(forms.Form):
    service_start = forms.DateField(label=_("Service start"), required=False,
                                    widget=forms.DateInput(attrs={"type": "date"}))


class DeactivateForm(forms.Form):
    date = _date(_("Last day"), required=True)


class CancelForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=services.MAX_REASON,
                             widget=forms.Textarea(attrs={"rows": 3}))


class MilestonesForm(forms.Form):
    plan = forms.CharField(
        label=_("Milestones"), widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("One per line: name | share % | due date (YYYY-MM-DD, optional). The shares add up to 100."))

    def milestones(self) -> list[dict]:
        rows = []
        for raw in self.cleaned_data["plan"].splitlines():
            if not raw.strip():
                continue
            parts = [p.strip() for p in raw.split("|")]
            rows.append({"name": parts[0], "share": parts[1] if len(parts) > 1 else "",
                         "due_date": parts[2] if len(parts) > 2 else None})
        return rows
