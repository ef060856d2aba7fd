"""Reads of leads and campaigns, always limited to what the user may see."""
from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count, QuerySet
from django.utils.translation import gettext as _

from l2c.core import listing
from l2c.core.errors import NotFound, ValidationFailed
from l2c.core.money import round_money
from l2c.core.validation import as_id
from l2c.customers.selectors import parse_id, parse_owner

from .choices import CampaignStatus, CampaignType, LeadSource, LeadStatus
from .models import Campaign, Lead

LEAD_SEARCH = ("first_name", "last_name", "email", "company", "phone")
LEAD_ORDERING = {
    "created_at": ("created_at",),
    "updated_at": ("updated_at",),
    "last_name": ("last_name", "first_name"),
    "company": ("company",),
    "status": ("status",),
    "score": ("score",),
    "source": ("source",),
    "country": ("country",),
    "owner": ("owner__username",),
}
CAMPAIGN_SEARCH = ("name", "description")
CAMPAIGN_ORDERING = {
    "name": ("name",),
    "start_date": ("start_date",),
    "end_date": ("end_date",),
    "status": ("status",),
    "type": ("type",),
    "budget": ("budget",),
    "cost": ("cost",),
    "created_at": ("created_at",),
}


def _choice(filters: dict, name: str, choices) -> str | None:
    value = filters.get(name)
    if value in (None, ""):
        return None
    if value not in choices.values:
        raise ValidationFailed.single(name, _("Unknown value %(value)r; choose one of %(allowed)s.")
                                      % {"value": value, "allowed": ", ".join(v for v in choices.values if v)},
                                      "invalid_choice")
    return value


def lead_list(*, user, q: str = "", filters: dict | None = None, ordering: str | None = None) -> QuerySet:
    """Leads `user` may see. filters: status, source, campaign (id), owner (id/"me"/"none"), country."""
    filters = filters or {}
    qs = Lead.objects.restrict(user).filter(merged_into__isnull=True).select_related("owner", "campaign")
    status = _choice(filters, "status", LeadStatus)
    if status:
        qs = qs.filter(status=status)
    source = _choice(filters, "source", LeadSource)
    if source:
        qs = qs.filter(source=source)
    campaign_id = parse_id(filters.get("campaign"), "campaign")
    if campaign_id is not None:
        qs = qs.filter(campaign_id=campaign_id)
    qs = qs.filter(**parse_owner(filters.get("owner"), user))
    if filters.get("country"):
        qs = qs.filter(country=str(filters["country"]).strip().upper())
    qs = listing.search(qs, q, LEAD_SEARCH)
    return listing.order(qs, ordering, LEAD_ORDERING, "-created_at")


def lead_get(*, user, pk) -> Lead:
    # a lead merged into another is gone from every list and lookup (its page redirects to the survivor)
    lead = (Lead.objects.restrict(user).filter(merged_into__isnull=True)
            .select_related("owner", "campaign", "converted_account", "converted_contact")
            .filter(pk=pk).first() if as_id(pk) is not None else None)
    if lead is None:
        raise NotFound(_("No lead with id %(id)s.") % {"id": pk})
    return lead


def lead_status_counts(*, user) -> dict[str, int]:
    """How many visible leads are in each status (for the list's filter chips)."""
    rows = Lead.objects.restrict(user).filter(merged_into__isnull=True).order_by().values("status").annotate(n=Count("id"))
    return {row["status"]: row["n"] for row in rows}


# --- the lead board ------------------------------------------------------------------------------------

BOARD_STATUSES = (LeadStatus.NEW, LeadStatus.WORKING, LeadStatus.NURTURING, LeadStatus.QUALIFIED)
BOARD_CARDS_PER_COLUMN = 50
BOARD_CARD_FIELDS = ("first_name", "last_name", "company", "country", "status", "score", "created_at",
                     "status_changed_at", "owner__first_name", "owner__last_name", "owner__email",
                     "owner__username")


@dataclass
class BoardColumn:
    status: str
    label: str
    count: int = 0
    cards: list = field(default_factory=list)
    more: int = 0


def lead_board(*, user, filters: dict | None = None, q: str = "") -> list[BoardColumn]:
    """The lead board: one column per open status (new, working, nurturing, qualified) with its count and its
    hottest leads first (score, then newest). Same filters as the list (source, campaign, owner, country)
    and what `user` may see. One count query plus one per column."""
    base = lead_list(user=user, q=q, filters={k: v for k, v in (filters or {}).items() if k != "status"})
    base = base.order_by()
    labels = dict(LeadStatus.choices)
    columns = {s: BoardColumn(status=s, label=str(labels[s])) for s in BOARD_STATUSES}
    for row in base.filter(status__in=BOARD_STATUSES).values("status").annotate(n=Count("id")):
        columns[row["status"]].count = row["n"]
    for column in columns.values():
        if not column.count:
            continue
        # scored leads by score, then the unscored ones newest first (NULLS LAST in one query would sort the
        # whole status twice). No index holds `score`, so that re-scoring a million leads stays HOT updates
        # (docs/benchmarks.md, lead scoring): the scored query is a top-50 sort of the status's rows.
        cards = base.filter(status=column.status).select_related(None).select_related("owner").only(*BOARD_CARD_FIELDS)
        column.cards = list(cards.filter(score__isnull=False).order_by("-score", "-created_at", "-id")
                            [:BOARD_CARDS_PER_COLUMN])
        if len(column.cards) < BOARD_CARDS_PER_COLUMN:
            column.cards += cards.filter(score__isnull=True).order_by("-created_at", "-id")[
                :BOARD_CARDS_PER_COLUMN - len(column.cards)]
        column.more = max(column.count - len(column.cards), 0)
    return list(columns.values())


def campaign_list(*, user, q: str = "", filters: dict | None = None, ordering: str | None = None) -> QuerySet:
    """Campaigns `user` may see. filters: status, type, owner."""
    filters = filters or {}
    qs = Campaign.objects.restrict(user).select_related("owner").annotate(leads_count=Count("leads"))
    status = _choice(filters, "status", CampaignStatus)
    if status:
        qs = qs.filter(status=status)
    kind = _choice(filters, "type", CampaignType)
    if kind:
        qs = qs.filter(type=kind)
    qs = qs.filter(**parse_owner(filters.get("owner"), user))
    qs = listing.search(qs, q, CAMPAIGN_SEARCH)
    return listing.order(qs, ordering, CAMPAIGN_ORDERING, "-start_date")


def campaign_get(*, user, pk) -> Campaign:
    campaign = (Campaign.objects.restrict(user).select_related("owner").filter(pk=pk).first()
                if as_id(pk) is not None else None)
    if campaign is None:
        raise NotFound(_("No campaign with id %(id)s.") % {"id": pk})
    return campaign


def campaign_lead_stats(*, user, campaign: Campaign) -> dict:
    """Leads of the campaign the user may see, by status, plus the cost per lead (all leads)."""
    by_status = dict(
        Lead.objects.restrict(user).filter(campaign=campaign, merged_into__isnull=True).order_by().values_list("status")
        .annotate(n=Count("id")).values_list("status", "n")
    )
    total = Lead.objects.filter(campaign=campaign, merged_into__isnull=True).count()
    cost_per_lead = round_money(campaign.cost / total, campaign.currency) if total else None
    return {"by_status": by_status, "total": total, "cost_per_lead": cost_per_lead}
