"""Forms for the leads and campaigns pages: they parse; the services validate and save."""
from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from l2c.core.forms import ServiceModelForm
from l2c.core.money import COMMON_CURRENCIES
from l2c.customers.forms import OwnerChoiceMixin, owner_filter_choices
from l2c.customers.models import CompanySize

from .choices import CampaignStatus, CampaignType, LeadSource, LeadStatus
from .models import Campaign, Lead
from .selectors import CAMPAIGN_ORDERING, LEAD_ORDERING


def _ordering_choices(allowed: dict) -> list[tuple[str, str]]:
    return [("", "")] + [(v, v) for key in allowed for v in (key, f"-{key}")]


class LeadForm(OwnerChoiceMixin, ServiceModelForm):
    company_size = forms.ChoiceField(label=_("Company size"), required=False,
                                     choices=[("", "—"), *CompanySize.choices])

    class Meta:
        model = Lead
        fields = ["first_name", "last_name", "title", "email", "phone", "company", "website", "industry",
                  "company_size", "city", "country", "language", "source", "campaign", "owner", "utm_source", "utm_medium",
                  "utm_campaign", "utm_term", "utm_content", "consent_basis", "consent_source", "description"]
        widgets = {"country": forms.TextInput(attrs={"placeholder": "CN"}),
                   "description": forms.Textarea(attrs={"rows": 4})}
        labels = {"utm_source": _("UTM source"), "utm_medium": _("UTM medium"), "utm_campaign": _("UTM campaign"),
                  "utm_term": _("UTM term"), "utm_content": _("UTM content")}

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.setup_owner(user, creating=self.instance.pk is None)
        self.fields["campaign"].queryset = Campaign.objects.restrict(user).order_by("name")
        self.fields["campaign"].empty_label = _("— none —")
        self.fields["source"].initial = LeadSource.MANUAL
        if self.instance.pk is None:
            self.fields["auto_assign"] = forms.BooleanField(
                label=_("Let the assignment rules choose the owner"), required=False,
                help_text=_("The owner above is then ignored; without a matching rule you keep the lead "
                            "(managers: it waits in the unassigned queue)."))

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("auto_assign"):
            # the rules decide; a rep's required owner field must not block that choice
            self.errors.pop("owner", None)
            cleaned.pop("owner", None)
        return cleaned


class StatusForm(forms.Form):
    status = forms.ChoiceField(choices=LeadStatus.choices)
    reason = forms.CharField(required=False, max_length=Lead._meta.get_field("disqualified_reason").max_length)


class LeadFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=200)
    status = forms.ChoiceField(label=_("Status"), required=False, choices=[("", _("Any status")), *LeadStatus.choices])
    source = forms.ChoiceField(label=_("Source"), required=False, choices=[("", _("Any source")), *LeadSource.choices])
    campaign = forms.ModelChoiceField(label=_("Campaign"), required=False, queryset=Campaign.objects.none(),
                                      empty_label=_("Any campaign"))
    owner = forms.ChoiceField(label=_("Owner"), required=False)
    country = forms.CharField(label=_("Country"), required=False, max_length=2)
    ordering = forms.ChoiceField(required=False, choices=_ordering_choices(LEAD_ORDERING), widget=forms.HiddenInput)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].choices = owner_filter_choices(user)
        self.fields["campaign"].queryset = Campaign.objects.restrict(user).order_by("name")


class CampaignForm(OwnerChoiceMixin, ServiceModelForm):
    currency = forms.CharField(label=_("Currency"), max_length=3, initial="USD",
                               widget=forms.TextInput(attrs={"list": "currency-codes", "placeholder": "USD"}))

    class Meta:
        model = Campaign
        fields = ["name", "type", "status", "start_date", "end_date", "currency", "budget", "cost", "owner",
                  "description"]
        widgets = {"start_date": forms.DateInput(attrs={"type": "date"}),
                   "end_date": forms.DateInput(attrs={"type": "date"}),
                   "description": forms.Textarea(attrs={"rows": 4})}

    currencies = COMMON_CURRENCIES

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.setup_owner(user, creating=self.instance.pk is None)
        # the owner of a campaign may be anyone the user may assign to; marketing often owns none
        self.fields["owner"].required = False


class CampaignFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=200)
    status = forms.ChoiceField(label=_("Status"), required=False,
                               choices=[("", _("Any status")), *CampaignStatus.choices])
    type = forms.ChoiceField(label=_("Type"), required=False, choices=[("", _("Any type")), *CampaignType.choices])
    ordering = forms.ChoiceField(required=False, choices=_ordering_choices(CAMPAIGN_ORDERING),
                                 widget=forms.HiddenInput)
