"""Billing: invoices and their lines, credit notes, payments and their allocations to invoices, write-offs.

Amounts are in the document's currency (Decimal, 4 places, rounded to the currency by `core.money.round_money`
in `billing.services`, the one place billing arithmetic happens). Each posted document keeps the rate to the
company currency it was booked at and the journal entry that booked it; `*_base` columns are company-currency
amounts, kept so that settling an invoice clears exactly what its posting put on accounts receivable.
"""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from l2c.core.models import TimeStampedModel
from l2c.core.visibility import VisibleQuerySet

AMOUNT = {"max_digits": 20, "decimal_places": 4}
QUANTITY = {"max_digits": 18, "decimal_places": 4}
PERCENT = {"max_digits": 7, "decimal_places": 4}
RATE = {"max_digits": 24, "decimal_places": 10}


class BillingQuerySet(VisibleQuerySet):
    """Billing documents: finance and admin see all; sales see those of the customers they may see."""

    owner_field = "account__owner"
    finance_visible = True


class InvoiceStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")  # being prepared; no number, nothing booked
    POSTED = "posted", _("Posted")  # numbered and booked, nothing settled yet
    PARTIALLY_PAID = "partially_paid", _("Partially paid")  # part of the balance settled
    PAID = "paid", _("Paid")  # balance zero, settled by payments (and perhaps partial credits)
    WRITTEN_OFF = "written_off", _("Written off")  # balance zero, the rest written off as bad debt
    VOID = "void", _("Void")  # fully credited by credit notes


class Invoice(TimeStampedModel):
    """A bill to a customer for (part of) a contract; booked on accounts receivable when posted."""

    number = models.CharField(_("number"), max_length=30, unique=True, null=True, blank=True)  # INV-2026-000123
    status = models.CharField(_("status"), max_length=20, choices=InvoiceStatus.choices,
                              default=InvoiceStatus.DRAFT)
    account = models.ForeignKey("customers.Account", verbose_name=_("customer"), on_delete=models.PROTECT,
                                related_name="invoices")
    contract = models.ForeignKey("contracts.Contract", verbose_name=_("contract"), null=True, blank=True,
                                 on_delete=models.PROTECT, related_name="invoices")
    currency = models.CharField(_("currency"), max_length=3)
    issue_date = models.DateField(_("issue date"))
    due_date = models.DateField(_("due date"))
    payment_terms = models.CharField(_("payment terms"), max_length=20)
    net_total = models.DecimalField(_("net total"), default=0, **AMOUNT)
    tax_total = models.DecimalField(_("tax"), default=0, **AMOUNT)
    gross_total = models.DecimalField(_("total"), default=0, **AMOUNT)
    amount_paid = models.DecimalField(_("paid"), default=0, **AMOUNT)
    amount_credited = models.DecimalField(_("credited"), default=0, **AMOUNT)
    amount_written_off = models.DecimalField(_("written off"), default=0, **AMOUNT)
    balance = models.DecimalField(_("balance"), default=0, **AMOUNT)
    # booked at posting: the rate to the company currency and what stands on accounts receivable
    rate = models.DecimalField(_("exchange rate"), null=True, blank=True, **RATE)
    ar_base = models.DecimalField(default=0, **AMOUNT)  # gross in company currency, as posted
    ar_open_base = models.DecimalField(default=0, **AMOUNT)  # what is still open on AR, company currency
    journal_entry = models.ForeignKey("ledger.JournalEntry", null=True, blank=True, on_delete=models.PROTECT,
                                      related_name="+")
    posted_at = models.DateTimeField(null=True, blank=True)
    posted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+")
    notes = models.TextField(_("notes"), blank=True)

    objects = BillingQuerySet.as_manager()

    class Meta:
        ordering = ["-issue_date", "-id"]
        verbose_name = _("invoice")
        verbose_name_plural = _("invoices")
        constraints = [
            models.CheckConstraint(condition=Q(due_date__gte=models.F("issue_date")), name="invoice_due_after_issue"),
            models.CheckConstraint(condition=Q(balance__gte=0) & Q(amount_paid__gte=0) & Q(amount_credited__gte=0)
                                   & Q(amount_written_off__gte=0), name="invoice_amounts_not_negative"),
            models.CheckConstraint(condition=Q(status="draft") | Q(number__isnull=False),
                                   name="invoice_posted_has_number"),
        ]
        indexes = [models.Index(fields=["status", "due_date"]), models.Index(fields=["account", "status"])]

    def __str__(self) -> str:
        return self.number or _("Draft invoice #%(id)s") % {"id": self.pk}

    @property
    def is_open(self) -> bool:
        return self.status in (InvoiceStatus.POSTED, InvoiceStatus.PARTIALLY_PAID)


