"""Forms for the customers pages: they parse; the services validate and save."""
from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from l2c.core.forms import ServiceModelForm
from l2c.core.validation import assignable_owners

from .models import Account, CompanySize, Contact
from .selectors import ACCOUNT_ORDERING, CONTACT_ORDERING


def _ordering_choices(allowed: dict) -> list[tuple[str, str]]:
    return [("", "")] + [(v, v) for key in allowed for v in (key, f"-{key}")]


def owner_filter_choices(user) -> list[tuple[str, str]]:
    choices = [("", _("Any owner")), ("me", _("Me")), ("none", _("Unassigned"))]
    if user.is_admin or user.is_manager:
        choices += [(str(u.pk), str(u)) for u in assignable_owners(user) if u.pk != user.pk]
    return choices


class OwnerChoiceMixin:
    """Limits the owner picker to the people the user may assign to; new records default to the user."""

    def setup_owner(self, user, *, creating: bool) -> None:
        field = self.fields["owner"]
        field.queryset = assignable_owners(user)
        if user.is_admin or user.is_manager:
            field.empty_label = _("— nobody —")
        else:
            field.required = True
            field.empty_label = None
        if creating and not self.is_bound:
            self.initial.setdefault("owner", user.pk)


class AccountForm(OwnerChoiceMixin, ServiceModelForm):
    class Meta:
        model = Account
        fields = ["name", "website", "domain", "industry", "size", "segment", "phone", "street", "city", "region",
                  "postal_code", "country", "owner", "description"]
        widgets = {"country": forms.TextInput(attrs={"placeholder": "CN", "size": 2, "autocapitalize": "characters"}),
                   "website": forms.TextInput(attrs={"placeholder": "https://example.com"})}

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.setup_owner(user, creating=self.instance.pk is None)


class ContactForm(OwnerChoiceMixin, ServiceModelForm):
    class Meta:
        model = Contact
        fields = ["account", "first_name", "last_name", "title", "email", "phone", "mobile", "country", "owner"]
        widgets = {"country": forms.TextInput(attrs={"placeholder": _("same as the account")})}

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.setup_owner(user, creating=self.instance.pk is None)
        self.fields["account"].queryset = Account.objects.restrict(user).order_by("name")


class AccountFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=200)
    owner = forms.ChoiceField(label=_("Owner"), required=False)
    country = forms.CharField(label=_("Country"), required=False, max_length=2)
    size = forms.ChoiceField(label=_("Size"), required=False, choices=[("", _("Any size")), *CompanySize.choices])
    ordering = forms.ChoiceField(required=False, choices=_ordering_choices(ACCOUNT_ORDERING), widget=forms.HiddenInput)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].choices = owner_filter_choices(user)


class ContactFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=200)
    owner = forms.ChoiceField(label=_("Owner"), required=False)
    country = forms.CharField(label=_("Country"), required=False, max_length=2)
    account = forms.IntegerField(required=False, widget=forms.HiddenInput, min_value=1)
    ordering = forms.ChoiceField(required=False, choices=_ordering_choices(CONTACT_ORDERING), widget=forms.HiddenInput)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].choices = owner_filter_choices(user)


def valid_filters(form: forms.Form) -> dict:
    """The filter values that parsed; an invalid one is ignored (and shown as an error)."""
    form.is_valid()
    data = getattr(form, "cleaned_data", {})
    return {k: v for k, v in data.items() if v not in (None, "") and k not in form.errors}
