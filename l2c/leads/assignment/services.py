"""Writes for lead assignment: who gets new leads (rules, round-robin), and applying the rules.

Other channels (web forms, imports, the bulk API) call `choose_owner` / `choose_owners` inside the
transaction that writes their leads: the rule's round-robin cursor moves in that same transaction,
under a row lock on the rule, so a rolled-back import gives its turns back and two concurrent
captures never get the same turn.
"""
from __future__ import annotations

from django.db import transaction
from django.db.models import Max
from django.utils.translation import gettext as _

from l2c.core import audit, changes, events
from l2c.core.errors import Conflict, FieldError, PermissionDenied, ValidationFailed
from l2c.core.validation import check_max_lengths, check_owner, is_country_code, raise_if_errors
from l2c.core.visibility import Role

from ..choices import LeadSource, LeadStatus
from ..models import AssignmentRule, Campaign, Lead
from .routing import Decision, route, team_reps

RULE_FIELDS = ("name", "priority", "is_active", "countries", "sources", "campaign", "assign_to", "team")
MAX_PRIORITY = 2_147_483_647  # PositiveIntegerField's upper bound on every supported database
PRIORITY_STEP = 10


# --- routing (the interface other channels call) ------------------------------------------------------

def choose_owner(*, values: dict):
    """-> User | None. The first matching active rule by priority gives the owner; a team rule hands
    out turns round-robin (its cursor moves under a row lock, inside the caller's transaction).
    None: no rule matched, the lead goes to the unassigned queue.

    values: the lead's field values; "country" (ISO code), "source" (LeadSource), "campaign" (id or None).
    """
    return route([values])[0].owner


def choose_owners(*, rows: list[dict]) -> list:
    """The bulk `choose_owner` for imports: one owner (or None) per row, in order, the same sequence as
    calling `choose_owner` row by row, with one read of the rules and one lock per team rule."""
    return [decision.owner for decision in route(rows)]


def choose_decisions(*, rows: list[dict]) -> list[Decision]:
    """Like `choose_owners`, with the rule that decided each row (for audit trails that name it)."""
    return route(rows)


# --- permissions ------------------------------------------------------------------------------------

def require_rule_manager(actor) -> None:
    """Admins and managers configure assignment and hand out unassigned leads."""
    if actor is not None and not (getattr(actor, "is_admin", False) or getattr(actor, "role", None) == Role.MANAGER):
        raise PermissionDenied(_("Only managers and admins can manage lead assignment."))


def can_manage_rule(actor, rule: AssignmentRule) -> bool:
    """Admins manage every rule; a manager the rules that give leads to their own team (or themselves)."""
    if actor is None or getattr(actor, "is_admin", False):
        return True
    if getattr(actor, "role", None) != Role.MANAGER:
        return False
    if rule.team_id is not None:
        return actor.team_id is not None and rule.team_id == actor.team_id
    owner = rule.assign_to
    return owner is not None and (owner.pk == actor.pk or (actor.team_id is not None and owner.team_id == actor.team_id))


def _require_can_manage(actor, rule: AssignmentRule) -> None:
    require_rule_manager(actor)
    if not can_manage_rule(actor, rule):
        raise PermissionDenied(_("This rule gives leads to another team; only an admin or that team's manager "
                                 "can change it."))


# --- rules ------------------------------------------------------------------------------------------

