"""Forms of the quote pages: they parse and render; the quote services validate and save.

Every rule (quantity > 0, discount 0–100, dates in order, the price book's currency…) lives in
`l2c.quoting.services`; a `DomainError` from there is shown beside the field with
`l2c.core.forms.show_domain_error`.
"""
from __future__ import annotations

from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from l2c.core.forms import ServiceModelForm
from l2c.core.visibility import Role

from .models import ApprovalRule, PriceBook, Product, Quote, QuoteLine, QuoteStatus

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")

HEADER_FIELDS = ["title", "contact", "price_book", "tax_country", "quote_date", "valid_until", "payment_terms",
                 "header_discount_percent", "contract_start", "contract_term_months", "auto_renew", "notice_days",
                 "terms", "notes"]
CREATE_FIELDS = ["title", "contact", "price_book", "valid_until", "payment_terms", "contract_start",
                 "contract_term_months", "auto_renew", "notice_days", "terms", "notes"]


class _QuoteHeaderBase(ServiceModelForm):
    """The quote's header fields. `account` limits the contact choices to the customer's contacts."""

    def __init__(self, *args, account=None, **kwargs):
        super().__init__(*args, **kwargs)
        if "contact" in self.fields:
            from l2c.customers.models import Contact

            contacts = Contact.objects.filter(account_id=getattr(account, "pk", None)).order_by("last_name",
                                                                                                 "first_name")
            self.fields["contact"].queryset = contacts
            self.fields["contact"].label_from_instance = lambda c: c.full_name
        if "price_book" in self.fields:
            self.fields["price_book"].queryset = PriceBook.objects.filter(active=True).order_by("currency", "name")
            self.fields["price_book"].required = False
        if self.instance is not None and self.instance.pk and "header_discount_percent" in self.fields:
            self.initial["header_discount_percent"] = _plain(self.instance.header_discount_percent)
        for name in ("terms", "notes"):
            if name in self.fields:
                self.fields[name].widget.attrs["rows"] = 3


class QuoteCreateForm(_QuoteHeaderBase):
    """A new quote from an opportunity: account, contact and currency come from the opportunity."""

    class Meta:
        model = Quote
        fields = CREATE_FIELDS
        widgets = {"valid_until": DATE, "contract_start": DATE}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The service defaults the validity (today + 30 days); the field may stay empty.
        self.fields["valid_until"].required = False

    def service_values(self) -> dict:
        """cleaned_data without the empty optional values, so the service's defaults apply."""
        return {name: value for name, value in self.cleaned_data.items()
                if value not in (None, "") or name in ("title", "terms", "notes")}


class QuoteHeaderForm(_QuoteHeaderBase):
    class Meta:
        model = Quote
        fields = HEADER_FIELDS
        widgets = {"quote_date": DATE, "valid_until": DATE, "contract_start": DATE}


class QuoteFilterForm(forms.Form):
    """The quote list's search and filters (parsed loosely: the selector rejects bad values)."""

    q = forms.CharField(required=False, label=_("Search"))
    status = forms.ChoiceField(required=False, label=_("Status"),
                               choices=[("", _("Any status"))] + list(QuoteStatus.choices))
    owner = forms.CharField(required=False, label=_("Owner"))
    ordering = forms.CharField(required=False)


def _plain(value: Decimal) -> str:
    """A stored decimal without its trailing zeros: 3.0000 → "3", 12.5000 → "12.5"."""
    text = f"{Decimal(value):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _product_label(product: Product, prices: dict) -> str:
    entry = prices.get(product.pk)
    if entry is None:
        return f"{product.sku} · {product.name} — {_('not in the price book')}"
    return f"{product.sku} · {product.name} — {entry}"


class LineForm(ServiceModelForm):
    """Add a line: a product from the catalogue (active ones), quantity, discount and the rest.

    `prices` maps product id → the list price text shown in the picker (from the quote's price book).
    """

    class Meta:
        model = QuoteLine
        fields = ["product", "quantity", "discount_percent", "list_price", "optional", "section", "description",
                  "service_start", "service_end"]
        widgets = {"service_start": DATE, "service_end": DATE,
                   "description": forms.TextInput(), "quantity": forms.NumberInput(attrs={"step": "any"}),
                   "list_price": forms.NumberInput(attrs={"step": "any"}),
                   "discount_percent": forms.NumberInput(attrs={"step": "any"})}

    def __init__(self, *args, prices: dict | None = None, form_id: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        prices = prices or {}
        if "product" in self.fields:
            product = self.fields["product"]
            product.queryset = Product.objects.filter(active=True).order_by("sku")
            product.label_from_instance = lambda p: _product_label(p, prices)
            product.empty_label = _("Choose a product…")
        self.fields["list_price"].required = False
        self.fields["list_price"].help_text = _("Empty: the price book's price.")
        self.fields["quantity"].required = True
        self.fields["discount_percent"].required = False
        self.fields["section"].widget.attrs["placeholder"] = _("Section, e.g. Hardware")
        self.fields["description"].widget.attrs["placeholder"] = _("Description shown to the customer")
        if self.instance is not None and self.instance.pk:
            # 3 rather than 3.0000 in the inputs
            for name in ("quantity", "list_price", "discount_percent"):
                value = getattr(self.instance, name)
                if value is not None:
                    self.initial[name] = _plain(value)
        if form_id:
            # Inputs sit in table cells; they belong to the row's <form id=…> through the form attribute.
            for field in self.fields.values():
                field.widget.attrs["form"] = form_id

    @property
    def has_service_period(self) -> bool:
        """Whether the line's row offers service dates: subscriptions, or a line that has them."""
        line = self.instance
        return bool(line.pk and (line.product.kind == "subscription" or line.service_start or line.service_end
                                 or self.errors.get("service_start") or self.errors.get("service_end")))

    def service_values(self) -> dict:
        values = dict(self.cleaned_data)
        if values.get("discount_percent") is None:
            values["discount_percent"] = 0
        if values.get("list_price") is None:
            values.pop("list_price", None)
        return values


class LineEditForm(LineForm):
    """Change a line (the product stays; delete the line to pick another)."""

    class Meta(LineForm.Meta):
        fields = ["section", "description", "quantity", "list_price", "discount_percent", "optional",
                  "service_start", "service_end"]

    def service_values(self) -> dict:
        values = {name: self.cleaned_data[name] for name in self.changed_data if name in self.cleaned_data}
        if "discount_percent" in values and values["discount_percent"] is None:
            values["discount_percent"] = 0
        if "list_price" in values and values["list_price"] is None:
            values["list_price"] = None  # back to the price book's price
        return values


class DecisionForm(forms.Form):
    comment = forms.CharField(required=False, label=_("Comment"), widget=forms.Textarea(attrs={"rows": 2}))


APPROVER_ROLE_CHOICES = [(Role.MANAGER.value, Role.MANAGER.label), (Role.FINANCE.value, Role.FINANCE.label),
                         (Role.ADMIN.value, Role.ADMIN.label)]


class ApprovalRuleForm(ServiceModelForm):
    approver_roles = forms.MultipleChoiceField(label=_("Approver roles"), choices=APPROVER_ROLE_CHOICES,
                                               widget=forms.CheckboxSelectMultiple,
                                               help_text=_("Anyone with one of these roles may approve."))

    class Meta:
        model = ApprovalRule
        fields = ["name", "measure", "threshold_percent", "approver_roles", "level", "active"]
        widgets = {"threshold_percent": forms.NumberInput(attrs={"step": "any"})}
