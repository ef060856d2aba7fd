"""Banking: imported bank statements and their lines, and how each line was settled against invoices.

A matched line points to the billing payment it recorded (`billing.Payment`); the invoices it paid are that
payment's allocations. Amounts are signed: + money in, − money out, in the line's currency.
"""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from l2c.core.models import TimeStampedModel

AMOUNT = {"max_digits": 20, "decimal_places": 4}


class StatementFormat(models.TextChoices):
    CSV = "csv", _("CSV / spreadsheet")  # a table read with a column mapping
    CAMT053 = "camt053", _("ISO 20022 camt.053")  # XML bank-to-customer statement


class BankStatement(TimeStampedModel):
    """One imported statement file of one bank account: its period, balances and lines."""

    account_name = models.CharField(_("account"), max_length=200, blank=True)
    iban = models.CharField(_("IBAN / account number"), max_length=64, blank=True)
    statement_id = models.CharField(_("statement id"), max_length=100, blank=True)  # camt Stmt/Id
    currency = models.CharField(_("currency"), max_length=3)
    period_start = models.DateField(_("from"), null=True, blank=True)
    period_end = models.DateField(_("to"), null=True, blank=True)
    opening_balance = models.DecimalField(_("opening balance"), null=True, blank=True, **AMOUNT)
    closing_balance = models.DecimalField(_("closing balance"), null=True, blank=True, **AMOUNT)
    file_name = models.CharField(_("file name"), max_length=255)
    file_format = models.CharField(_("format"), max_length=10, choices=StatementFormat.choices)
    file_sha256 = models.CharField(_("file SHA-256"), max_length=64, unique=True)
    imported_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("imported by"), null=True,
                                    blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("bank statement")
        verbose_name_plural = _("bank statements")

    def __str__(self) -> str:
        label = self.statement_id or self.file_name
        return _("Statement %(label)s") % {"label": label}

    @property
    def imported_at(self):
        return self.created_at


class LineStatus(models.TextChoices):
    UNMATCHED = "unmatched", _("Unmatched")  # waiting for a match or a decision in review
    MATCHED = "matched", _("Matched")  # a payment was recorded for it
    IGNORED = "ignored", _("Ignored")  # not a customer payment (fees, transfers, …); left alone


class MatchMethod(models.TextChoices):
    NONE = "", _("—")
    INVOICE_NUMBER = "invoice_number", _("Invoice number in the reference")
    AMOUNT_CUSTOMER = "amount_customer", _("Amount and customer")
    MANUAL = "manual", _("Matched by hand")


class BankStatementLine(models.Model):
    """One booked movement on a statement (+ in, − out) and what became of it."""

    statement = models.ForeignKey(BankStatement, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveIntegerField()
    booking_date = models.DateField(_("date"))
    value_date = models.DateField(_("value date"), null=True, blank=True)
    amount = models.DecimalField(_("amount"), **AMOUNT)
    currency = models.CharField(_("currency"), max_length=3)
    counterparty_name = models.CharField(_("counterparty"), max_length=200, blank=True)
    counterparty_account = models.CharField(_("counterparty account"), max_length=64, blank=True)
    reference = models.CharField(_("reference"), max_length=500, blank=True)
    end_to_end_id = models.CharField(_("end-to-end id"), max_length=100, blank=True)
    bank_reference = models.CharField(_("bank reference"), max_length=100, blank=True)
    status = models.CharField(_("status"), max_length=12, choices=LineStatus.choices, default=LineStatus.UNMATCHED)
    match_method = models.CharField(_("match method"), max_length=20, choices=MatchMethod.choices, blank=True)
    payment = models.ForeignKey("billing.Payment", verbose_name=_("payment"), null=True, blank=True,
                                on_delete=models.PROTECT, related_name="bank_lines")
    # what automatic matching found but did not apply (e.g. two invoices with the same balance), and why
    candidates = models.ManyToManyField("billing.Invoice", blank=True, related_name="+")
    review_note = models.TextField(_("review note"), blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["statement", "position"]
        constraints = [
            models.UniqueConstraint(fields=["statement", "position"], name="bank_line_position_unique"),
            models.CheckConstraint(condition=~models.Q(amount=0), name="bank_line_amount_not_zero"),
            models.CheckConstraint(condition=models.Q(status="matched", payment__isnull=False)
                                   | (~models.Q(status="matched") & models.Q(payment__isnull=True)),
                                   name="bank_line_matched_has_payment"),
        ]
        indexes = [models.Index(fields=["status"])]

    def __str__(self) -> str:
        return f"{self.booking_date} {self.amount} {self.currency} {self.counterparty_name}".strip()

    @property
    def is_incoming(self) -> bool:
        return self.amount > 0
