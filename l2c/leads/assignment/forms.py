"""Forms for the assignment pages: they parse; the services validate and save."""
from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from l2c.core.validation import assignable_owners

from ..choices import LeadSource
from ..models import AssignmentRule, Campaign
from . import selectors
from .services import MAX_PRIORITY

AUTO = "auto"


class RuleForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=AssignmentRule._meta.get_field("name").max_length)
    priority = forms.IntegerField(label=_("Priority"), required=False, min_value=0, max_value=MAX_PRIORITY,
                                  help_text=_("Lower runs first. Empty: after every other rule."))
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)
    countries = forms.CharField(label=_("Countries"), required=False, max_length=1000,
                                widget=forms.TextInput(attrs={"placeholder": "CN, HK, TW"}),
                                help_text=_("ISO country codes separated by commas. Empty: any country."))
    sources = forms.MultipleChoiceField(label=_("Sources"), required=False, choices=LeadSource.choices,
                                        widget=forms.CheckboxSelectMultiple,
                                        help_text=_("None ticked: any source."))
    campaign = forms.ModelChoiceField(label=_("Campaign"), required=False, queryset=Campaign.objects.none(),
                                      empty_label=_("Any campaign"))
    assign_to = forms.ModelChoiceField(label=_("Give every lead to"), required=False, queryset=None,
                                       empty_label=_("— nobody: use a team —"))
    team = forms.ModelChoiceField(label=_("…or take turns in team"), required=False, queryset=None,
                                  empty_label=_("— no team —"),
                                  help_text=_("Round-robin among the team's active sales reps."))

    def __init__(self, *args, user, rule: AssignmentRule | None = None, **kwargs):
        if rule is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "name": rule.name, "priority": rule.priority, "is_active": rule.is_active,
                "countries": ", ".join(rule.countries), "sources": list(rule.sources),
                "campaign": rule.campaign_id, "assign_to": rule.assign_to_id, "team": rule.team_id,
            }
        super().__init__(*args, **kwargs)
        self.fields["campaign"].queryset = Campaign.objects.restrict(user).order_by("name")
        self.fields["assign_to"].queryset = assignable_owners(user)
        self.fields["team"].queryset = selectors.routable_teams(user=user)

    def values(self) -> dict:
        """cleaned_data for the service; an update sends only what changed."""
        data = dict(self.cleaned_data)
        if data.get("priority") is None and not self.initial:
            data.pop("priority", None)
        if self.initial:
            data = {name: data[name] for name in self.changed_data if name in data}
            if "assign_to" in data or "team" in data:  # the target is one choice: send both halves
                data["assign_to"], data["team"] = self.cleaned_data["assign_to"], self.cleaned_data["team"]
            if "priority" in data and data["priority"] is None:
                data.pop("priority")
        return data


class RuleTestForm(forms.Form):
    country = forms.CharField(label=_("Country"), required=False, max_length=2,
                              widget=forms.TextInput(attrs={"placeholder": "CN", "class": "input-code"}))
    source = forms.ChoiceField(label=_("Source"), required=False, choices=[("", _("Any source")), *LeadSource.choices])
    campaign = forms.ModelChoiceField(label=_("Campaign"), required=False, queryset=Campaign.objects.none(),
                                      empty_label=_("No campaign"))

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["campaign"].queryset = Campaign.objects.restrict(user).order_by("name")

    def clean_country(self):
        from l2c.core.validation import is_country_code

        value = (self.cleaned_data.get("country") or "").strip().upper()
        if value and not is_country_code(value):
            raise forms.ValidationError(_("%(value)s is not an ISO 3166-1 alpha-2 country code (e.g. CN, US, GB)."),
                                        params={"value": value})
        return value


class QueueFilterForm(forms.Form):
    country = forms.CharField(label=_("Country"), required=False, max_length=2)
    source = forms.ChoiceField(label=_("Source"), required=False, choices=[("", _("Any source")), *LeadSource.choices])
    campaign = forms.ModelChoiceField(label=_("Campaign"), required=False, queryset=Campaign.objects.none(),
                                      empty_label=_("Any campaign"))

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["campaign"].queryset = Campaign.objects.restrict(user).order_by("name")

    def clean_country(self):
        from l2c.core.validation import is_country_code

        value = (self.cleaned_data.get("country") or "").strip().upper()
        if value and not is_country_code(value):
            raise forms.ValidationError(_("%(value)s is not an ISO 3166-1 alpha-2 country code (e.g. CN, US, GB)."),
                                        params={"value": value})
        return value


class AssignForm(forms.Form):
    """Several leads → an owner, or the rules. `owner` is a user id or "auto"."""

    lead = forms.TypedMultipleChoiceField(coerce=int, required=True, choices=(),
                                          error_messages={"required": _("Select at least one lead.")})
    owner = forms.ChoiceField(label=_("Assign to"), required=True)

    def __init__(self, *args, user, lead_ids=(), allow_unassign: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["lead"].choices = [(pk, pk) for pk in lead_ids]
        choices = [("", _("— choose —")), (AUTO, _("Apply the assignment rules"))]
        if allow_unassign:
            choices.append(("none", _("Nobody (back to the unassigned queue)")))
        choices += [(str(u.pk), str(u)) for u in assignable_owners(user)]
        self.fields["owner"].choices = choices
