"""Quoting: the catalogue (products, price books, tax rates), quotes with versions and lines, discount
approval rules and approvals, and the editable HTML template quote PDFs are made from.

Money columns are Decimal (max_digits=20, decimal_places=4 for prices, 2… for totals by currency: totals
are rounded by `core.money.round_money` in `quoting.pricing`, the one place quote arithmetic happens).
"""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from l2c.core.models import TimeStampedModel
from l2c.core.visibility import VisibleQuerySet

PRICE = {"max_digits": 20, "decimal_places": 4}  # unit prices: 4 places (e.g. 0.1234 per API call)
AMOUNT = {"max_digits": 20, "decimal_places": 4}  # line and document totals, rounded to the currency
PERCENT = {"max_digits": 7, "decimal_places": 4}  # 0–100 with 4 places (e.g. 12.5000)
QUANTITY = {"max_digits": 18, "decimal_places": 4}


class ProductKind(models.TextChoices):
    GOOD = "good", _("One-time good")
    SERVICE = "service", _("One-time service")
    SUBSCRIPTION = "subscription", _("Recurring subscription")
    MILESTONE = "milestone", _("Milestone service")


class BillingPeriod(models.TextChoices):
    MONTH = "month", _("Monthly")
    QUARTER = "quarter", _("Quarterly")
    YEAR = "year", _("Yearly")


class RevenueRule(models.TextChoices):
    POINT_IN_TIME = "point_in_time", _("Point in time, on fulfilment")
    RATABLE = "ratable", _("Ratably over the service period")
    MILESTONE = "milestone", _("On milestones")


class Product(TimeStampedModel):
    sku = models.CharField(_("SKU"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    kind = models.CharField(_("type"), max_length=20, choices=ProductKind.choices, default=ProductKind.GOOD)
    billing_period = models.CharField(_("billing period"), max_length=10, choices=BillingPeriod.choices, blank=True,
                                      help_text=_("Subscriptions only: how often the price recurs."))
    unit = models.CharField(_("unit"), max_length=30, default="each")
    tax_category = models.CharField(_("tax category"), max_length=40, default="standard",
                                    help_text=_("Matched with the tax rates of the customer's country, "
                                                "e.g. standard, services, zero."))
    revenue_rule = models.CharField(_("revenue rule"), max_length=20, choices=RevenueRule.choices,
                                    default=RevenueRule.POINT_IN_TIME)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["sku"]
        verbose_name = _("product")
        verbose_name_plural = _("products")
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind="subscription") | ~Q(billing_period=""), name="product_subscription_has_period"),
        ]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"


