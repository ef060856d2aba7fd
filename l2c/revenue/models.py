"""Revenue recognition (ASC 606 / IFRS 15): a contract's performance obligations, the allocation of its
transaction price by relative standalone selling price, the recognition schedule (kept per version: a
modification or credit makes a new version and keeps the old one), and the posted recognition per month.

Amounts are in the contract's currency (Decimal, rounded to the currency) unless named `*_base` (company
currency). Arithmetic happens in `revenue.engine` (allocation, schedules), `revenue.recognition` (what is
earned by a date) and `revenue.close` (the month's postings).
"""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from l2c.core.models import TimeStampedModel

AMOUNT = {"max_digits": 20, "decimal_places": 4}
QUANTITY = {"max_digits": 18, "decimal_places": 4}


class Method(models.TextChoices):
    POINT_IN_TIME = "point_in_time", _("At a point in time")
    RATABLE = "ratable", _("Ratably over the service period")
    MILESTONE = "milestone", _("On milestones")


class RevenueContract(TimeStampedModel):
    """A signed contract as revenue sees it: its price, its obligations and its current schedule version."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        TERMINATED = "terminated", _("Terminated")

    contract = models.OneToOneField("contracts.Contract", verbose_name=_("contract"), on_delete=models.PROTECT,
                                    related_name="revenue")
    account = models.ForeignKey("customers.Account", verbose_name=_("customer"), on_delete=models.PROTECT,
                                related_name="+")
    currency = models.CharField(_("currency"), max_length=3)
    inception_date = models.DateField(_("inception"))  # the allocation is fixed at this date
    transaction_price = models.DecimalField(_("transaction price"), **AMOUNT)
    ssp_flagged = models.BooleanField(_("list price used for a missing SSP"), default=False)
    version = models.PositiveIntegerField(_("schedule version"), default=1)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.ACTIVE)

    class Meta:
        verbose_name = _("revenue contract")
        indexes = [models.Index(fields=["account"])]

    def __str__(self) -> str:
        return str(self.contract_id)


class PerformanceObligation(models.Model):
    """A promise to the customer: one contract line, or several not distinct from each other."""

    revenue_contract = models.ForeignKey(RevenueContract, on_delete=models.CASCADE, related_name="obligations")
    position = models.PositiveIntegerField(_("position"), default=0)
    name = models.CharField(_("name"), max_length=300)
    product = models.ForeignKey("quoting.Product", verbose_name=_("product"), on_delete=models.PROTECT, related_name="+")
    method = models.CharField(_("satisfied"), max_length=20, choices=Method.choices)
    quantity = models.DecimalField(_("quantity"), **QUANTITY)
    ssp_amount = models.DecimalField(_("standalone selling price"), **AMOUNT)  # for the whole quantity
    ssp_from_list_price = models.BooleanField(_("SSP missing: list price used"), default=False)
    allocated_amount = models.DecimalField(_("allocated price"), **AMOUNT)  # current (after modifications)
    start_date = models.DateField(_("service start"), null=True, blank=True)  # ratable only
    end_date = models.DateField(_("service end"), null=True, blank=True)  # ratable only (last day)
    ended_on = models.DateField(_("ended on"), null=True, blank=True)  # early termination: last day earned

    class Meta:
        ordering = ["revenue_contract_id", "position", "id"]
        verbose_name = _("performance obligation")
        constraints = [models.CheckConstraint(condition=Q(ssp_amount__gte=0), name="obligation_ssp_not_negative")]

    def __str__(self) -> str:
        return self.name


class ObligationLine(models.Model):
    """Which contract lines an obligation covers (each line belongs to exactly one obligation)."""

    obligation = models.ForeignKey(PerformanceObligation, on_delete=models.CASCADE, related_name="line_links")
    contract_line = models.OneToOneField("contracts.ContractLine", on_delete=models.PROTECT,
                                         related_name="obligation_link")

    def __str__(self) -> str:
        return f"{self.obligation_id}:{self.contract_line_id}"


class ScheduleVersion(models.Model):
    """One version of a contract's schedule: made at inception and at every modification or credit; the
    old ones are kept for audit."""

    class Kind(models.TextChoices):
        INCEPTION = "inception", _("Inception")
        MODIFICATION = "modification", _("Modification")
        CREDIT_NOTE = "credit_note", _("Credit note")
        TERMINATION = "termination", _("Early termination")
        EXTENSION = "extension", _("Extension")
        REGROUP = "regroup", _("Obligations regrouped")

    revenue_contract = models.ForeignKey(RevenueContract, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField(_("version"))
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    reason = models.TextField(_("reason"), blank=True)
    effective_date = models.DateField(_("effective"))
    transaction_price = models.DecimalField(_("transaction price"), **AMOUNT)
    # [{"obligation": id, "name", "method", "ssp": "…", "allocated": "…", "earned_before": "…"}]
    allocations = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        ordering = ["revenue_contract_id", "number"]
        constraints = [models.UniqueConstraint(fields=["revenue_contract", "number"], name="revenue_version_unique")]
        # the versions made since a close: the contracts the reports compute again instead of reading its snapshot
        indexes = [models.Index(fields=["created_at"], name="revenue_version_created")]

    def __str__(self) -> str:
        return f"v{self.number}"


class ScheduleLine(models.Model):
    """The amount of an obligation planned for one month in one version (month = its first day)."""

    version = models.ForeignKey(ScheduleVersion, on_delete=models.CASCADE, related_name="lines")
    obligation = models.ForeignKey(PerformanceObligation, on_delete=models.CASCADE, related_name="schedule_lines")
    period = models.DateField(_("month"))
    amount = models.DecimalField(_("planned"), **AMOUNT)

    class Meta:
        ordering = ["version_id", "obligation_id", "period"]
        constraints = [models.UniqueConstraint(fields=["version", "obligation", "period"], name="revenue_line_unique")]
        indexes = [models.Index(fields=["period", "version"])]

    def __str__(self) -> str:
        return f"{self.obligation_id} {self.period:%Y-%m} {self.amount}"


class PeriodClose(models.Model):
    """A month closed for revenue: its recognition posted and the ledger month locked."""

    class Status(models.TextChoices):
        CLOSED = "closed", _("Closed")
        REOPENED = "reopened", _("Reopened")

    period = models.DateField(_("month"))  # first day
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.CLOSED)
    closed_at = models.DateTimeField(_("closed at"))
    closed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+")
    reopened_at = models.DateTimeField(_("reopened at"), null=True, blank=True)
    reopened_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    reopen_reason = models.TextField(_("reason for reopening"), blank=True)
    contracts = models.PositiveIntegerField(default=0)
    entries = models.PositiveIntegerField(default=0)
    lines = models.PositiveIntegerField(default=0)
    revenue_base = models.DecimalField(_("revenue recognised"), default=0, **AMOUNT)  # company currency
    seconds = models.FloatField(default=0)

    class Meta:
        ordering = ["-period", "-id"]
        constraints = [models.UniqueConstraint(fields=["period"], condition=Q(status="closed"),
                                               name="revenue_one_close_per_month")]

    def __str__(self) -> str:
        return self.period.strftime("%Y-%m")

    @classmethod
    def last_closed_month(cls):
        """The first day of the latest month that is closed, or None."""
        return cls.objects.filter(status=cls.Status.CLOSED).order_by("-period").values_list("period", flat=True).first()


class RevenuePosting(models.Model):
    """One contract's recognition in one closed month: revenue, and the deferred revenue and contract asset
    movements that net the contract's position (amounts signed: + debit, − credit for the balance sheet
    accounts; revenue + is a credit to revenue)."""

    revenue_contract = models.ForeignKey(RevenueContract, on_delete=models.PROTECT, related_name="postings")
    close = models.ForeignKey(PeriodClose, on_delete=models.PROTECT, related_name="postings")
    period = models.DateField(_("month"))
    revenue_amount = models.DecimalField(**AMOUNT)
    revenue_base = models.DecimalField(**AMOUNT)
    deferred_amount = models.DecimalField(**AMOUNT)  # debit to deferred revenue (2100)
    deferred_base = models.DecimalField(**AMOUNT)
    asset_amount = models.DecimalField(**AMOUNT)  # debit to contract asset (1150)
    asset_base = models.DecimalField(**AMOUNT)
    # moving an amount between deferred revenue and the contract asset at their own rates leaves an
    # exchange difference (company currency): + a gain (credit 7100), − a loss (debit 7200)
    fx_base = models.DecimalField(default=0, **AMOUNT)
    journal_entry = models.ForeignKey("ledger.JournalEntry", on_delete=models.PROTECT, related_name="+")
    reversed = models.BooleanField(default=False)

    class Meta:
        ordering = ["period", "id"]
        indexes = [models.Index(fields=["revenue_contract", "period"]), models.Index(fields=["period"])]

    def __str__(self) -> str:
        return f"{self.revenue_contract_id} {self.period:%Y-%m} {self.revenue_amount}"


class Recognition(models.Model):
    """What one obligation earned in one closed month (negative: a credit took back earned revenue)."""

    obligation = models.ForeignKey(PerformanceObligation, on_delete=models.PROTECT, related_name="recognitions")
    posting = models.ForeignKey(RevenuePosting, on_delete=models.PROTECT, related_name="recognitions")
    period = models.DateField(_("month"))
    amount = models.DecimalField(**AMOUNT)

    class Meta:
        ordering = ["period", "id"]
        indexes = [models.Index(fields=["obligation", "period"])]

    def __str__(self) -> str:
        return f"{self.obligation_id} {self.period:%Y-%m} {self.amount}"


class RemainingSnapshot(models.Model):
    """What one contract — or, without one, all of a customer's contracts — still had to recognise in one month,
    as a close left it: the remaining obligations the reports read instead of every schedule line
    (`revenue.snapshots`)."""

    # a derived copy, rewritten by every close: no database constraints to check per row on the bulk insert
    close = models.ForeignKey(PeriodClose, on_delete=models.CASCADE, related_name="+", db_constraint=False,
                              db_index=False)
    revenue_contract = models.ForeignKey(RevenueContract, on_delete=models.DO_NOTHING, related_name="+", null=True,
                                         db_constraint=False, db_index=False)  # None: the customer's sum
    account = models.ForeignKey("customers.Account", on_delete=models.DO_NOTHING, related_name="+",
                                db_constraint=False, db_index=False)
    currency = models.CharField(_("currency"), max_length=3)
    # the planned month (first day); a month the close left behind counts in the first open month
    month = models.DateField(_("month"))
    amount = models.DecimalField(**AMOUNT)  # contract currency

    class Meta:
        verbose_name = _("remaining obligation snapshot")
        indexes = [models.Index(fields=["close", "revenue_contract"], name="revenue_snapshot_contract")]

    def __str__(self) -> str:
        return f"{self.revenue_contract_id or self.account_id} {self.month:%Y-%m} {self.amount}"


class ServiceTerm(models.Model):
    """One row per ratable obligation with its service dates, in the form the MRR report sums (`revenue.terms`):
    the customer, the month ends it counts on (from `first_end` to before `gone_at`) and its allocated price
    per average month. Rewritten for a contract whenever it gets a new schedule version (every change of its
    obligations makes one), so the report reads one narrow row per subscription instead of the obligations
    and their contracts."""

    obligation = models.OneToOneField(PerformanceObligation, on_delete=models.CASCADE, primary_key=True,
                                      related_name="service_term")
    revenue_contract = models.ForeignKey(RevenueContract, on_delete=models.CASCADE, related_name="+")
    account = models.ForeignKey("customers.Account", on_delete=models.CASCADE, related_name="+")
    product = models.ForeignKey("quoting.Product", on_delete=models.CASCADE, related_name="+")
    currency = models.CharField(max_length=3)
    first_end = models.DateField()  # the last day of the month its service starts in
    gone_at = models.DateField()  # the first month end it no longer serves
    monthly = models.DecimalField(max_digits=30, decimal_places=16)  # allocated / (service days / (365/12))

    class Meta:
        indexes = [models.Index(fields=["first_end", "gone_at"])]

    def __str__(self) -> str:
        return f"{self.obligation_id}: {self.monthly} a month, {self.first_end} to before {self.gone_at}"


class MonthRevenue(models.Model):
    """A closed month's revenue per product or per customer (company currency, unrounded), written by its close
    (`revenue.summaries`) so the revenue-by-product and by-customer reports read a few rows per month instead of
    every recognition and posting. A reopened month's rows go with its postings (`summaries.delete`)."""

    class Dimension(models.TextChoices):
        PRODUCT = "product", _("Product")
        CUSTOMER = "customer", _("Customer")

    close = models.ForeignKey(PeriodClose, on_delete=models.CASCADE, related_name="+")
    period = models.DateField()
    dimension = models.CharField(max_length=10, choices=Dimension.choices)
    key = models.BigIntegerField()  # the product's or the customer's id
    amount = models.DecimalField(max_digits=38, decimal_places=12)

    class Meta:
        indexes = [models.Index(fields=["dimension", "period"])]

    def __str__(self) -> str:
        return f"{self.period:%Y-%m} {self.dimension} {self.key}: {self.amount}"
