"""Reads of the pipeline app, always scoped to what the user may see (`.restrict(user)`)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db.models import Count, Q, Sum
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _

from l2c.core import listing
from l2c.core.errors import ValidationFailed
from l2c.core.validation import as_id
from l2c.core.visibility import Role

from .choices import OPEN_ACTIVITY_KINDS, ForecastCategory
from .models import Activity, Opportunity, Stage, StageHistory

OPPORTUNITY_ORDERING = {
    "name": ("name",),
    "amount": ("amount",),
    "expected_close_date": ("expected_close_date",),
    "created_at": ("created_at",),
    "updated_at": ("updated_at",),
    "probability": ("probability",),
    "stage": ("stage__order",),
    "account": ("account__name",),
    "owner": ("owner__username",),
    "stage_entered_at": ("stage_entered_at",),
}
OPPORTUNITY_SEARCH = ("name", "account__name", "contact__last_name", "contact__first_name", "next_step", "competitor")
ACTIVITY_ORDERING = {"due_at": ("due_at",), "created_at": ("created_at",), "subject": ("subject",),
                     "kind": ("kind",), "done_at": ("done_at",)}
OPPORTUNITY_STATUSES = ("open", "won", "lost", "closed")


# --- stages -----------------------------------------------------------------------------------------

def stage_list(*, active_only: bool = False):
    qs = Stage.objects.order_by("order", "id")
    return qs.filter(is_active=True) if active_only else qs


def stage_get(*, pk) -> Stage:
    return get_object_or_404(Stage, pk=pk)


# --- opportunities ----------------------------------------------------------------------------------

def _int_or_error(value, field: str) -> int | None:
    if value in (None, ""):
        return None
    if isinstance(value, int | str) and as_id(value) is not None:
        return as_id(value)
    raise ValidationFailed.single(field, _("Give a numeric id."), "invalid")


def _date_or_error(value, field: str) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise ValidationFailed.single(field, _("Enter a date as YYYY-MM-DD."), "invalid") from exc


def opportunity_list(*, user, q: str | None = None, stage=None, owner=None, account=None,
                     forecast_category: str | None = None, status: str | None = None, close_before=None,
                     close_after=None, lead=None, ordering: str | None = None):
    """The opportunities `user` may see, filtered, searched and ordered (unknown ordering: 422)."""
    qs = Opportunity.objects.restrict(user).select_related("account", "contact", "owner", "stage")
    qs = listing.search(qs, q, OPPORTUNITY_SEARCH)
    if (stage_id := _int_or_error(stage, "stage")) is not None:
        qs = qs.filter(stage_id=stage_id)
    if (owner_id := _int_or_error(owner, "owner")) is not None:
        qs = qs.filter(owner_id=owner_id)
    if (account_id := _int_or_error(account, "account")) is not None:
        qs = qs.filter(account_id=account_id)
    if (lead_id := _int_or_error(lead, "lead")) is not None:
        qs = qs.filter(lead_id=lead_id)
    if forecast_category:
        if forecast_category not in ForecastCategory.values:
            raise ValidationFailed.single("forecast_category", _("Choose one of %(c)s.")
                                          % {"c": ", ".join(ForecastCategory.values)}, "invalid_choice")
        qs = qs.filter(forecast_category=forecast_category)
    if status:
        if status not in OPPORTUNITY_STATUSES:
            raise ValidationFailed.single("status", _("Choose one of %(c)s.") % {"c": ", ".join(OPPORTUNITY_STATUSES)},
                                          "invalid_choice")
        qs = {
            "open": qs.filter(closed_at__isnull=True),
            "closed": qs.filter(closed_at__isnull=False),
            "won": qs.filter(stage__is_won=True),
            "lost": qs.filter(stage__is_lost=True),
        }[status]
    if (before := _date_or_error(close_before, "close_before")) is not None:
        qs = qs.filter(expected_close_date__lte=before)
    if (after := _date_or_error(close_after, "close_after")) is not None:
        qs = qs.filter(expected_close_date__gte=after)
    return listing.order(qs, ordering, OPPORTUNITY_ORDERING, "-created_at")


def opportunity_get(*, user, pk) -> Opportunity:
    """One opportunity `user` may see; 404 for a hidden one, exactly like a missing one."""
    return get_object_or_404(
        Opportunity.objects.restrict(user).select_related("account", "contact", "owner", "stage", "lead", "campaign"),
        pk=pk,
    )


def stage_history(*, opportunity: Opportunity):
    return StageHistory.objects.filter(opportunity=opportunity).select_related("stage", "from_stage", "moved_by") \
        .order_by("entered_at", "id")


def stage_progress(*, opportunity: Opportunity) -> list[dict]:
    """The progress bar: the open stages in order (done / current / ahead), then the won stage as the
    goal, or the closed stage the deal ended in."""
    current = opportunity.stage
    stages = list(stage_list(active_only=True))
    steps = []
    for stage in stages:
        if stage.is_closed:
            continue
        if stage.pk == current.pk:
            state = "current"
        elif current.is_closed or (stage.order, stage.pk) < (current.order, current.pk):
            state = "done"
        else:
            state = "ahead"
        steps.append({"stage": stage, "state": state})
    if current.is_closed:
        steps.append({"stage": current, "state": "current"})
    else:
        won = next((s for s in stages if s.is_won), None)
        if won is not None:
            steps.append({"stage": won, "state": "ahead"})
    return steps


def assignable_owners(*, user):
    """The users `user` may filter by or assign to: an admin anyone, a manager the team, a rep themselves."""
    User = get_user_model()
    qs = User.objects.filter(is_active=True, role__in=[Role.ADMIN, Role.MANAGER, Role.REP]).order_by("username")
    if getattr(user, "is_admin", False):
        return qs
    if getattr(user, "role", None) == Role.MANAGER and user.team_id:
        return qs.filter(Q(team_id=user.team_id) | Q(pk=user.pk))
    return qs.filter(pk=user.pk)


@dataclass
class BoardColumn:
    stage: Stage
    cards: list = field(default_factory=list)
    count: int = 0
    totals: list = field(default_factory=list)  # [(currency, Decimal)], company currency first
    more: int = 0


BOARD_CARDS_PER_COLUMN = 50
BOARD_CLOSED_DAYS = 30
# What a card shows (pipeline/_card.html): a board has up to 300 cards, so only these columns are read.
BOARD_CARD_FIELDS = ("name", "amount", "currency", "stage", "stage_entered_at", "closed_at", "expected_close_date",
                     "account", "account__name", "owner", "owner__username", "owner__first_name",
                     "owner__last_name")


def board(*, user, owner=None, q: str | None = None) -> list[BoardColumn]:
    """The Kanban board: one column per active stage with count, sums per currency and the top cards.

    Won and lost columns show what closed in the last BOARD_CLOSED_DAYS days. Queries: two aggregates
    plus one per column, whatever the number of opportunities.
    """
    from django.conf import settings

    base = Opportunity.objects.restrict(user)
    if (owner_id := _int_or_error(owner, "owner")) is not None:
        base = base.filter(owner_id=owner_id)
    base = listing.search(base, q, OPPORTUNITY_SEARCH)
    since = timezone.now() - dt.timedelta(days=BOARD_CLOSED_DAYS)
    base = base.filter(Q(closed_at__isnull=True) | Q(closed_at__gte=since))
    stages = list(stage_list(active_only=True))
    columns = {s.pk: BoardColumn(stage=s) for s in stages}
    company = settings.L2C_COMPANY_CURRENCY
    # Two aggregates, open deals and recently closed ones, rather than one over the OR of both: each
    # half is then an index-only scan on PostgreSQL (migration pipeline 0004), not a table scan.
    open_deals, recently_closed = base.filter(closed_at__isnull=True), base.filter(closed_at__gte=since)
    for part in (open_deals, recently_closed):
        for row in part.values("stage_id", "currency").annotate(n=Count("id"), total=Sum("amount")).order_by():
            column = columns.get(row["stage_id"])
            if column is None:
                continue
            column.count += row["n"]
            sums = dict(column.totals)
            sums[row["currency"]] = sums.get(row["currency"], Decimal(0)) + (row["total"] or Decimal(0))
            column.totals = list(sums.items())
    for column in columns.values():
        column.totals.sort(key=lambda t: (t[0] != company, t[0]))
        # A closed stage's deals all have closed_at, an open stage's none (opportunity_move keeps it so);
        # saying which half a column reads lets PostgreSQL pick the index for it.
        part = recently_closed if column.stage.is_closed else open_deals
        cards = part.filter(stage=column.stage).select_related("account", "owner") \
            .only(*BOARD_CARD_FIELDS).order_by("-amount", "expected_close_date", "id")
        column.cards = list(cards[:BOARD_CARDS_PER_COLUMN])
        for card in column.cards:  # the column's stage, not one copy per card
            card.stage = column.stage
        column.more = max(column.count - len(column.cards), 0)
    return [columns[s.pk] for s in stages]


def board_column(*, user, stage: Stage, owner=None) -> BoardColumn:
    """Count and sums of one column (to refresh its header after a move)."""
    for column in board(user=user, owner=owner):
        if column.stage.pk == stage.pk:
            return column
    return BoardColumn(stage=stage)


def pipeline_summary(*, user, team: bool = False) -> dict:
    """Open opportunities by stage with count and sums per currency, for the home page."""
    qs = Opportunity.objects.restrict(user) if team else Opportunity.objects.filter(owner=user)
    open_qs = qs.filter(closed_at__isnull=True)
    stages = {s.pk: {"stage": s, "count": 0, "totals": {}} for s in stage_list(active_only=True) if not s.is_closed}
    weighted: dict[str, Decimal] = {}
    total: dict[str, Decimal] = {}
    for row in open_qs.values("stage_id", "currency", "probability").annotate(n=Count("id"), amount=Sum("amount")) \
            .order_by():
        entry = stages.get(row["stage_id"])
        amount = row["amount"] or Decimal(0)
        if entry is not None:
            entry["count"] += row["n"]
            entry["totals"][row["currency"]] = entry["totals"].get(row["currency"], Decimal(0)) + amount
        total[row["currency"]] = total.get(row["currency"], Decimal(0)) + amount
        weighted[row["currency"]] = weighted.get(row["currency"], Decimal(0)) + amount * row["probability"] / 100
    month_start = timezone.localtime().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    won = qs.filter(stage__is_won=True, closed_at__gte=month_start)
    won_totals = {r["currency"]: r["amount"] or Decimal(0)
                  for r in won.values("currency").annotate(amount=Sum("amount")).order_by()}
    return {
        "stages": list(stages.values()),
        "open_count": sum(s["count"] for s in stages.values()),
        "open_totals": total,
        "weighted_totals": weighted,
        "won_count": won.count(),
        "won_totals": won_totals,
        "closing_this_month": open_qs.filter(
            expected_close_date__lte=(month_start + dt.timedelta(days=32)).replace(day=1).date() - dt.timedelta(days=1),
        ).count(),
    }


# --- activities -------------------------------------------------------------------------------------

def activity_list(*, user, kind: str | None = None, status: str | None = None, owner=None, lead=None, account=None,
                  contact=None, opportunity=None, q: str | None = None, due: str | None = None,
                  ordering: str | None = None):
    """Activities `user` may see. status: open | done; due: overdue | today | upcoming."""
    from .choices import ActivityKind

    qs = Activity.objects.restrict(user).select_related("owner", "lead", "account", "contact", "opportunity")
    if kind:
        if kind not in ActivityKind.values:
            raise ValidationFailed.single("kind", _("Choose one of %(c)s.") % {"c": ", ".join(ActivityKind.values)},
                                          "invalid_choice")
        qs = qs.filter(kind=kind)
    if status:
        if status not in ("open", "done"):
            raise ValidationFailed.single("status", _("Choose open or done."), "invalid_choice")
        qs = qs.filter(done_at__isnull=(status == "open"))
    for name, value in (("owner", owner), ("lead", lead), ("account", account), ("contact", contact),
                        ("opportunity", opportunity)):
        if (pk := _int_or_error(value, name)) is not None:
            qs = qs.filter(**{f"{name}_id": pk})
    if due:
        start, end = today_bounds()
        now = timezone.now()
        choices = {
            "overdue": Q(due_at__lt=now, done_at__isnull=True),
            "today": Q(due_at__gte=start, due_at__lt=end),
            "upcoming": Q(due_at__gte=end),
        }
        if due not in choices:
            raise ValidationFailed.single("due", _("Choose overdue, today or upcoming."), "invalid_choice")
        qs = qs.filter(choices[due])
    qs = listing.search(qs, q, ("subject", "body"))
    return listing.order(qs, ordering, ACTIVITY_ORDERING, "due_at")


def activity_get(*, user, pk) -> Activity:
    return get_object_or_404(Activity.objects.restrict(user).select_related("owner"), pk=pk)


def today_bounds() -> tuple[dt.datetime, dt.datetime]:
    """Start and end of today in the current time zone."""
    start = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + dt.timedelta(days=1)


def my_tasks(*, user):
    """My open tasks, calls and meetings that are overdue or due today, the most urgent first."""
    _start, end = today_bounds()
    return (
        Activity.objects.restrict(user)
        .filter(owner=user, done_at__isnull=True, kind__in=OPEN_ACTIVITY_KINDS, due_at__lt=end)
        .select_related("lead", "account", "contact", "opportunity")
        .order_by("due_at", "id")
    )


ACTIVITIES_SHOWN = 25


def activities_for(*, user, target: str, pk, limit: int | None = None):
    """The activities on one record (for its page): open ones first by due date, then the done ones,
    the latest first.

    With `limit`, at most `limit` open and `limit` done ones (two queries, whatever the record has:
    a busy deal has thousands); `.more` on the returned list says whether some were left out."""
    from django.db.models.functions import Coalesce

    qs = Activity.objects.restrict(user).filter(**{f"{target}_id": pk}).select_related("owner")
    open_qs = qs.filter(done_at__isnull=True).order_by(Coalesce("due_at", "created_at").asc(), "id")
    done_qs = qs.filter(done_at__isnull=False).order_by("-done_at", "-id")
    if limit is None:
        return ActivityList([*open_qs, *done_qs])
    open_rows, done_rows = list(open_qs[:limit + 1]), list(done_qs[:limit + 1])
    result = ActivityList([*open_rows[:limit], *done_rows[:limit]])
    result.more = len(open_rows) > limit or len(done_rows) > limit
    return result


class ActivityList(list):
    """A record's activities as shown; `more` is true when some were left out."""

    more = False
