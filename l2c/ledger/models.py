"""The general ledger: chart of accounts, journals, exchange rates, monthly periods and posted journal entries.

Posted entries and their lines never change: `save` and `delete` refuse once a row exists, querysets refuse
`update` and `delete`, and on PostgreSQL a trigger (migration 0003) refuses UPDATE and DELETE even from raw
SQL. A mistake is corrected by a reversing entry (`services.reverse_entry`).
"""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from l2c.core.errors import Conflict
from l2c.core.models import TimeStampedModel

# Codes of the seeded accounts that other apps post to (billing, revenue). Kept as names here so a
# caller writes `ledger.AR` rather than a bare "1100".
BANK = "1000"
AR = "1100"
CONTRACT_ASSET = "1150"
DEFERRED_REVENUE = "2100"
TAX_PAYABLE = "2200"
CUSTOMER_CREDITS = "2300"
RETAINED_EARNINGS = "3000"
REVENUE = "4000"
BAD_DEBT = "6100"
FX_GAIN = "7100"
FX_LOSS = "7200"

# Seeded journals.
SALES = "SALES"
CASH = "CASH"
GENERAL = "GENERAL"
REVENUE_JOURNAL = "REVENUE"


class AccountType(models.TextChoices):
    ASSET = "asset", _("Asset")  # what the company owns or is owed (bank, receivables)
    LIABILITY = "liability", _("Liability")  # what it owes (deferred revenue, tax, customer credits)
    EQUITY = "equity", _("Equity")  # owners' stake (retained earnings)
    REVENUE = "revenue", _("Revenue")  # income earned
    EXPENSE = "expense", _("Expense")  # costs and losses


class NormalBalance(models.TextChoices):
    DEBIT = "debit", _("Debit")  # assets and expenses grow by debits
    CREDIT = "credit", _("Credit")  # liabilities, equity and revenue grow by credits


NORMAL_BALANCE_OF = {
    AccountType.ASSET: NormalBalance.DEBIT,
    AccountType.EXPENSE: NormalBalance.DEBIT,
    AccountType.LIABILITY: NormalBalance.CREDIT,
    AccountType.EQUITY: NormalBalance.CREDIT,
    AccountType.REVENUE: NormalBalance.CREDIT,
}