class InvoiceLine(models.Model):
    """One billed quantity of a contract line (or a free line), with its net, tax and gross."""

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    contract_line = models.ForeignKey("contracts.ContractLine", null=True, blank=True, on_delete=models.PROTECT,
                                      related_name="invoice_lines")
    product = models.ForeignKey("quoting.Product", on_delete=models.PROTECT, related_name="+")
    position = models.PositiveIntegerField(default=0)
    description = models.TextField(_("description"), blank=True)
    quantity = models.DecimalField(_("quantity"), **QUANTITY)
    unit_price = models.DecimalField(_("unit price"), **AMOUNT)
    net_amount = models.DecimalField(_("net"), **AMOUNT)
    tax_rate = models.DecimalField(_("tax rate (%)"), **PERCENT)
    tax_amount = models.DecimalField(_("tax"), **AMOUNT)
    gross_amount = models.DecimalField(_("amount"), **AMOUNT)
    service_start = models.DateField(_("service start"), null=True, blank=True)
    service_end = models.DateField(_("service end"), null=True, blank=True)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="invoice_line_quantity_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.invoice_id}#{self.position}"


class CreditNoteStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")  # prepared, nothing booked
    POSTED = "posted", _("Posted")  # numbered and booked against the invoice


class CreditNote(TimeStampedModel):
    """A reduction of what a posted invoice asks for (full or partial), booked against its receivable."""

    number = models.CharField(_("number"), max_length=30, unique=True, null=True, blank=True)  # CN-2026-000001
    status = models.CharField(_("status"), max_length=20, choices=CreditNoteStatus.choices,
                              default=CreditNoteStatus.DRAFT)
    invoice = models.ForeignKey(Invoice, verbose_name=_("invoice"), on_delete=models.PROTECT,
                                related_name="credit_notes")
    account = models.ForeignKey("customers.Account", verbose_name=_("customer"), on_delete=models.PROTECT,
                                related_name="credit_notes")
    currency = models.CharField(_("currency"), max_length=3)
    issue_date = models.DateField(_("issue date"))
    reason = models.TextField(_("reason"))
    net_total = models.DecimalField(_("net total"), default=0, **AMOUNT)
    tax_total = models.DecimalField(_("tax"), default=0, **AMOUNT)
    gross_total = models.DecimalField(_("total"), default=0, **AMOUNT)
    rate = models.DecimalField(_("exchange rate"), null=True, blank=True, **RATE)
    journal_entry = models.ForeignKey("ledger.JournalEntry", null=True, blank=True, on_delete=models.PROTECT,
                                      related_name="+")
    posted_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    objects = BillingQuerySet.as_manager()

    class Meta:
        ordering = ["-issue_date", "-id"]
        verbose_name = _("credit note")
        verbose_name_plural = _("credit notes")
        constraints = [
            models.CheckConstraint(condition=Q(gross_total__gt=0), name="credit_note_positive"),
            models.CheckConstraint(condition=Q(status="draft") | Q(number__isnull=False),
                                   name="credit_note_posted_has_number"),
        ]

    def __str__(self) -> str:
        return self.number or _("Draft credit note #%(id)s") % {"id": self.pk}


