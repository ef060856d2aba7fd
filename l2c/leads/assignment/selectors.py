"""Reads for lead assignment: the rules, the unassigned queue, and a dry run of the rules."""
from __future__ import annotations

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from l2c.core.errors import NotFound, PermissionDenied, ValidationFailed
from l2c.core.validation import as_id, is_country_code
from l2c.customers.selectors import parse_id
from l2c.identity.models import Team

from ..choices import LeadSource, LeadStatus
from ..models import AssignmentRule, Lead
from .routing import Decision, route

# A lead waiting in the queue is one somebody should still work.
OPEN_STATUSES = (LeadStatus.NEW, LeadStatus.WORKING, LeadStatus.NURTURING, LeadStatus.QUALIFIED)


def require_assigner(user) -> None:
    """The rules and the unassigned queue are for admins and managers."""
    if not (getattr(user, "is_admin", False) or getattr(user, "is_manager", False)):
        raise PermissionDenied(_("Only managers and admins can manage lead assignment."))


def rule_list(*, user) -> QuerySet:
    """Every rule in the order they are tried (managers see all: the order matters across teams)."""
    require_assigner(user)
    return (AssignmentRule.objects.restrict(user).select_related("assign_to", "team", "campaign", "last_assigned")
            .order_by("priority", "id"))


def rule_get(*, user, pk) -> AssignmentRule:
    require_assigner(user)
    rule = (AssignmentRule.objects.restrict(user).select_related("assign_to", "team", "campaign").filter(pk=pk).first()
            if as_id(pk) is not None else None)
    if rule is None:
        raise NotFound(_("No assignment rule with id %(id)s.") % {"id": pk})
    return rule


def unassigned_leads(*, user, filters: dict | None = None) -> QuerySet:
    """Open, unmerged leads without an owner, oldest first (the first in is the first out).

    filters: country (ISO code), source (LeadSource), campaign (id).
    """
    require_assigner(user)
    filters = filters or {}
    qs = (Lead.objects.restrict(user).filter(owner__isnull=True, status__in=OPEN_STATUSES, merged_into__isnull=True)
          .select_related("campaign"))
    country = str(filters.get("country") or "").strip().upper()
    if country:
        if not is_country_code(country):
            raise ValidationFailed.single("country", _("%(value)r is not an ISO 3166-1 alpha-2 country code "
                                                       "(e.g. CN, US, GB).") % {"value": country}, "invalid_country")
        qs = qs.filter(country=country)
    source = filters.get("source") or ""
    if source:
        if source not in LeadSource.values:
            raise ValidationFailed.single("source", _("Unknown value %(value)r; choose one of %(allowed)s.")
                                          % {"value": source, "allowed": ", ".join(LeadSource.values)},
                                          "invalid_choice")
        qs = qs.filter(source=source)
    campaign_id = parse_id(filters.get("campaign"), "campaign")
    if campaign_id is not None:
        qs = qs.filter(campaign_id=campaign_id)
    return qs.order_by("created_at", "id")


def leads_for_assignment(*, user, ids) -> tuple[list[Lead], list]:
    """The leads among `ids` the user may see (any status: the service reports converted ones), and
    the ids that name no lead the user may see (a 404 each, like a missing one)."""
    require_assigner(user)
    wanted = []
    missing = []
    for raw in ids:
        pk = as_id(raw)
        if pk is None:
            missing.append(raw)
        elif pk not in wanted:
            wanted.append(pk)
    found = {lead.pk: lead for lead in Lead.objects.restrict(user).filter(pk__in=wanted)}
    missing += [pk for pk in wanted if pk not in found]
    return [found[pk] for pk in wanted if pk in found], missing


def rule_preview(*, user, values: dict) -> Decision:
    """Which rule would take a lead with these values and who would get it next. Nothing moves: the
    round-robin's cursor stays where it is."""
    require_assigner(user)
    return route([values], advance=False)[0]


def routable_teams(*, user) -> QuerySet:
    """Teams a rule may route to: all for admins, a manager's own team."""
    require_assigner(user)
    teams = Team.objects.order_by("name")
    if getattr(user, "is_admin", False):
        return teams
    return teams.filter(pk=user.team_id) if user.team_id else teams.none()