class LedgerAccount(TimeStampedModel):
    """An account of the chart of accounts (1100 Accounts receivable, 4000 Revenue, …)."""

    code = models.CharField(_("code"), max_length=20, unique=True)
    name = models.CharField(_("name"), max_length=200)
    type = models.CharField(_("type"), max_length=20, choices=AccountType.choices)
    normal_balance = models.CharField(_("normal balance"), max_length=10, choices=NormalBalance.choices)
    is_active = models.BooleanField(_("active"), default=True)
    # A control account (AR) is the total of a subledger: every line on it names the customer.
    is_control = models.BooleanField(_("control account"), default=False)
    description = models.CharField(_("description"), max_length=500, blank=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("ledger account")

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class Journal(models.Model):
    """A book entries are posted in (sales, cash, general, revenue); entry numbers run per journal and year."""

    code = models.CharField(_("code"), max_length=10, unique=True)
    name = models.CharField(_("name"), max_length=100)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("journal")

    def __str__(self) -> str:
        return self.name


class ExchangeRate(TimeStampedModel):
    """How many units of the company currency one unit of `currency` was worth from `date` on."""

    currency = models.CharField(_("currency"), max_length=3)
    date = models.DateField(_("date"))
    rate = models.DecimalField(_("rate"), max_digits=24, decimal_places=10)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        ordering = ["currency", "-date"]
        verbose_name = _("exchange rate")
        constraints = [
            models.UniqueConstraint(fields=["currency", "date"], name="ledger_rate_unique_currency_date"),
            models.CheckConstraint(condition=models.Q(rate__gt=0), name="ledger_rate_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.currency} {self.date}: {self.rate}"


class Period(models.Model):
    """A calendar month of the books; created on first use, locked and unlocked by finance/admin."""

    year = models.PositiveSmallIntegerField(_("year"))
    month = models.PositiveSmallIntegerField(_("month"))
    is_locked = models.BooleanField(_("locked"), default=False)
    locked_at = models.DateTimeField(_("locked at"), null=True, blank=True)
    locked_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+", verbose_name=_("locked by"))

    class Meta:
        ordering = ["-year", "-month"]
        verbose_name = _("period")
        constraints = [
            models.UniqueConstraint(fields=["year", "month"], name="ledger_period_unique_month"),
            models.CheckConstraint(condition=models.Q(month__gte=1, month__lte=12), name="ledger_period_month_1_12"),
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


class ImmutableQuerySet(models.QuerySet):
    """Posted rows: bulk update and delete are refused like `save` and `delete` are."""

    def update(self, **kwargs):
        raise Conflict(_("Posted journal entries cannot be changed; post a reversing entry instead."),
                       code="immutable")

    def delete(self):
        raise Conflict(_("Posted journal entries cannot be deleted; post a reversing entry instead."),
                       code="immutable")


class ImmutableModel(models.Model):
    """Written once (by the posting service); never changed or deleted afterwards."""

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise Conflict(_("Posted journal entries cannot be changed; post a reversing entry instead."),
                           code="immutable")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise Conflict(_("Posted journal entries cannot be deleted; post a reversing entry instead."),
                       code="immutable")


class JournalEntry(ImmutableModel):
    """A posted, balanced journal entry (debits equal credits); immutable, corrected only by a reversal."""

    number = models.CharField(_("number"), max_length=40, unique=True)
    journal = models.ForeignKey(Journal, on_delete=models.PROTECT, related_name="entries", verbose_name=_("journal"))
    date = models.DateField(_("date"), db_index=True)
    memo = models.CharField(_("memo"), max_length=500, blank=True)
    # The business document behind the entry, e.g. ("billing.invoice", 42, "INV-2026-000042"); the ledger
    # does not import the app that owns it.
    source_type = models.CharField(_("source type"), max_length=60, blank=True)
    source_id = models.BigIntegerField(_("source id"), null=True, blank=True)
    source_label = models.CharField(_("source"), max_length=200, blank=True)
    # The entry this one reverses; the original finds it as `reversed_by`. One reversal per entry.
    reversal_of = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT,
                                       related_name="reversed_by", verbose_name=_("reversal of"))
    posted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                  related_name="+", verbose_name=_("posted by"))
    posted_at = models.DateTimeField(_("posted at"), auto_now_add=True)

    objects = ImmutableQuerySet.as_manager()

    class Meta:
        ordering = ["-date", "-id"]
        verbose_name = _("journal entry")
        verbose_name_plural = _("journal entries")
        indexes = [
            models.Index(fields=["source_type", "source_id"]),
            models.Index(fields=["journal", "date"]),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def reversal(self) -> JournalEntry | None:
        """The entry that reverses this one, if any."""
        try:
            return self.reversed_by
        except JournalEntry.DoesNotExist:
            return None


class JournalLine(ImmutableModel):
    """One debit or credit of an entry, in the company currency, with the document currency amount and rate."""

    entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, related_name="lines")
    line_no = models.PositiveSmallIntegerField(_("line"))
    account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="lines",
                                verbose_name=_("account"))
    debit = models.DecimalField(_("debit"), max_digits=20, decimal_places=2, default=0)
    credit = models.DecimalField(_("credit"), max_digits=20, decimal_places=2, default=0)
    # The amount in the document currency (same side as debit/credit) and the rate that converted it.
    currency = models.CharField(_("currency"), max_length=3)
    amount = models.DecimalField(_("amount"), max_digits=24, decimal_places=4)
    rate = models.DecimalField(_("rate"), max_digits=24, decimal_places=10)
    customer = models.ForeignKey("customers.Account", null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="ledger_lines", verbose_name=_("customer"))
    description = models.CharField(_("description"), max_length=300, blank=True)

    objects = ImmutableQuerySet.as_manager()

    class Meta:
        ordering = ["entry_id", "line_no"]
        verbose_name = _("journal line")
        constraints = [
            models.UniqueConstraint(fields=["entry", "line_no"], name="ledger_line_unique_no"),
            models.CheckConstraint(
                condition=(models.Q(debit__gte=0, credit__gte=0)
                           & (models.Q(debit=0, credit__gt=0) | models.Q(credit=0, debit__gt=0))),
                name="ledger_line_debit_xor_credit",
            ),
        ]
        indexes = [models.Index(fields=["account", "entry"]), models.Index(fields=["customer", "account"])]

    def __str__(self) -> str:
        return f"{self.entry_id}/{self.line_no} {self.account_id} Dr {self.debit} Cr {self.credit}"


class MonthTotal(models.Model):
    """The posted lines summed per account, month, journal and source type: kept up to date by every posting
    (`services._write_many`, in the posting's transaction) so that monthly reports — the deferred revenue
    waterfall, billed per month — read a few rows instead of every line. Derived data: `totals.rebuild()`
    recomputes it from the lines, and `totals.problems()` lists where it differs from them."""

    account = models.ForeignKey(LedgerAccount, on_delete=models.CASCADE, related_name="+")
    month = models.DateField()  # the month's first day
    journal = models.ForeignKey(Journal, on_delete=models.CASCADE, related_name="+")
    source_type = models.CharField(max_length=60, blank=True)
    debit = models.DecimalField(max_digits=22, decimal_places=2, default=0)
    credit = models.DecimalField(max_digits=22, decimal_places=2, default=0)
    lines = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "month", "journal", "source_type"],
                                               name="ledger_month_total_unique")]

    def __str__(self) -> str:
        return f"{self.account_id} {self.month:%Y-%m} {self.journal_id} {self.source_type}: Dr {self.debit} Cr {self.credit}"