class CreditNoteLine(models.Model):
    """The part of one invoice line a credit note takes back."""

    credit_note = models.ForeignKey(CreditNote, on_delete=models.CASCADE, related_name="lines")
    invoice_line = models.ForeignKey(InvoiceLine, on_delete=models.PROTECT, related_name="credit_lines")
    description = models.TextField(_("description"), blank=True)
    quantity = models.DecimalField(_("quantity"), null=True, blank=True, **QUANTITY)  # None: an amount credit
    net_amount = models.DecimalField(_("net"), **AMOUNT)
    tax_amount = models.DecimalField(_("tax"), **AMOUNT)
    gross_amount = models.DecimalField(_("amount"), **AMOUNT)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.credit_note_id}/{self.invoice_line_id}"


class PaymentMethod(models.TextChoices):
    BANK_TRANSFER = "bank_transfer", _("Bank transfer")
    CARD = "card", _("Card")
    CASH = "cash", _("Cash")


class Payment(TimeStampedModel):
    """Money received from a customer; allocated to invoices, the rest kept as the customer's credit."""

    number = models.CharField(_("number"), max_length=30, unique=True)  # PAY-2026-000001
    account = models.ForeignKey("customers.Account", verbose_name=_("customer"), on_delete=models.PROTECT,
                                related_name="payments")
    date = models.DateField(_("date"))
    method = models.CharField(_("method"), max_length=20, choices=PaymentMethod.choices)
    currency = models.CharField(_("currency"), max_length=3)
    amount = models.DecimalField(_("amount"), **AMOUNT)
    reference = models.CharField(_("reference"), max_length=200, blank=True)
    unapplied_amount = models.DecimalField(_("unapplied"), **AMOUNT)
    rate = models.DecimalField(_("exchange rate"), **RATE)
    amount_base = models.DecimalField(**AMOUNT)  # amount in company currency (the bank debit)
    unapplied_base = models.DecimalField(**AMOUNT)  # what stands on customer credits, company currency
    journal_entry = models.ForeignKey("ledger.JournalEntry", null=True, blank=True, on_delete=models.PROTECT,
                                      related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    # set once by billing.reversals.payment_reverse (recorded in error, bounced); never cleared
    reversed_at = models.DateTimeField(_("reversed at"), null=True, blank=True)
    reversal_date = models.DateField(_("reversal date"), null=True, blank=True)  # the reversing entry's date
    reversed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    reversal_reason = models.TextField(_("reversal reason"), blank=True)
    reversal_entry = models.ForeignKey("ledger.JournalEntry", null=True, blank=True, on_delete=models.PROTECT,
                                       related_name="+")

    objects = BillingQuerySet.as_manager()

    class Meta:
        ordering = ["-date", "-id"]
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(condition=Q(unapplied_amount__gte=0) & Q(unapplied_amount__lte=models.F("amount")),
                                   name="payment_unapplied_within_amount"),
            models.CheckConstraint(condition=Q(reversed_at__isnull=True, reversal_date__isnull=True)
                                   | (Q(reversed_at__isnull=False, reversal_date__isnull=False)
                                      & ~Q(reversal_reason="")), name="payment_reversal_complete"),
        ]
        indexes = [models.Index(fields=["account", "date"])]

    def __str__(self) -> str:
        return self.number

    @property
    def is_reversed(self) -> bool:
        return self.reversed_at is not None


class PaymentAllocation(models.Model):
    """The part of a payment applied to one invoice, on a date (with the payment, or later from credit)."""

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="allocations")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="allocations")
    date = models.DateField(_("date"))
    amount = models.DecimalField(_("amount"), **AMOUNT)
    ar_base = models.DecimalField(**AMOUNT)  # receivable cleared, company currency at the invoice's rate
    fx_base = models.DecimalField(default=0, **AMOUNT)  # realised FX: + gain, − loss, company currency
    # the payment's entry when allocated on receipt; its own entry when applied later from customer credit
    journal_entry = models.ForeignKey("ledger.JournalEntry", null=True, blank=True, on_delete=models.PROTECT,
                                      related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        ordering = ["date", "id"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="allocation_amount_positive")]

    def __str__(self) -> str:
        return f"{self.payment_id} → {self.invoice_id}: {self.amount}"