def _as_list(value) -> list | None:
    """A list from a list/tuple/set, or from a comma/space separated string (the UI's text box)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [part for part in value.replace(";", ",").replace(" ", ",").split(",") if part.strip()]
    if isinstance(value, list | tuple | set | frozenset):
        return list(value)
    return None


def _clean_rule(values: dict) -> list[FieldError]:
    """Normalise in place (trim, upper-case countries, drop repeats); errors for what cannot be read."""
    errors: list[FieldError] = []
    if "name" in values and (values["name"] is None or isinstance(values["name"], str)):
        values["name"] = (values["name"] or "").strip()
    for name in ("countries", "sources"):
        if name not in values:
            continue
        items = _as_list(values[name])
        if items is None or not all(isinstance(item, str) for item in items):
            errors.append(FieldError(name, _("Give a list of codes."), "invalid_list"))
            continue
        cleaned: list[str] = []
        for item in items:
            code = item.strip().upper() if name == "countries" else item.strip().lower()
            if code and code not in cleaned:
                cleaned.append(code)
        values[name] = cleaned
    return errors


def _rule_errors(values: dict, actor, *, rule: AssignmentRule | None) -> list[FieldError]:
    errors = _clean_rule(values)
    errors += check_max_lengths(AssignmentRule, {k: v for k, v in values.items() if k == "name"})
    if rule is None or "name" in values:
        if not isinstance(values.get("name"), str) or not values["name"]:
            errors.append(FieldError("name", _("This field is required."), "required"))
    if "priority" in values:
        priority = values["priority"]
        if isinstance(priority, bool) or not isinstance(priority, int):
            errors.append(FieldError("priority", _("The priority is a whole number (lower runs first)."), "invalid"))
        elif not 0 <= priority <= MAX_PRIORITY:
            errors.append(FieldError("priority", _("The priority must lie between 0 and %(max)d.")
                                     % {"max": MAX_PRIORITY}, "out_of_range"))
    if "is_active" in values and not isinstance(values["is_active"], bool):
        errors.append(FieldError("is_active", _("Say yes or no (true/false)."), "invalid"))
    countries = values.get("countries") if isinstance(values.get("countries"), list) else []
    sources = values.get("sources") if isinstance(values.get("sources"), list) else []
    for code in countries:
        if not is_country_code(code):
            errors.append(FieldError("countries", _("%(value)r is not an ISO 3166-1 alpha-2 country code "
                                                    "(e.g. CN, US, GB).") % {"value": code}, "invalid_country"))
            break
    for code in sources:
        if code not in LeadSource.values:
            errors.append(FieldError("sources", _("Unknown source %(value)r; choose from %(allowed)s.")
                                     % {"value": code, "allowed": ", ".join(LeadSource.values)}, "invalid_choice"))
            break
    if values.get("campaign") is not None and not isinstance(values["campaign"], Campaign):
        errors.append(FieldError("campaign", _("Not a campaign."), "invalid"))
    errors += _target_errors(values, actor, rule=rule)
    return errors


def _target_errors(values: dict, actor, *, rule: AssignmentRule | None) -> list[FieldError]:
    """Exactly one target: an active sales user, or a team with active reps; a manager's within their team."""
    if rule is not None and "assign_to" not in values and "team" not in values:
        return []
    # Setting one target on an existing rule replaces the other (PATCH {"team": 3} switches to round-robin).
    assign_to = values.get("assign_to") if "assign_to" in values or rule is None else (
        None if values.get("team") is not None else rule.assign_to)
    team = values.get("team") if "team" in values or rule is None else (
        None if values.get("assign_to") is not None else rule.team)
    values["assign_to"], values["team"] = assign_to, team
    if assign_to is not None and team is not None:
        return [FieldError("assign_to", _("Give the leads either to one user or to a team's round-robin, not both."),
                           "one_target")]
    if assign_to is None and team is None:
        return [FieldError("assign_to", _("Say who gets the leads: a user or a team (round-robin)."),
                           "target_required")]
    is_manager = actor is not None and not getattr(actor, "is_admin", False)
    if assign_to is not None:
        if getattr(assign_to, "role", None) not in (Role.REP, Role.MANAGER, Role.ADMIN) or not assign_to.is_active:
            return [FieldError("assign_to", _("%(user)s is not an active sales user.") % {"user": assign_to},
                               "invalid_owner")]
        if is_manager:
            return check_owner(assign_to, actor, "assign_to")
        return []
    if is_manager and team.pk != actor.team_id:
        return [FieldError("team", _("You can route leads only to your own team."), "not_allowed")]
    if not team_reps(team.pk):
        return [FieldError("team", _("Team %(team)s has no active sales reps to take turns.") % {"team": team},
                           "no_active_reps")]
    return []


def _next_priority() -> int:
    top = AssignmentRule.objects.aggregate(top=Max("priority"))["top"]
    return PRIORITY_STEP if top is None else min(top + PRIORITY_STEP, MAX_PRIORITY)


@transaction.atomic
def rule_create(*, actor, name: str, priority: int | None = None, is_active: bool = True, countries=None,
                sources=None, campaign: Campaign | None = None, assign_to=None, team=None) -> AssignmentRule:
    """A new rule; without a priority it runs after every existing rule."""
    require_rule_manager(actor)
    values = {"name": name, "is_active": is_active, "countries": countries, "sources": sources,
              "campaign": campaign, "assign_to": assign_to, "team": team}
    if priority is not None:
        values["priority"] = priority
    raise_if_errors(_rule_errors(values, actor, rule=None))
    values.setdefault("priority", _next_priority())
    rule = AssignmentRule.objects.create(**values)
    audit.record(actor=actor, action=audit.Action.CREATE, instance=rule)
    return rule


def _lock(rule: AssignmentRule) -> AssignmentRule:
    return AssignmentRule.objects.select_for_update(of=("self",)).select_related("assign_to", "team").get(pk=rule.pk)


