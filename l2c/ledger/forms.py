"""Forms of the ledger pages: they parse input for the services, which hold the rules."""
from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from l2c.core.money import COMMON_CURRENCIES
from l2c.customers.models import Account

from .models import AccountType, Journal, LedgerAccount, NormalBalance

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def journal_choices():
    return [(j.code, f"{j.code} — {j.name}") for j in Journal.objects.filter(is_active=True).order_by("code")]


def account_choices(*, active_only: bool = True, blank: bool = True):
    qs = LedgerAccount.objects.order_by("code")
    if active_only:
        qs = qs.filter(is_active=True)
    return ([("", "—")] if blank else []) + [(a.code, f"{a.code} {a.name}") for a in qs]


class EntryFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=200)
    date_from = forms.DateField(label=_("From"), required=False, widget=DATE)
    date_to = forms.DateField(label=_("To"), required=False, widget=DATE)
    journal = forms.ChoiceField(label=_("Journal"), required=False)
    account = forms.ChoiceField(label=pgettext_lazy("ledger account", "Account"), required=False)
    source_type = forms.CharField(label=_("Source type"), required=False, max_length=60)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["journal"].choices = [("", _("All journals"))] + journal_choices()
        self.fields["account"].choices = [("", _("All accounts"))] + account_choices(active_only=False, blank=False)


class EntryForm(forms.Form):
    date = forms.DateField(label=_("Date"), widget=DATE)
    journal = forms.ChoiceField(label=_("Journal"))
    memo = forms.CharField(label=_("Memo"), max_length=500, required=False, widget=forms.TextInput(attrs={"class": "wide"}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["journal"].choices = journal_choices()


class LineForm(forms.Form):
    account = forms.ChoiceField(label=pgettext_lazy("ledger account", "Account"), required=False)
    debit = forms.DecimalField(label=_("Debit"), required=False, max_digits=20, decimal_places=4)
    credit = forms.DecimalField(label=_("Credit"), required=False, max_digits=20, decimal_places=4)
    currency = forms.CharField(label=_("Currency"), required=False, max_length=3,
                               widget=forms.TextInput(attrs={"list": "currencies", "size": 4}))
    amount = forms.DecimalField(label=_("Amount in currency"), required=False, max_digits=24, decimal_places=4)
    rate = forms.DecimalField(label=_("Rate"), required=False, max_digits=24, decimal_places=10)
    customer = forms.ModelChoiceField(label=_("Customer"), required=False, queryset=Account.objects.none())
    description = forms.CharField(label=_("Description"), required=False, max_length=300)

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["account"].choices = account_choices()
        self.fields["customer"].queryset = Account.objects.restrict(user).order_by("name")

    def is_blank(self) -> bool:
        data = getattr(self, "cleaned_data", {}) or {}
        return not any(data.get(name) not in (None, "") for name in ("account", "debit", "credit", "amount"))


class BaseLineFormSet(forms.BaseFormSet):
    def __init__(self, *args, user=None, **kwargs):
        self.user = user
        super().__init__(*args, **kwargs)

    def get_form_kwargs(self, index):
        return {**super().get_form_kwargs(index), "user": self.user}


LineFormSet = forms.formset_factory(LineForm, formset=BaseLineFormSet, extra=4, max_num=100, absolute_max=100)

CURRENCIES = COMMON_CURRENCIES


class ReverseForm(forms.Form):
    date = forms.DateField(label=_("Reversal date"), required=False, widget=DATE,
                           help_text=_("Empty: the entry's date (its period must be open)."))
    memo = forms.CharField(label=_("Memo"), required=False, max_length=500)


class AccountForm(forms.Form):
    code = forms.CharField(label=_("Code"), max_length=20)
    name = forms.CharField(label=_("Name"), max_length=200)
    type = forms.ChoiceField(label=_("Type"), choices=AccountType.choices)
    normal_balance = forms.ChoiceField(label=_("Normal balance"), required=False,
                                       choices=[("", _("From the type"))] + NormalBalance.choices)
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)
    is_control = forms.BooleanField(label=_("Control account (lines name a customer)"), required=False)
    description = forms.CharField(label=_("Description"), required=False, max_length=500)


class RateForm(forms.Form):
    currency = forms.CharField(label=_("Currency"), max_length=3, widget=forms.TextInput(attrs={"list": "currencies"}))
    date = forms.DateField(label=_("Date"), widget=DATE)
    rate = forms.CharField(label=_("Rate"), max_length=40,
                           help_text=_("Units of the company currency per unit of this currency."))


class RateImportForm(forms.Form):
    file = forms.FileField(label=_("CSV file"), help_text=_("Columns: currency, date (YYYY-MM-DD), rate."))


class AsOfForm(forms.Form):
    as_of = forms.DateField(label=_("As of"), required=False, widget=DATE)


class GeneralLedgerForm(forms.Form):
    account = forms.ChoiceField(label=pgettext_lazy("ledger account", "Account"))
    date_from = forms.DateField(label=_("From"), required=False, widget=DATE)
    date_to = forms.DateField(label=_("To"), required=False, widget=DATE)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["account"].choices = account_choices(active_only=False, blank=False)
