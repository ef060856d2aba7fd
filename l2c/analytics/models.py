"""Analytics' own records: managers' forecast overrides and the weekly forecast snapshots kept to measure
forecast accuracy (`analytics.forecast`). Amounts are in the company currency."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from l2c.core.models import TimeStampedModel
from l2c.core.visibility import VisibleQuerySet

AMOUNT = {"max_digits": 20, "decimal_places": 2}


class ForecastCategory(models.TextChoices):
    """The forecast categories a report shows (the opportunity's own, less `omitted`)."""

    CLOSED = "closed", _("Closed")  # won in the month (a fact: never overridden)
    COMMIT = "commit", _("Commit")  # the rep commits to closing it in the month
    BEST_CASE = "best_case", _("Best case")  # could close in the month
    PIPELINE = "pipeline", _("Pipeline")  # early


# the categories a manager may override (what closed is what closed)
OVERRIDABLE_CATEGORIES = (ForecastCategory.COMMIT, ForecastCategory.BEST_CASE, ForecastCategory.PIPELINE)


class ForecastOverride(TimeStampedModel):
    """A manager's own figure for one owner's or one team's forecast category in one month, with the reason."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("owner"), null=True, blank=True,
                              on_delete=models.CASCADE, related_name="+")
    team = models.ForeignKey("identity.Team", verbose_name=_("team"), null=True, blank=True,
                             on_delete=models.CASCADE, related_name="+")
    month = models.DateField(_("month"))  # first day
    category = models.CharField(_("forecast category"), max_length=20, choices=ForecastCategory.choices)
    amount = models.DecimalField(_("amount"), **AMOUNT)
    currency = models.CharField(_("currency"), max_length=3)
    note = models.TextField(_("note"), blank=True)
    set_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("set by"), null=True, blank=True,
                               on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["month", "category", "id"]
        verbose_name = _("forecast override")
        constraints = [
            models.CheckConstraint(condition=Q(owner__isnull=True) ^ Q(team__isnull=True),
                                   name="forecast_override_owner_xor_team"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="forecast_override_amount_not_negative"),
            models.UniqueConstraint(fields=["owner", "month", "category"], condition=Q(owner__isnull=False),
                                    name="forecast_override_owner_unique"),
            models.UniqueConstraint(fields=["team", "month", "category"], condition=Q(team__isnull=False),
                                    name="forecast_override_team_unique"),
        ]
        indexes = [models.Index(fields=["month", "category"], name="forecast_override_month")]

    def __str__(self) -> str:
        return f"{self.owner_id or 'team ' + str(self.team_id)} {self.month:%Y-%m} {self.category}: {self.amount}"


class ForecastSnapshot(models.Model):
    """The forecast as it stood at one moment (weekly, or taken by hand), kept to measure its accuracy later."""

    class Kind(models.TextChoices):
        SCHEDULED = "scheduled", _("Weekly")  # the Monday beat job
        MANUAL = "manual", _("Taken by hand")

    taken_at = models.DateTimeField(_("taken at"), db_index=True)
    week = models.DateField(_("week"))  # the Monday of the week it was taken in
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    taken_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("taken by"), null=True, blank=True,
                                 on_delete=models.SET_NULL, related_name="+")
    currency = models.CharField(_("currency"), max_length=3)
    first_month = models.DateField(_("first month"))
    last_month = models.DateField(_("last month"))
    # [{"currency": "JPY", "amount": "…"}]: amounts left out because no exchange rate was known
    unconverted = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-taken_at", "-id"]
        verbose_name = _("forecast snapshot")
        constraints = [models.UniqueConstraint(fields=["week"], condition=Q(kind="scheduled"),
                                               name="forecast_snapshot_one_weekly")]

    def __str__(self) -> str:
        return f"{self.taken_at:%Y-%m-%d %H:%M} ({self.kind})"


class ForecastSnapshotLine(models.Model):
    """One owner's (or, for a team override, one team's) forecast category in one month, in a snapshot."""

    class Level(models.TextChoices):
        OWNER = "owner", _("Owner")
        TEAM = "team", _("Team")  # only where the team's figure was overridden

    snapshot = models.ForeignKey(ForecastSnapshot, on_delete=models.CASCADE, related_name="lines")
    level = models.CharField(max_length=10, choices=Level.choices, default=Level.OWNER)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    team = models.ForeignKey("identity.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    month = models.DateField()
    category = models.CharField(max_length=20, choices=ForecastCategory.choices)
    count = models.PositiveIntegerField(default=0)
    computed = models.DecimalField(**AMOUNT)  # sum of the amounts
    weighted = models.DecimalField(**AMOUNT)  # sum of amount × probability
    override = models.DecimalField(null=True, blank=True, **AMOUNT)
    final = models.DecimalField(**AMOUNT)  # the override where there is one, else computed

    class Meta:
        ordering = ["snapshot_id", "month", "category", "id"]
        indexes = [models.Index(fields=["snapshot", "month"], name="forecast_line_snapshot_month")]

    def __str__(self) -> str:
        return f"{self.snapshot_id} {self.owner_id or self.team_id} {self.month:%Y-%m} {self.category}: {self.final}"


class LeadFlowQuerySet(VisibleQuerySet):
    """Visible like the lead itself (`owner` is the lead's owner; managers also see unassigned leads)."""

    unassigned_to_managers = True


class LeadFlow(models.Model):
    """How far one lead got down the lead-to-cash flow, kept up to date (`analytics.leadflow`) so the funnel,
    cycle-time and attribution reports read one narrow row per lead instead of tracing every lead's
    opportunities, quotes, invoices and payments at each request.

    The lead's own report dimensions are copied (owner, campaign, source, country, created_at). Every traced
    figure counts *all* records of the chain; `uniform` says whoever may see the lead may see every one of them
    (the chain's opportunities, quotes and invoices' accounts all belong to the lead's owner), so a restricted
    user's report may use the stored figures; for the other leads the reports trace the chain again through
    what the user may see. `currency` is the one currency of the lead's opportunities (blank when none, or
    mixed: then attribution converts them live)."""

    lead = models.OneToOneField("leads.Lead", primary_key=True, on_delete=models.CASCADE, related_name="flow")
    created_at = models.DateTimeField()
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+",
                              db_constraint=False, db_index=False)  # indexed with created_at below
    campaign = models.ForeignKey("leads.Campaign", null=True, on_delete=models.SET_NULL, related_name="+",
                                 db_constraint=False, db_index=False)
    source = models.CharField(max_length=20, blank=True)
    country = models.CharField(max_length=2, blank=True)
    qualified = models.BooleanField(default=False)
    step = models.PositiveSmallIntegerField(default=0)  # index in funnel.STEPS of the furthest step reached
    uniform = models.BooleanField(default=True)
    first_cash_on = models.DateField(null=True)
    first_campaign = models.ForeignKey("leads.Campaign", null=True, on_delete=models.SET_NULL, related_name="+",
                                       db_constraint=False, db_index=False)  # first-touch attribution
    last_campaign = models.ForeignKey("leads.Campaign", null=True, on_delete=models.SET_NULL, related_name="+",
                                      db_constraint=False, db_index=False)  # last-touch attribution
    currency = models.CharField(max_length=3, blank=True)
    mixed_currency = models.BooleanField(default=False)
    pipeline = models.DecimalField(default=0, **AMOUNT)  # open opportunities' amount, in `currency`
    won = models.DecimalField(default=0, **AMOUNT)  # won opportunities' amount, in `currency`
    invoiced = models.DecimalField(default=0, **AMOUNT)  # posted invoices, company currency
    cash = models.DecimalField(default=0, **AMOUNT)  # payments applied to them, company currency
    revenue = models.DecimalField(default=0, **AMOUNT)  # revenue recognised, company currency
    computed_at = models.DateTimeField()

    objects = LeadFlowQuerySet.as_manager()

    class Meta:
        # the reports read a range of creation dates, all of it (an admin, a manager: a seq scan of narrow rows) or
        # one owner's (a rep); no index per campaign: they are grouped by, never looked up
        indexes = [models.Index(fields=["created_at"], name="leadflow_created"),
                   models.Index(fields=["owner", "created_at"], name="leadflow_owner_created"),
                   # the few leads whose chain a restricted user may not wholly see: traced again per report
                   models.Index(fields=["created_at"], condition=Q(uniform=False), name="leadflow_not_uniform")]

    def __str__(self) -> str:
        return f"lead {self.lead_id}: step {self.step}"


class LeadFlowDirty(models.Model):
    """A lead whose flow row must be computed again: written in the same transaction as the change that makes
    it stale (so a committed change is never missed), taken off when the row is computed."""

    lead_id = models.BigIntegerField()
    last_lead_id = models.BigIntegerField(null=True)  # a range of leads (a bulk insert): lead_id..last_lead_id

    def __str__(self) -> str:
        return f"lead {self.lead_id}" + (f"..{self.last_lead_id}" if self.last_lead_id else "")
