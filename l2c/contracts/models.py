"""Contracts, the portal links that carry a quote to the customer, and the signature records.

A quote is sent with a quoting.PortalLink (an unguessable token, stored only as its SHA-256, with an
expiry). The customer signs through it: a Signature records consent, typed name, drawn signature, time, IP,
user agent and the SHA-256 of the exact PDF shown; the signed PDF (certificate page + PAdES
signature by the company's certificate) is kept on the signature. The signature creates the Contract,
whose lines are frozen copies of the quote's lines.
"""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from l2c.core.models import TimeStampedModel
from l2c.core.visibility import VisibleQuerySet

AMOUNT = {"max_digits": 20, "decimal_places": 4}
PERCENT = {"max_digits": 7, "decimal_places": 4}
QUANTITY = {"max_digits": 18, "decimal_places": 4}


class Signature(models.Model):
    """A customer's acceptance and signature of one quote version, with everything needed to prove it."""

    quote = models.OneToOneField("quoting.Quote", on_delete=models.PROTECT, related_name="signature")
    portal_link = models.ForeignKey("quoting.PortalLink", null=True, on_delete=models.PROTECT, related_name="+")
    signer_name = models.CharField(_("signer"), max_length=200)  # the typed name
    signer_email = models.EmailField(_("signer's e-mail"), blank=True)
    signer_title = models.CharField(_("signer's title"), max_length=150, blank=True)
    consent_text = models.TextField(_("consent text"))
    consent_version = models.CharField(_("consent version"), max_length=20)
    consented_at = models.DateTimeField()
    signed_at = models.DateTimeField()
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=500, blank=True)
    drawn_signature = models.BinaryField()  # PNG of the drawn signature
    shown_pdf_sha256 = models.CharField(max_length=64)  # the PDF the customer saw and signed
    signed_pdf = models.BinaryField()  # quote PDF + certificate page, PAdES-signed
    signed_pdf_sha256 = models.CharField(max_length=64, unique=True)
    events = models.JSONField(default=list)  # [{"event": "sent"|"viewed"|"consented"|"signed", "at": iso, "ip": …}]

    class Meta:
        ordering = ["-signed_at"]

    def __str__(self) -> str:
        return f"{self.signer_name} signed {self.quote_id}"


class ContractStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    EXPIRED = "expired", _("Expired")
    RENEWED = "renewed", _("Renewed")
    TERMINATED = "terminated", _("Terminated")


class ContractQuerySet(VisibleQuerySet):
    owner_field = "owner"
    finance_visible = True  # finance bills and recognises every contract


class Contract(TimeStampedModel):
    number = models.CharField(_("number"), max_length=30, unique=True)  # CTR-2026-000007
    account = models.ForeignKey("customers.Account", verbose_name=_("customer"), on_delete=models.PROTECT,
                                related_name="contracts")
    contact = models.ForeignKey("customers.Contact", verbose_name=_("contact"), null=True, blank=True,
                                on_delete=models.SET_NULL, related_name="contracts")
    opportunity = models.ForeignKey("pipeline.Opportunity", verbose_name=_("opportunity"), on_delete=models.PROTECT,
                                    related_name="contracts")
    quote = models.OneToOneField("quoting.Quote", verbose_name=_("quote"), on_delete=models.PROTECT,
                                 related_name="contract")
    signature = models.OneToOneField(Signature, null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="contract")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("owner"), null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="contracts")
    status = models.CharField(_("status"), max_length=20, choices=ContractStatus.choices,
                              default=ContractStatus.ACTIVE)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    currency = models.CharField(_("currency"), max_length=3)
    start_date = models.DateField(_("start date"))
    end_date = models.DateField(_("end date"))
    term_months = models.PositiveIntegerField(_("term (months)"))
    auto_renew = models.BooleanField(_("renews automatically"), default=False)
    notice_days = models.PositiveIntegerField(_("notice period (days)"), default=30)
    payment_terms = models.CharField(_("payment terms"), max_length=20)
    terms = models.TextField(_("terms and conditions"), blank=True)
    signed_at = models.DateTimeField(_("signed"), null=True, blank=True)
    net_total = models.DecimalField(_("net total"), **AMOUNT)
    tax_total = models.DecimalField(_("tax"), **AMOUNT)
    gross_total = models.DecimalField(_("total"), **AMOUNT)
    renewal_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="renewals")
    renewal_opportunity = models.ForeignKey("pipeline.Opportunity", null=True, blank=True, on_delete=models.SET_NULL,
                                            related_name="renewed_contracts")
    terminated_on = models.DateField(_("terminated on"), null=True, blank=True)
    termination_reason = models.TextField(_("termination reason"), blank=True)

    objects = ContractQuerySet.as_manager()

    class Meta:
        ordering = ["-start_date", "-id"]
        verbose_name = _("contract")
        verbose_name_plural = _("contracts")
        constraints = [
            models.CheckConstraint(condition=Q(end_date__gte=models.F("start_date")), name="contract_dates_in_order"),
        ]
        indexes = [models.Index(fields=["status", "end_date"]), models.Index(fields=["owner", "status"])]

    def __str__(self) -> str:
        return self.number


class ContractLine(models.Model):
    """A line of the signed quote, frozen: later changes to products or price books do not touch it."""

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="lines")
    quote_line = models.OneToOneField("quoting.QuoteLine", on_delete=models.PROTECT, related_name="contract_line")
    product = models.ForeignKey("quoting.Product", on_delete=models.PROTECT, related_name="+")
    position = models.PositiveIntegerField(default=0)
    description = models.TextField(blank=True)
    quantity = models.DecimalField(**QUANTITY)
    unit = models.CharField(max_length=30, blank=True)
    list_price = models.DecimalField(**AMOUNT)
    unit_price = models.DecimalField(**AMOUNT)
    discount_percent = models.DecimalField(**PERCENT)
    tax_rate = models.DecimalField(**PERCENT)
    net_amount = models.DecimalField(**AMOUNT)
    tax_amount = models.DecimalField(**AMOUNT)
    gross_amount = models.DecimalField(**AMOUNT)
    service_start = models.DateField(null=True, blank=True)
    service_end = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return f"{self.contract_id}#{self.position}"