@transaction.atomic
def rule_update(*, rule: AssignmentRule, actor, **fields) -> AssignmentRule:
    """Change a rule (any of RULE_FIELDS). Setting one target replaces the other. A change of target
    restarts the round-robin."""
    require_rule_manager(actor)
    unknown = sorted(set(fields) - set(RULE_FIELDS))
    if unknown:
        raise ValidationFailed([FieldError(f, _("This field cannot be set here."), "unknown_field") for f in unknown])
    rule = _lock(rule)
    _require_can_manage(actor, rule)
    values = dict(fields)
    raise_if_errors(_rule_errors(values, actor, rule=rule))
    before = audit.snapshot(rule)
    if ("team" in values or "assign_to" in values) and (
            values["team"] != rule.team or values["assign_to"] != rule.assign_to):
        rule.last_assigned = None  # a new target starts its round-robin afresh
    for name, value in values.items():
        setattr(rule, name, value)
    rule.save()
    audit.record(actor=actor, action=audit.Action.UPDATE, instance=rule, before=before)
    return rule


@transaction.atomic
def rule_delete(*, rule: AssignmentRule, actor) -> None:
    require_rule_manager(actor)
    rule = _lock(rule)
    _require_can_manage(actor, rule)
    audit.record(actor=actor, action=audit.Action.DELETE, instance=rule,
                 changes={k: [v, None] for k, v in audit.snapshot(rule).items() if v not in (None, "", [], {})})
    rule.delete()


def _renumber(ordered: list[AssignmentRule], actor) -> None:
    pending = []
    for index, rule in enumerate(ordered, start=1):
        priority = index * PRIORITY_STEP
        if rule.priority != priority:
            pending.append(audit.PendingEvent(action=audit.Action.UPDATE, object_type=audit.object_type_of(rule),
                                              object_id=str(rule.pk), object_repr=str(rule),
                                              changes={"priority": [rule.priority, priority]}))
            AssignmentRule.objects.filter(pk=rule.pk).update(priority=priority)
            rule.priority = priority
    audit.record_many(pending, actor=actor)


@transaction.atomic
def rule_reorder(*, rule_ids: list[int], actor) -> list[AssignmentRule]:
    """Put every rule in the given order (priorities become 10, 20, 30, ...). Admins only: the order
    decides between teams. `rule_ids` must name each rule exactly once."""
    if actor is not None and not getattr(actor, "is_admin", False):
        raise PermissionDenied(_("Only an admin can reorder all the rules; move your own rules up or down."))
    rules = {r.pk: r for r in AssignmentRule.objects.select_for_update().order_by("pk")}
    if sorted(rule_ids) != sorted(rules) or len(set(rule_ids)) != len(rule_ids):
        raise ValidationFailed.single("rule_ids", _("Give every rule's id exactly once (%(count)d rules).")
                                      % {"count": len(rules)}, "not_a_permutation")
    ordered = [rules[pk] for pk in rule_ids]
    _renumber(ordered, actor)
    return ordered


@transaction.atomic
def rule_move(*, rule: AssignmentRule, direction: str, actor) -> AssignmentRule:
    """Swap the rule with the one above ("up") or below ("down") it; at the end it stays put."""
    require_rule_manager(actor)
    if direction not in ("up", "down"):
        raise ValidationFailed.single("direction", _("Use “up” or “down”."), "invalid_choice")
    ordered = list(AssignmentRule.objects.select_for_update().order_by("priority", "id"))
    index = next((i for i, r in enumerate(ordered) if r.pk == rule.pk), None)
    if index is None:
        raise Conflict(_("The rule was deleted meanwhile."), code="gone")
    _require_can_manage(actor, ordered[index])
    other = index - 1 if direction == "up" else index + 1
    if 0 <= other < len(ordered):
        ordered[index], ordered[other] = ordered[other], ordered[index]
    _renumber(ordered, actor)
    return ordered[other if 0 <= other < len(ordered) else index]


# --- applying the rules to existing leads ---------------------------------------------------------------

def routing_values(lead: Lead) -> dict:
    return {"country": lead.country, "source": lead.source, "campaign": lead.campaign_id}


def auto_assign_initial_owner(*, actor, fields: dict):
    """The owner a lead is created with before the rules run: nobody for a manager, an admin or the
    system (no matching rule → the unassigned queue), the rep themself for a rep (a rep may not leave a
    lead without an owner). Refuses an explicit owner together with auto-assignment."""
    if fields.get("owner") is not None:
        raise ValidationFailed.single("owner", _("Give an owner or ask for auto-assignment, not both."),
                                      "owner_and_auto")
    may_leave_unassigned = actor is None or getattr(actor, "is_admin", False) or getattr(actor, "is_manager", False)
    return None if may_leave_unassigned else actor