class WriteOff(models.Model):
    """An uncollectible part of an invoice's balance, booked as bad-debt expense."""

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="write_offs")
    date = models.DateField(_("date"))
    amount = models.DecimalField(_("amount"), **AMOUNT)
    ar_base = models.DecimalField(**AMOUNT)
    reason = models.TextField(_("reason"))
    journal_entry = models.ForeignKey("ledger.JournalEntry", null=True, blank=True, on_delete=models.PROTECT,
                                      related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        ordering = ["date", "id"]
        verbose_name = _("write-off")
        verbose_name_plural = _("write-offs")
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="write_off_amount_positive")]

    def __str__(self) -> str:
        return f"{self.invoice_id}: {self.amount}"


class ScheduleItemKind(models.TextChoices):
    DEPOSIT = "deposit", _("Deposit")  # a percentage of the line at the contract start
    UPFRONT = "upfront", _("Upfront")  # billed at the contract start (upfront terms)
    FULFILMENT = "fulfilment", _("On fulfilment")  # billed when (part of) the line is shipped or delivered
    MILESTONE = "milestone", _("On milestone")  # billed when a milestone of the line is completed
    RECURRING = "recurring", _("Recurring")  # one service period of a subscription, billed in advance


class ScheduleItemStatus(models.TextChoices):
    PLANNED = "planned", _("Planned")  # not invoiced yet (due on its date, or waiting for fulfilment)
    INVOICED = "invoiced", _("Invoiced")  # on an invoice made by the billing run


class BillingSchedule(TimeStampedModel):
    """The billing plan of one contract: which part of each line is invoiced when."""

    contract = models.OneToOneField("contracts.Contract", verbose_name=_("contract"), on_delete=models.PROTECT,
                                    related_name="billing_schedule")
    deposit_percent = models.DecimalField(_("deposit (%)"), default=0, **PERCENT)

    class Meta:
        verbose_name = _("billing schedule")
        verbose_name_plural = _("billing schedules")

    def __str__(self) -> str:
        return str(self.contract)


class BillingScheduleItem(models.Model):
    """One part of a contract line to invoice: on a due date, or (due date empty) when it is fulfilled."""

    schedule = models.ForeignKey(BillingSchedule, on_delete=models.CASCADE, related_name="items")
    contract = models.ForeignKey("contracts.Contract", on_delete=models.PROTECT, related_name="+")
    contract_line = models.ForeignKey("contracts.ContractLine", on_delete=models.PROTECT,
                                      related_name="billing_items")
    kind = models.CharField(_("type"), max_length=20, choices=ScheduleItemKind.choices)
    status = models.CharField(_("status"), max_length=20, choices=ScheduleItemStatus.choices,
                              default=ScheduleItemStatus.PLANNED)
    due_date = models.DateField(_("due date"), null=True, blank=True)  # None: waits for fulfilment
    period_start = models.DateField(_("period start"), null=True, blank=True)
    period_end = models.DateField(_("period end"), null=True, blank=True)
    quantity = models.DecimalField(_("quantity"), **QUANTITY)
    net_amount = models.DecimalField(_("net"), **AMOUNT)
    tax_amount = models.DecimalField(_("tax"), **AMOUNT)
    # the fulfilment event that made this part due (order line, source, shipment/milestone): handled once
    source_key = models.CharField(max_length=80, unique=True, null=True, blank=True)
    invoice = models.ForeignKey(Invoice, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="schedule_items")
    invoice_line = models.ForeignKey(InvoiceLine, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")

    class Meta:
        ordering = ["due_date", "id"]
        verbose_name = _("billing schedule item")
        verbose_name_plural = _("billing schedule items")
        constraints = [
            models.CheckConstraint(condition=Q(net_amount__gte=0) & Q(tax_amount__gte=0),
                                   name="schedule_item_amounts_not_negative"),
            models.CheckConstraint(condition=Q(status="planned") | Q(invoice__isnull=False),
                                   name="schedule_item_invoiced_has_invoice"),
        ]
        indexes = [models.Index(fields=["status", "due_date"])]

    def __str__(self) -> str:
        return f"{self.contract_line_id}: {self.kind} {self.due_date or '-'} {self.net_amount}"
