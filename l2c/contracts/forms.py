"""Forms of the contract pages: they parse input; the services check the rules."""
from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from . import services
from .models import ContractStatus


class ContractFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=200)
    status = forms.ChoiceField(required=False, choices=[("", _("Any status")), *ContractStatus.choices])


class TerminateForm(forms.Form):
    date = forms.DateField(label=_("Ends on"), widget=forms.DateInput(attrs={"type": "date"}))
    reason = forms.CharField(label=_("Reason"), max_length=services.MAX_REASON, widget=forms.Textarea(attrs={"rows": 3}))
