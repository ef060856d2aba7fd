"""The sales pipeline: configurable stages, opportunities, their stage history, and activities."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _

from l2c.core.models import TimeStampedModel
from l2c.core.visibility import VisibleQuerySet
from l2c.leads.choices import LeadSource

from .choices import OPEN_ACTIVITY_KINDS, ActivityKind, ForecastCategory

# The default stages' names, so they are in the translation catalogue (see Stage.label).
DEFAULT_STAGE_NAMES = [
    gettext_noop("Prospecting"), gettext_noop("Qualification"), gettext_noop("Proposal"),
    gettext_noop("Negotiation"), gettext_noop("Closed Won"), gettext_noop("Closed Lost"),
]


class Stage(TimeStampedModel):
    """A step of the sales pipeline, with its default probability and entry requirements."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    order = models.PositiveIntegerField(_("order"), default=0, db_index=True)
    probability = models.PositiveSmallIntegerField(_("default probability %"), default=10)
    is_won = models.BooleanField(_("won stage"), default=False)
    is_lost = models.BooleanField(_("lost stage"), default=False)
    required_fields = models.JSONField(_("fields required to enter"), default=list, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    # expected days in this stage; used to flag stuck deals
    expected_days = models.PositiveIntegerField(_("expected days in stage"), null=True, blank=True)

    class Meta:
        ordering = ["order", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(probability__lte=100), name="stage_probability_max_100"),
            models.CheckConstraint(condition=~(Q(is_won=True) & Q(is_lost=True)), name="stage_not_won_and_lost"),
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        """The name in the user's language when it is one of the default stages' names."""
        return gettext(self.name) if self.name else ""

    @property
    def is_closed(self) -> bool:
        return self.is_won or self.is_lost


class OpportunityQuerySet(VisibleQuerySet):
    pass


class Opportunity(TimeStampedModel):
    """A deal being worked: what, how much, when, and how likely."""

    name = models.CharField(_("name"), max_length=200)
    account = models.ForeignKey("customers.Account", verbose_name=_("account"), on_delete=models.PROTECT,
                                related_name="opportunities")
    contact = models.ForeignKey("customers.Contact", verbose_name=_("contact"), null=True, blank=True,
                                on_delete=models.SET_NULL, related_name="opportunities")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("owner"), null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="opportunities")
    amount = models.DecimalField(_("amount"), max_digits=20, decimal_places=2, null=True, blank=True)
    currency = models.CharField(_("currency"), max_length=3, default="USD")
    expected_close_date = models.DateField(_("expected close date"), null=True, blank=True, db_index=True)
    stage = models.ForeignKey(Stage, verbose_name=_("stage"), on_delete=models.PROTECT, related_name="opportunities")
    stage_entered_at = models.DateTimeField(_("in stage since"), null=True, blank=True)
    probability = models.PositiveSmallIntegerField(_("probability %"), default=10)
    forecast_category = models.CharField(_("forecast category"), max_length=20, choices=ForecastCategory.choices,
                                         default=ForecastCategory.PIPELINE)
    next_step = models.CharField(_("next step"), max_length=255, blank=True)
    # qualification (BANT)
    budget = models.CharField(_("budget"), max_length=255, blank=True)
    authority = models.CharField(_("authority"), max_length=255, blank=True)
    need = models.CharField(_("need"), max_length=255, blank=True)
    timeline = models.CharField(_("timeline"), max_length=255, blank=True)
    lost_reason = models.CharField(_("lost reason"), max_length=255, blank=True)
    competitor = models.CharField(_("competitor"), max_length=200, blank=True)
    description = models.TextField(_("description"), blank=True)
    # origin, kept so revenue can be traced to the lead and campaign
    lead = models.ForeignKey("leads.Lead", verbose_name=_("lead"), null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="opportunities")
    source = models.CharField(_("source"), max_length=20, choices=LeadSource.choices, blank=True)
    campaign = models.ForeignKey("leads.Campaign", verbose_name=_("campaign"), null=True, blank=True,
                                 on_delete=models.SET_NULL, related_name="opportunities")
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)

    objects = OpportunityQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = _("opportunities")
        indexes = [
            models.Index(fields=["owner", "stage"]), models.Index(fields=["stage", "expected_close_date"]),
            # the bottleneck report's open ages and stuck deals (PostgreSQL covers the owner for visibility)
            models.Index(fields=["stage", "stage_entered_at"], include=["owner"], condition=Q(closed_at__isnull=True),
                         name="opportunity_open_in_stage"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(probability__lte=100), name="opportunity_probability_max_100"),
            models.CheckConstraint(condition=Q(amount__isnull=True) | Q(amount__gte=0), name="opportunity_amount_not_negative"),
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        """The name in the user's language when it is one of the default stages' names."""
        return gettext(self.name) if self.name else ""

    @property
    def is_closed(self) -> bool:
        return self.closed_at is not None

    @property
    def is_won(self) -> bool:
        return self.stage.is_won

    @property
    def is_lost(self) -> bool:
        return self.stage.is_lost

    @property
    def days_in_stage(self) -> int:
        """Whole days since the opportunity entered its current stage."""
        from django.utils import timezone

        if self.stage_entered_at is None:
            return 0
        return max((timezone.now() - self.stage_entered_at).days, 0)

    @property
    def is_stuck(self) -> bool:
        """Longer in the stage than the stage expects (flags deals that need attention)."""
        expected = self.stage.expected_days
        return bool(expected) and not self.is_closed and self.days_in_stage > expected


class StageHistory(models.Model):
    """One stay of an opportunity in a stage: when it entered and left, and who moved it."""

    opportunity = models.ForeignKey(Opportunity, on_delete=models.CASCADE, related_name="stage_history")
    stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="+")
    from_stage = models.ForeignKey(Stage, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    entered_at = models.DateTimeField(db_index=True)
    left_at = models.DateTimeField(null=True, blank=True)
    moved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+")
    amount = models.DecimalField(max_digits=20, decimal_places=2, null=True, blank=True)
    probability = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["entered_at", "id"]
        verbose_name_plural = _("stage history")
        indexes = [
            models.Index(fields=["stage", "entered_at"]),
            # the bottleneck report's time in stage: stays that ended in the range
            models.Index(fields=["left_at"], include=["stage", "entered_at", "opportunity"],
                         condition=Q(left_at__isnull=False), name="stagehistory_left"),
        ]

    def __str__(self) -> str:
        return f"{self.opportunity_id} in {self.stage_id} since {self.entered_at:%Y-%m-%d}"

    @property
    def duration(self):
        from django.utils import timezone

        return (self.left_at or timezone.now()) - self.entered_at

    @property
    def days(self) -> int:
        return self.duration.days


# The records an activity can hang on: (field on Activity, "app.Model" of the target).
ACTIVITY_TARGETS = (("lead", "leads.Lead"), ("account", "customers.Account"), ("contact", "customers.Contact"),
                    ("opportunity", "pipeline.Opportunity"))


class ActivityQuerySet(VisibleQuerySet):
    """A user sees the activities they are assigned, and every activity on a record they may see."""

    def owner_q(self, user) -> Q:
        from django.apps import apps

        own = super().owner_q(user)
        if not own:  # admin: everything
            return own
        q = own
        for field, label in ACTIVITY_TARGETS:
            model = apps.get_model(label)
            target_qs = model.objects.all()
            # Reuse the target's own rule, re-rooted at the activity's foreign key.
            target_qs.owner_field = f"{field}__{type(target_qs).owner_field}"
            target_q = target_qs.owner_q(user)
            attached = Q(**{f"{field}__isnull": False})
            # An empty Q means "every row" for the target; OR-ing an empty Q would drop it.
            q |= attached & target_q if target_q else attached
        return q


class Activity(TimeStampedModel):
    """A call, e-mail, meeting, task or note on a lead, contact, account or opportunity."""

    kind = models.CharField(_("type"), max_length=20, choices=ActivityKind.choices, default=ActivityKind.TASK)
    subject = models.CharField(_("subject"), max_length=200)
    body = models.TextField(_("details"), blank=True)
    due_at = models.DateTimeField(_("due"), null=True, blank=True, db_index=True)
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("assigned to"), null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="activities")
    lead = models.ForeignKey("leads.Lead", verbose_name=_("lead"), null=True, blank=True, on_delete=models.CASCADE, related_name="activities")
    account = models.ForeignKey("customers.Account", verbose_name=_("account"), null=True, blank=True, on_delete=models.CASCADE,
                                related_name="activities")
    contact = models.ForeignKey("customers.Contact", verbose_name=_("contact"), null=True, blank=True, on_delete=models.CASCADE,
                                related_name="activities")
    opportunity = models.ForeignKey(Opportunity, verbose_name=_("opportunity"), null=True, blank=True, on_delete=models.CASCADE,
                                    related_name="activities")

    objects = ActivityQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = _("activities")
        indexes = [models.Index(fields=["owner", "done_at", "due_at"])]

    def __str__(self) -> str:
        return self.subject

    @property
    def is_open(self) -> bool:
        return self.done_at is None and self.kind in OPEN_ACTIVITY_KINDS

    @property
    def is_overdue(self) -> bool:
        from django.utils import timezone

        return self.is_open and self.due_at is not None and self.due_at < timezone.now()
