"""Forms of the catalogue pages: they parse and render; the catalogue services validate and save."""
from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from l2c.core.forms import ServiceModelForm

from .models import BillingPeriod, PriceBook, PricingMethod, Product, ProductKind, RevenueRule, TaxRate
from .selectors_catalogue import PRICE_BOOK_ORDERING, PRODUCT_ORDERING


def _ordering_choices(allowed: dict) -> list[tuple[str, str]]:
    return [("", "")] + [(v, v) for key in allowed for v in (key, f"-{key}")]


DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class ProductForm(ServiceModelForm):
    revenue_rule = forms.ChoiceField(
        label=_("Revenue rule"), required=False,
        choices=[("", _("Default for the type")), *RevenueRule.choices],
        help_text=_("Subscriptions are recognised ratably and milestone services on milestones unless you choose "
                    "otherwise; a good is always recognised at a point in time."))
    billing_period = forms.ChoiceField(label=_("Billing period"), required=False,
                                       choices=[("", _("— none —")), *BillingPeriod.choices],
                                       help_text=_("Subscriptions only: how often the price recurs."))

    class Meta:
        model = Product
        fields = ["sku", "name", "kind", "billing_period", "unit", "tax_category", "revenue_rule", "active",
                  "description"]
        widgets = {"sku": forms.TextInput(attrs={"autocapitalize": "characters", "spellcheck": "false"})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is None and not self.is_bound:
            self.initial.setdefault("revenue_rule", "")


class SspRowForm(forms.Form):
    currency = forms.CharField(label=_("Currency"), required=False, max_length=3,
                               widget=forms.TextInput(attrs={"placeholder": "USD", "size": 4, "class": "input-narrow"}))
    amount = forms.CharField(label=_("Standalone selling price"), required=False, max_length=40,
                             widget=forms.TextInput(attrs={"inputmode": "decimal", "placeholder": "0.00"}))


SspFormSet = forms.formset_factory(SspRowForm, extra=2, max_num=50)


def ssp_from_formset(formset) -> dict[str, str]:
    """{currency: amount} from the rows with an amount (a row whose amount was cleared removes that price;
    a currency given twice is left to the service to report)."""
    ssp: dict[str, str] = {}
    for row in formset.cleaned_data:
        currency = (row.get("currency") or "").strip()
        amount = (row.get("amount") or "").strip()
        if not amount:
            continue
        key = currency or "?"
        while key in ssp:  # keep both so the service names the duplicate
            key = key.lower() if key != key.lower() else key + " "
        ssp[key] = amount
    return ssp


class ProductFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=200)
    kind = forms.ChoiceField(label=_("Type"), required=False, choices=[("", _("Any type")), *ProductKind.choices])
    active = forms.ChoiceField(label=_("Status"), required=False,
                               choices=[("", _("Active and inactive")), ("yes", _("Active")), ("no", _("Inactive"))])
    ordering = forms.ChoiceField(required=False, choices=_ordering_choices(PRODUCT_ORDERING), widget=forms.HiddenInput)


class PriceBookForm(ServiceModelForm):
    class Meta:
        model = PriceBook
        fields = ["name", "currency", "segment", "valid_from", "valid_until", "active"]
        widgets = {"currency": forms.TextInput(attrs={"placeholder": "USD", "size": 4,
                                                      "autocapitalize": "characters"}),
                   "valid_from": DATE, "valid_until": DATE}


class PriceBookFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=200)
    currency = forms.CharField(label=_("Currency"), required=False, max_length=3)
    ordering = forms.ChoiceField(required=False, choices=_ordering_choices(PRICE_BOOK_ORDERING),
                                 widget=forms.HiddenInput)


class PriceBookCopyForm(forms.Form):
    name = forms.CharField(label=_("Name of the new price book"), max_length=120)
    valid_from = forms.DateField(label=_("Valid from"), required=False, widget=DATE)
    valid_until = forms.DateField(label=_("Valid until"), required=False, widget=DATE)
    uplift_percent = forms.CharField(label=_("Change prices by (%)"), required=False, max_length=20, initial="0",
                                     help_text=_("e.g. 5 for 5 % more, -10 for 10 % less; changed prices are "
                                                 "rounded to the currency's minor unit."))
    active = forms.BooleanField(label=_("Active"), required=False, initial=True)


def parse_tiers(text: str) -> list[tuple[str, str]]:
    """Tiers typed one per line as "quantity = unit price" (or "quantity: price", "quantity price")."""
    tiers = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        for separator in ("=", ":", ";", "\t", " "):
            if separator in line:
                quantity, _sep, price = line.partition(separator)
                break
        else:
            raise forms.ValidationError(_("Line %(line)d: write “quantity = unit price”, e.g. “10 = 9.00”."),
                                        params={"line": number})
        tiers.append((quantity.strip(), price.strip()))
    return tiers


def tiers_text(entry) -> str:
    from .selectors_catalogue import price_text, quantity_text

    currency = entry.price_book.currency
    return "\n".join(f"{quantity_text(t.min_quantity)} = {price_text(t.unit_price, currency)}"
                     for t in sorted(entry.tiers.all(), key=lambda t: t.min_quantity))


class EntryForm(forms.Form):
    product = forms.ModelChoiceField(label=_("Product"), queryset=Product.objects.none())
    list_price = forms.CharField(label=_("List price"), max_length=40,
                                 widget=forms.TextInput(attrs={"inputmode": "decimal", "placeholder": "0.00"}))
    pricing = forms.ChoiceField(label=_("Pricing"), choices=PricingMethod.choices, initial=PricingMethod.FLAT)
    tiers = forms.CharField(
        label=_("Tiers"), required=False, widget=forms.Textarea(attrs={"rows": 3, "placeholder": "1 = 10.00\n10 = 9.00"}),
        help_text=_("Volume and tiered pricing only: one tier per line, “from quantity = unit price”, "
                    "smallest quantity first."))

    def __init__(self, *args, price_book=None, editing=False, **kwargs):
        super().__init__(*args, **kwargs)
        if editing:
            del self.fields["product"]
        else:
            qs = Product.objects.filter(active=True).order_by("sku")
            if price_book is not None:
                qs = qs.exclude(price_entries__price_book=price_book)
            self.fields["product"].queryset = qs

    def clean_tiers(self):
        return parse_tiers(self.cleaned_data.get("tiers", ""))

    def service_values(self) -> dict:
        data = self.cleaned_data
        return {"list_price": data["list_price"], "pricing": data["pricing"],
                "tiers": [{"min_quantity": q, "unit_price": p} for q, p in data["tiers"]]}


class TaxRateForm(ServiceModelForm):
    rate = forms.CharField(label=_("Rate (%)"), max_length=20, widget=forms.TextInput(attrs={"inputmode": "decimal"}))

    class Meta:
        model = TaxRate
        fields = ["name", "country", "tax_category", "rate", "inclusive", "valid_from", "valid_until", "active"]
        widgets = {"country": forms.TextInput(attrs={"placeholder": "CN", "size": 2, "autocapitalize": "characters"}),
                   "valid_from": DATE, "valid_until": DATE}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and not self.is_bound:
            from .selectors_catalogue import quantity_text

            self.initial["rate"] = quantity_text(self.instance.rate)

    def has_changed_rate(self) -> bool:
        from decimal import Decimal, InvalidOperation

        try:
            return Decimal(self.cleaned_data["rate"]) != self.instance.rate
        except (InvalidOperation, KeyError):
            return True