class StandaloneSellingPrice(models.Model):
    """The product's standalone selling price in one currency (used to allocate revenue)."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="ssps")
    currency = models.CharField(_("currency"), max_length=3)
    amount = models.DecimalField(_("standalone selling price"), **PRICE)

    class Meta:
        verbose_name = _("standalone selling price")
        constraints = [
            models.UniqueConstraint(fields=["product", "currency"], name="ssp_unique_product_currency"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="ssp_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.product_id} {self.amount} {self.currency}"


class PriceBook(TimeStampedModel):
    """List prices in one currency, for a customer segment ("" = every segment), valid between dates."""

    name = models.CharField(_("name"), max_length=120)
    currency = models.CharField(_("currency"), max_length=3)
    segment = models.CharField(_("segment"), max_length=40, blank=True,
                               help_text=_("Customer segment this book is for; empty for every segment."))
    valid_from = models.DateField(_("valid from"), null=True, blank=True)
    valid_until = models.DateField(_("valid until"), null=True, blank=True)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["currency", "segment", "name"]
        verbose_name = _("price book")
        verbose_name_plural = _("price books")
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_from__isnull=True) | Q(valid_until__isnull=True) | Q(valid_until__gte=models.F("valid_from")),
                name="price_book_dates_in_order"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.currency})"


class PricingMethod(models.TextChoices):
    FLAT = "flat", _("List price")
    VOLUME = "volume", _("Volume: the tier of the total quantity prices every unit")
    TIERED = "tiered", _("Tiered: each tier prices the units inside it")


class PriceBookEntry(models.Model):
    price_book = models.ForeignKey(PriceBook, on_delete=models.CASCADE, related_name="entries")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="price_entries")
    list_price = models.DecimalField(_("list price"), **PRICE)
    pricing = models.CharField(_("pricing"), max_length=10, choices=PricingMethod.choices, default=PricingMethod.FLAT)

    class Meta:
        verbose_name = _("price book entry")
        constraints = [
            models.UniqueConstraint(fields=["price_book", "product"], name="price_entry_unique_book_product"),
            models.CheckConstraint(condition=Q(list_price__gte=0), name="price_entry_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.price_book_id}/{self.product_id}: {self.list_price}"


class PriceTier(models.Model):
    """From `min_quantity` units on, `unit_price` applies (volume or tiered, per the entry)."""

    entry = models.ForeignKey(PriceBookEntry, on_delete=models.CASCADE, related_name="tiers")
    min_quantity = models.DecimalField(_("from quantity"), **QUANTITY)
    unit_price = models.DecimalField(_("unit price"), **PRICE)

    class Meta:
        ordering = ["min_quantity"]
        constraints = [
            models.UniqueConstraint(fields=["entry", "min_quantity"], name="price_tier_unique_min"),
            models.CheckConstraint(condition=Q(min_quantity__gte=0) & Q(unit_price__gte=0), name="price_tier_not_negative"),
        ]

    def __str__(self) -> str:
        return f"≥{self.min_quantity}: {self.unit_price}"


class TaxRate(TimeStampedModel):
    """The tax of a category of product in a country, e.g. CN standard 13 %, CN services 6 %, GB 20 %."""

    name = models.CharField(_("name"), max_length=80)
    country = models.CharField(_("country"), max_length=2, help_text=_("ISO 3166-1 alpha-2, e.g. CN, GB"))
    tax_category = models.CharField(_("tax category"), max_length=40, default="standard")
    rate = models.DecimalField(_("rate (%)"), **PERCENT)
    inclusive = models.BooleanField(_("prices include this tax"), default=False)
    valid_from = models.DateField(_("valid from"), null=True, blank=True)
    valid_until = models.DateField(_("valid until"), null=True, blank=True)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["country", "tax_category", "-valid_from"]
        verbose_name = _("tax rate")
        verbose_name_plural = _("tax rates")
        constraints = [
            models.CheckConstraint(condition=Q(rate__gte=0) & Q(rate__lte=100), name="tax_rate_0_to_100"),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.rate}%"


class QuoteStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    PENDING_APPROVAL = "pending_approval", _("Awaiting approval")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    SENT = "sent", _("Sent")
    ACCEPTED = "accepted", _("Accepted and signed")
    DECLINED = "declined", _("Declined")
    EXPIRED = "expired", _("Expired")
    SUPERSEDED = "superseded", _("Superseded by a newer version")


class PaymentTerms(models.TextChoices):
    DUE_ON_RECEIPT = "due_on_receipt", _("Due on receipt")
    NET_15 = "net_15", _("Net 15")
    NET_30 = "net_30", _("Net 30")
    NET_45 = "net_45", _("Net 45")
    NET_60 = "net_60", _("Net 60")
    NET_90 = "net_90", _("Net 90")
    UPFRONT_50 = "upfront_50", _("Half upfront, half on delivery")
    UPFRONT_100 = "upfront_100", _("All upfront")


class QuoteQuerySet(VisibleQuerySet):
    owner_field = "owner"


class Quote(TimeStampedModel):
    """One version of a quote. Versions of the same quote share `number`; only the newest is editable.

    Editing a quote that was sent (or approved, or is awaiting approval) makes a new version; the old
    one becomes SUPERSEDED and stays read-only. Totals are stored, computed by `quoting.pricing`.
    """

    number = models.CharField(_("number"), max_length=30, db_index=True)  # QUO-2026-000123, shared by versions
    version = models.PositiveIntegerField(_("version"), default=1)
    previous_version = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT,
                                            related_name="next_version")
    opportunity = models.ForeignKey("pipeline.Opportunity", verbose_name=_("opportunity"), on_delete=models.PROTECT,
                                    related_name="quotes")
    account = models.ForeignKey("customers.Account", verbose_name=_("account"), on_delete=models.PROTECT,
                                related_name="quotes")
    contact = models.ForeignKey("customers.Contact", verbose_name=_("contact"), null=True, blank=True,
                                on_delete=models.SET_NULL, related_name="quotes")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("owner"), null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="quotes")
    title = models.CharField(_("title"), max_length=200, blank=True)
    status = models.CharField(_("status"), max_length=20, choices=QuoteStatus.choices, default=QuoteStatus.DRAFT)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    is_primary = models.BooleanField(_("primary quote"), default=False,
                                     help_text=_("The opportunity's amount follows its primary quote."))
    currency = models.CharField(_("currency"), max_length=3)
    price_book = models.ForeignKey(PriceBook, verbose_name=_("price book"), null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="quotes")
    tax_country = models.CharField(_("tax country"), max_length=2, blank=True,
                                   help_text=_("Whose tax rates apply; the account's country by default."))
    quote_date = models.DateField(_("quote date"))
    valid_until = models.DateField(_("valid until"))
    payment_terms = models.CharField(_("payment terms"), max_length=20, choices=PaymentTerms.choices,
                                     default=PaymentTerms.NET_30)
    terms = models.TextField(_("terms and conditions"), blank=True)
    notes = models.TextField(_("notes to the customer"), blank=True)
    header_discount_percent = models.DecimalField(_("quote discount (%)"), default=0, **PERCENT)
    # contract terms proposed by the quote (taken over by the contract on signature)
    contract_start = models.DateField(_("contract start"), null=True, blank=True)
    contract_term_months = models.PositiveIntegerField(_("term (months)"), default=12)
    auto_renew = models.BooleanField(_("renews automatically"), default=False)
    notice_days = models.PositiveIntegerField(_("notice period (days)"), default=30)
    # totals (quoting.pricing): list value, discounts, net, tax, gross; optional lines excluded
    list_total = models.DecimalField(_("list total"), default=0, **AMOUNT)
    discount_total = models.DecimalField(_("discount"), default=0, **AMOUNT)
    net_total = models.DecimalField(_("net total"), default=0, **AMOUNT)
    tax_total = models.DecimalField(_("tax"), default=0, **AMOUNT)
    gross_total = models.DecimalField(_("total"), default=0, **AMOUNT)
    tax_breakdown = models.JSONField(default=list, blank=True)  # [{"rate": "13", "net": "…", "tax": "…"}]
    effective_discount_percent = models.DecimalField(_("overall discount (%)"), default=0, **PERCENT)
    max_line_discount_percent = models.DecimalField(_("largest line discount (%)"), default=0, **PERCENT)
    # approval of the prices as they are now (cleared when prices change)
    approved_at = models.DateTimeField(null=True, blank=True)
    approval_fingerprint = models.CharField(max_length=64, blank=True)  # hash of the approved prices
    # the customer's side
    sent_at = models.DateTimeField(null=True, blank=True)
    viewed_at = models.DateTimeField(null=True, blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    declined_at = models.DateTimeField(null=True, blank=True)
    decline_reason = models.TextField(_("reason for declining"), blank=True)
    # the PDF as sent (the customer signs exactly this)
    sent_pdf = models.BinaryField(null=True, blank=True)
    sent_pdf_sha256 = models.CharField(max_length=64, blank=True)

    objects = QuoteQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("quote")
        verbose_name_plural = _("quotes")
        constraints = [
            models.UniqueConstraint(fields=["number", "version"], name="quote_unique_number_version"),
            models.CheckConstraint(condition=Q(header_discount_percent__gte=0) & Q(header_discount_percent__lte=100),
                                   name="quote_header_discount_0_100"),
        ]
        indexes = [
            models.Index(fields=["owner", "status"]), models.Index(fields=["opportunity", "-version"]),
            # the bottleneck report's approval and signature turnaround
            models.Index(fields=["approved_at"], include=["owner"], name="quote_approved_at"),
            models.Index(fields=["accepted_at"], include=["sent_at", "owner"], name="quote_accepted_at"),
        ]

    def __str__(self) -> str:
        return f"{self.number} v{self.version}"

    @property
    def is_editable(self) -> bool:
        """Only drafts and rejected quotes are edited in place; anything later needs a new version."""
        return self.status in (QuoteStatus.DRAFT, QuoteStatus.REJECTED)


class QuoteLine(models.Model):
    quote = models.ForeignKey(Quote, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveIntegerField(default=0)
    section = models.CharField(_("section"), max_length=120, blank=True)
    product = models.ForeignKey(Product, verbose_name=_("product"), on_delete=models.PROTECT, related_name="+")
    description = models.TextField(_("description"), blank=True)
    quantity = models.DecimalField(_("quantity"), default=1, **QUANTITY)
    unit = models.CharField(_("unit"), max_length=30, blank=True)
    list_price = models.DecimalField(_("list price"), **PRICE)  # from the price book (tier) or typed
    discount_percent = models.DecimalField(_("discount (%)"), default=0, **PERCENT)
    optional = models.BooleanField(_("optional"), default=False,
                                   help_text=_("Shown to the customer but not included in the totals."))
    service_start = models.DateField(_("service start"), null=True, blank=True)
    service_end = models.DateField(_("service end"), null=True, blank=True)
    # computed by quoting.pricing (stored so that documents and contracts read exactly what was shown)
    tax_category = models.CharField(max_length=40, blank=True)
    tax_rate = models.DecimalField(_("tax rate (%)"), default=0, **PERCENT)
    tax_inclusive = models.BooleanField(default=False)
    unit_price = models.DecimalField(_("unit price"), default=0, **PRICE)  # after the line discount
    list_amount = models.DecimalField(default=0, **AMOUNT)  # quantity × list price
    net_amount = models.DecimalField(_("net"), default=0, **AMOUNT)  # after line and header discounts, before tax
    tax_amount = models.DecimalField(_("tax"), default=0, **AMOUNT)
    gross_amount = models.DecimalField(_("amount"), default=0, **AMOUNT)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(discount_percent__gte=0) & Q(discount_percent__lte=100),
                                   name="quote_line_discount_0_100"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="quote_line_quantity_positive"),
            models.CheckConstraint(condition=Q(list_price__gte=0), name="quote_line_price_not_negative"),
            models.CheckConstraint(
                condition=Q(service_start__isnull=True) | Q(service_end__isnull=True)
                | Q(service_end__gte=models.F("service_start")),
                name="quote_line_service_dates_in_order"),
        ]

    def __str__(self) -> str:
        return f"{self.quote_id}#{self.position} {self.product_id} × {self.quantity}"


class PortalLink(models.Model):
    """A customer's way into the portal for one quote version. The token itself is never stored."""

    token_hash = models.CharField(max_length=64, unique=True)  # SHA-256 hex of the token
    token_prefix = models.CharField(max_length=12)  # the first characters, to recognise a link in the UI
    quote = models.ForeignKey(Quote, on_delete=models.PROTECT, related_name="portal_links")
    email = models.EmailField(_("sent to"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    expires_at = models.DateTimeField(_("expires"))
    revoked_at = models.DateTimeField(null=True, blank=True)
    first_viewed_at = models.DateTimeField(null=True, blank=True)
    last_viewed_at = models.DateTimeField(null=True, blank=True)
    used_at = models.DateTimeField(null=True, blank=True)  # signed or declined: the link cannot act again

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.token_prefix}… → {self.quote_id}"


class ApprovalRule(TimeStampedModel):
    """'A discount over N % needs someone with one of these roles.' Evaluated when a quote is submitted."""

    class Measure(models.TextChoices):
        OVERALL = "overall", _("Overall discount of the quote")
        ANY_LINE = "any_line", _("Largest discount of any line")

    name = models.CharField(_("name"), max_length=120)
    measure = models.CharField(_("measure"), max_length=20, choices=Measure.choices, default=Measure.OVERALL)
    threshold_percent = models.DecimalField(_("discount over (%)"), **PERCENT)
    approver_roles = models.JSONField(_("approver roles"), default=list,
                                      help_text=_("Any of these roles may approve, e.g. [\"manager\"] or "
                                                  "[\"finance\", \"admin\"]."))
    level = models.PositiveSmallIntegerField(_("level"), default=1,
                                             help_text=_("Approvals are asked level by level, lowest first."))
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["level", "threshold_percent"]
        verbose_name = _("approval rule")
        verbose_name_plural = _("approval rules")

    def __str__(self) -> str:
        return self.name


class ApprovalStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    CANCELLED = "cancelled", _("Cancelled")


class QuoteApproval(models.Model):
    """One approval a submitted quote needs (one per matching rule), and its decision."""

    quote = models.ForeignKey(Quote, on_delete=models.CASCADE, related_name="approvals")
    rule = models.ForeignKey(ApprovalRule, null=True, on_delete=models.SET_NULL, related_name="+")
    rule_name = models.CharField(max_length=120)  # as it was when asked
    level = models.PositiveSmallIntegerField(default=1)
    approver_roles = models.JSONField(default=list)
    reason = models.CharField(_("why"), max_length=300)  # "Overall discount 22.5 % is over 15 %"
    status = models.CharField(max_length=20, choices=ApprovalStatus.choices, default=ApprovalStatus.PENDING)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    requested_at = models.DateTimeField()
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    comment = models.TextField(_("comment"), blank=True)

    class Meta:
        ordering = ["level", "id"]
        indexes = [models.Index(fields=["status", "level"])]

    def __str__(self) -> str:
        return f"{self.quote_id} L{self.level} {self.status}"


class DocumentTemplate(TimeStampedModel):
    """An HTML (Django template language) + CSS template that documents are printed from, editable by an
    admin. Saving keeps the previous text as an older version (`superseded`)."""

    class Kind(models.TextChoices):
        QUOTE = "quote", _("Quote")
        INVOICE = "invoice", _("Invoice")

    kind = models.CharField(_("document"), max_length=20, choices=Kind.choices)
    name = models.CharField(_("name"), max_length=120)
    html = models.TextField(_("HTML"))
    css = models.TextField(_("CSS"), blank=True)
    active = models.BooleanField(_("in use"), default=True)
    version = models.PositiveIntegerField(default=1)
    edited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+")

    class Meta:
        ordering = ["kind", "-version"]
        verbose_name = _("document template")
        constraints = [
            models.UniqueConstraint(fields=["kind"], condition=Q(active=True), name="document_template_one_active"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} v{self.version}"
