"""Which rule matches a lead and who it gives the lead to: the routing engine behind `choose_owner`.

A rule matches when each of its conditions holds (an empty condition matches anything): the lead's
country is one of `countries`, its source one of `sources`, its campaign is `campaign`. Rules are
tried by priority (lower first, then id). A matching rule that cannot give the lead to anyone (its
user was deactivated, its team has no active reps left) is passed over, so the next rule decides.

Round-robin inside a team: the team's active reps ordered by id; the next one after the rule's
cursor (`last_assigned`), wrapping around. The cursor moves in the same transaction as the lead is
written, under a row lock on the rule, so two concurrent captures never get the same turn.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.db import transaction

from l2c.core.validation import as_id
from l2c.core.visibility import Role

from ..models import AssignmentRule

# Roles that can own a lead routed to a named user.
SALES_ROLES = (Role.REP, Role.MANAGER, Role.ADMIN)


def rule_matches(rule: AssignmentRule, values: dict) -> bool:
    """Whether the lead `values` (country, source, campaign id) meet the rule's conditions."""
    if rule.countries and (values.get("country") or "").strip().upper() not in rule.countries:
        return False
    if rule.sources and (values.get("source") or "") not in rule.sources:
        return False
    if rule.campaign_id is not None and campaign_id_of(values.get("campaign")) != rule.campaign_id:
        return False
    return True


def campaign_id_of(value) -> int | None:
    """A campaign given as an id, a digit string or a Campaign, as its id."""
    if value is None or value == "":
        return None
    if hasattr(value, "pk"):
        return value.pk
    return as_id(value)


def team_reps(team_id: int) -> list:
    """A team's active reps, ordered by id: the round-robin's ring."""
    return list(get_user_model().objects.filter(team_id=team_id, is_active=True, role=Role.REP).order_by("id"))


def next_in_ring(ring: list, last_id: int | None):
    """The member after `last_id` in the id-ordered ring (wrapping); the first one if there is no cursor.

    A cursor that left the ring (deactivated, moved to another team) still places the turn: the
    next member by id after it, so nobody is skipped or served twice because someone left.
    """
    if not ring:
        return None
    if last_id is not None:
        for member in ring:
            if member.pk > last_id:
                return member
    return ring[0]


def fixed_user_ok(user) -> bool:
    return user is not None and user.is_active and user.role in SALES_ROLES


@dataclass
class Decision:
    """What the rules decide for one lead: the rule that gave it (None: unassigned queue) and the owner."""

    rule: AssignmentRule | None = None
    owner: object | None = None
    passed_over: list[tuple[AssignmentRule, str]] = field(default_factory=list)


def active_rules() -> list[AssignmentRule]:
    return list(AssignmentRule.objects.filter(is_active=True).select_related("assign_to", "team", "campaign")
                .order_by("priority", "id"))


class Router:
    """Routes many leads with one read of the rules, one lock and one cursor write per team rule.

    `advance=False` only looks (the "test a lead" box): no lock, and the cursor does not move.
    """

    def __init__(self, *, advance: bool = True):
        self.advance = advance
        self.rules = active_rules()
        self._rings: dict[int, list] = {}
        self._cursors: dict[int, int | None] = {}  # rule id → cursor, once the rule is locked
        self._moved: set[int] = set()

    def _ring(self, team_id: int) -> list:
        if team_id not in self._rings:
            self._rings[team_id] = team_reps(team_id)
        return self._rings[team_id]

    def _cursor(self, rule: AssignmentRule) -> int | None:
        if rule.pk not in self._cursors:
            if self.advance:
                # Re-read under the lock: a concurrent transaction may have moved the cursor since.
                rule_now = AssignmentRule.objects.select_for_update().only("id", "last_assigned").get(pk=rule.pk)
                self._cursors[rule.pk] = rule_now.last_assigned_id
            else:
                self._cursors[rule.pk] = rule.last_assigned_id
        return self._cursors[rule.pk]

    def lock(self, rules: list[AssignmentRule]) -> None:
        """Lock these team rules now, in id order (so two bulk routers never deadlock)."""
        for rule in sorted(rules, key=lambda r: r.pk):
            if rule.team_id is not None:
                self._cursor(rule)

    def match(self, values: dict) -> list[AssignmentRule]:
        return [rule for rule in self.rules if rule_matches(rule, values)]

    def decide(self, values: dict) -> Decision:
        decision = Decision()
        for rule in self.match(values):
            if rule.assign_to_id is not None:
                if fixed_user_ok(rule.assign_to):
                    decision.rule, decision.owner = rule, rule.assign_to
                    return decision
                decision.passed_over.append((rule, "inactive_user"))
                continue
            ring = self._ring(rule.team_id)
            if not ring:
                decision.passed_over.append((rule, "no_active_reps"))
                continue
            owner = next_in_ring(ring, self._cursor(rule))
            self._cursors[rule.pk] = owner.pk
            self._moved.add(rule.pk)
            decision.rule, decision.owner = rule, owner
            return decision
        return decision

    def save(self) -> None:
        """Write the moved cursors (one UPDATE per team rule that gave out leads)."""
        if not self.advance:
            return
        for rule_id in sorted(self._moved):
            AssignmentRule.objects.filter(pk=rule_id).update(last_assigned_id=self._cursors[rule_id])
        self._moved.clear()


def route(rows: list[dict], *, advance: bool = True) -> list[Decision]:
    """Decisions for `rows` in order, as if each lead were routed one after the other."""
    if not rows:
        return []
    with transaction.atomic(savepoint=False):
        router = Router(advance=advance)
        if advance:
            # Lock every team rule some row will use before handing out turns, in id order.
            needed = {}
            for values in rows:
                for rule in router.match(values):
                    needed[rule.pk] = rule
                    if rule.assign_to_id is not None and fixed_user_ok(rule.assign_to):
                        break
                    if rule.team_id is not None and router._ring(rule.team_id):
                        break
            router.lock(list(needed.values()))
        decisions = [router.decide(values) for values in rows]
        router.save()
    return decisions