def lead_route_new(*, lead: Lead, actor) -> Lead:
    """Hand a lead just created for auto-assignment to the owner the rules choose (a second audit event
    naming the rule); unchanged when no rule matches. Runs inside the creating transaction."""
    from ..services import lead_assign

    decision = route([routing_values(lead)])[0]
    if decision.owner is not None and decision.owner.pk != lead.owner_id:
        lead = lead_assign(lead=lead, owner=decision.owner, actor=actor, rule=decision.rule)
    return lead


@transaction.atomic
def lead_create_auto_assigned(*, actor, last_name: str, first_name: str = "", **fields) -> Lead:
    """Create a lead and let the rules choose its owner (the "auto-assign" choice of the lead form).
    The lead is created like any other (`lead_create`, same validation and audit), then routed by
    `lead_route_new`; see `auto_assign_initial_owner` for who holds it when no rule matches."""
    from ..services import lead_create

    owner = auto_assign_initial_owner(actor=actor, fields=fields)
    fields.pop("owner", None)
    lead = lead_create(actor=actor, last_name=last_name, first_name=first_name, owner=owner, **fields)
    return lead_route_new(lead=lead, actor=actor)


@transaction.atomic
def lead_auto_assign(*, lead: Lead, actor) -> Lead:
    """Run the rules on an unassigned lead; the owner they choose gets it (audited, naming the rule).
    When no rule matches the lead stays in the unassigned queue (`lead.owner` is still None)."""
    from ..services import lead_assign, require_sales

    require_sales(actor)
    require_rule_manager(actor)
    lead = Lead.objects.select_for_update().get(pk=lead.pk)
    if lead.status == LeadStatus.CONVERTED:
        raise Conflict(_("A converted lead can no longer be reassigned."), code="lead_converted")
    if lead.owner_id is not None:
        raise Conflict(_("The lead already has an owner; the rules only place unassigned leads."),
                       code="already_assigned")
    if lead.merged_into_id is not None:
        raise Conflict(_("The lead was merged into another one."), code="lead_merged")
    decision = route([routing_values(lead)])[0]
    if decision.owner is None:
        return lead
    return lead_assign(lead=lead, owner=decision.owner, actor=actor, rule=decision.rule)


@transaction.atomic
def leads_auto_assign(*, leads, actor) -> dict[int, str]:
    """Run the rules on several leads at once: one audit event per assigned lead.

    Returns each lead id's outcome: "assigned", "no_rule" (still unassigned), "already_assigned",
    "converted" or "merged" (the last three are left alone).
    """
    from ..services import require_sales

    require_sales(actor)
    require_rule_manager(actor)
    ids = sorted({lead.pk for lead in leads})
    locked = list(Lead.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
    outcome: dict[int, str] = {}
    todo: list[Lead] = []
    for lead in locked:
        if lead.status == LeadStatus.CONVERTED:
            outcome[lead.pk] = "converted"
        elif lead.merged_into_id is not None:
            outcome[lead.pk] = "merged"
        elif lead.owner_id is not None:
            outcome[lead.pk] = "already_assigned"
        else:
            todo.append(lead)
    decisions = route([routing_values(lead) for lead in todo])
    by_owner: dict[int, list[int]] = {}
    pending = []
    assigned = []
    for lead, decision in zip(todo, decisions, strict=True):
        if decision.owner is None:
            outcome[lead.pk] = "no_rule"
            continue
        outcome[lead.pk] = "assigned"
        by_owner.setdefault(decision.owner.pk, []).append(lead.pk)
        lead.owner = decision.owner
        assigned.append(lead)
        pending.append(audit.PendingEvent(
            action=audit.Action.UPDATE, object_type=audit.object_type_of(lead), object_id=str(lead.pk),
            object_repr=str(lead), changes={"owner": [None, decision.owner.pk],
                                            "assignment_rule": [None, f"{decision.rule.name} (#{decision.rule.pk})"]},
        ))
    if pending:
        from django.utils import timezone

        now = timezone.now()
        for owner_id, lead_ids in by_owner.items():
            Lead.objects.filter(pk__in=lead_ids).update(owner_id=owner_id, updated_at=now)
            changes.announce(Lead, lead_ids)
        audit.record_many(pending, actor=actor)
        for lead in assigned:
            events.publish("lead.assigned", {"lead_id": lead.pk, "from_owner_id": None, "owner_id": lead.owner_id,
                                             "actor_id": getattr(actor, "pk", None)})
    return outcome
