"""Sales quotas: what a rep or a team should win in a period (both dates inclusive), in one currency.

Who may change them: an admin any quota; a sales manager the quotas of the reps in their own team (not team
quotas, not their own, not another team's). Everyone else reads only: a rep their own quotas and their team's,
a manager their team's and its members', an admin all; finance none. Every change is audited; bad input is a
ValidationFailed naming the field. Two quotas of the same rep (or team) may not overlap, so a period's target
is never counted twice.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from l2c.core import audit
from l2c.core.errors import FieldError, NotFound, PermissionDenied
from l2c.core.validation import as_id, check_amount, is_iso_currency, parse_date, raise_if_errors
from l2c.core.visibility import Role

from .models import Quota, Team, User

AUDITED_FIELDS = ["user", "team", "period_start", "period_end", "amount", "currency"]
FIELDS = ("user", "team", "period_start", "period_end", "amount", "currency")

__all__ = ["can_manage_quotas", "may_manage", "quota_list", "quota_get", "quota_create", "quota_update",
           "quota_delete", "quota_targets"]


# --- permissions -----------------------------------------------------------------------------------------

def _active(user) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False) and getattr(user, "is_active", False))


def can_manage_quotas(user) -> bool:
    """Admins and sales managers set quotas (a manager for the reps of their team)."""
    return _active(user) and (user.is_admin or (user.role == Role.MANAGER and bool(user.team_id)))


def may_manage(actor, quota: Quota) -> bool:
    """May `actor` change or delete this quota?"""
    if not _active(actor):
        return False
    if actor.is_admin:
        return True
    if actor.role != Role.MANAGER or not actor.team_id or quota.user_id is None:
        return False
    target = quota.user
    return target.pk != actor.pk and target.team_id == actor.team_id and target.role == Role.REP


def _read_q(user) -> Q:
    if user.is_admin:
        return Q()
    if user.role == Role.MANAGER:
        q = Q(user_id=user.pk)
        if user.team_id:
            q |= Q(user__team_id=user.team_id) | Q(team_id=user.team_id)
        return q
    if user.role == Role.REP:
        q = Q(user_id=user.pk)
        if user.team_id:
            q |= Q(team_id=user.team_id)
        return q
    return Q(pk__in=[])


# --- reads -----------------------------------------------------------------------------------------------

def quota_list(*, user, rep=None, team=None, date_from=None, date_to=None):
    """The quotas `user` may see, optionally of one rep or team and overlapping [date_from, date_to] (dates or
    ISO text; either may be left open)."""
    if not _active(user):
        return Quota.objects.none()
    qs = Quota.objects.filter(_read_q(user)).select_related("user", "team", "user__team")
    errors: list[FieldError] = []
    if rep not in (None, ""):
        if as_id(rep) is None:
            errors.append(FieldError("user", _("Give a numeric id."), "invalid"))
        else:
            qs = qs.filter(user_id=as_id(rep))
    if team not in (None, ""):
        if as_id(team) is None:
            errors.append(FieldError("team", _("Give a numeric id."), "invalid"))
        else:
            qs = qs.filter(team_id=as_id(team))
    date_from = parse_date(date_from, "date_from", errors)
    date_to = parse_date(date_to, "date_to", errors)
    raise_if_errors(errors)
    if date_from is not None:
        qs = qs.filter(period_end__gte=date_from)
    if date_to is not None:
        qs = qs.filter(period_start__lte=date_to)
    return qs.order_by("-period_start", "id")


def quota_get(*, user, pk) -> Quota:
    """One quota `user` may see; NotFound (404) for a hidden one, exactly like a missing one."""
    found = None
    if as_id(pk) is not None and _active(user):
        found = quota_list(user=user).filter(pk=as_id(pk)).first()
    if found is None:
        raise NotFound(_("No quota with id %(id)s.") % {"id": pk})
    return found


def quota_targets(*, user_ids, team_ids, date_from: dt.date, date_to: dt.date) -> dict:
    """{("user", id) | ("team", id): {currency: target}}: each quota's amount prorated by the days of its period
    that fall in [date_from, date_to] (a whole quarter's quota counts fully for that quarter, a third of it for
    one of its months). Not visibility-scoped: the caller passes the reps and teams it may report on."""
    targets: dict = {}
    rows = Quota.objects.filter(Q(user_id__in=list(user_ids)) | Q(team_id__in=list(team_ids)),
                                period_start__lte=date_to, period_end__gte=date_from) \
        .values_list("user_id", "team_id", "period_start", "period_end", "amount", "currency")
    for user_id, team_id, start, end, amount, currency in rows:
        overlap = (min(end, date_to) - max(start, date_from)).days + 1
        length = (end - start).days + 1
        share = amount if overlap == length else amount * Decimal(overlap) / Decimal(length)
        key = ("user", user_id) if user_id else ("team", team_id)
        per_currency = targets.setdefault(key, {})
        per_currency[currency] = per_currency.get(currency, Decimal(0)) + share
    return targets


# --- validation ------------------------------------------------------------------------------------------

def _clean(actor, values: dict, *, instance: Quota | None) -> dict:
    """The quota's fields after `values` are applied, checked; a ValidationFailed naming each bad field."""
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise TypeError(f"unknown quota fields: {sorted(unknown)}")
    errors: list[FieldError] = []
    merged = {name: getattr(instance, f"{name}_id" if name in ("user", "team") else name) if instance else None
              for name in FIELDS}
    merged.update(values)
    cleaned: dict = {}
    # who: exactly one of a rep or a team
    user_value, team_value = merged.get("user"), merged.get("team")
    if isinstance(user_value, User):
        user_value = user_value.pk
    if isinstance(team_value, Team):
        team_value = team_value.pk
    target_user = target_team = None
    if user_value in (None, "") and team_value in (None, ""):
        errors.append(FieldError("user", _("Give either a rep (user) or a team."), "required"))
    elif user_value not in (None, "") and team_value not in (None, ""):
        errors.append(FieldError("team", _("A quota is for a rep or for a team, not both."), "user_and_team"))
    elif user_value not in (None, ""):
        target_user = User.objects.filter(pk=as_id(user_value)).first() if as_id(user_value) else None
        if target_user is None:
            errors.append(FieldError("user", _("No user with id %(id)s.") % {"id": user_value}, "not_found"))
        elif target_user.role not in (Role.REP, Role.MANAGER, Role.ADMIN) or not target_user.is_active:
            errors.append(FieldError("user", _("%(user)s is not an active sales user.") % {"user": target_user},
                                     "invalid_user"))
    else:
        target_team = Team.objects.filter(pk=as_id(team_value)).first() if as_id(team_value) else None
        if target_team is None:
            errors.append(FieldError("team", _("No team with id %(id)s.") % {"id": team_value}, "not_found"))
    cleaned["user"], cleaned["team"] = target_user, target_team
    # when
    start = parse_date(merged.get("period_start"), "period_start", errors)
    end = parse_date(merged.get("period_end"), "period_end", errors)
    if merged.get("period_start") in (None, ""):
        errors.append(FieldError("period_start", _("Give the first day of the period."), "required"))
    if merged.get("period_end") in (None, ""):
        errors.append(FieldError("period_end", _("Give the last day of the period."), "required"))
    if start and end and end < start:
        errors.append(FieldError("period_end", _("The period ends before it starts."), "before_start"))
    cleaned["period_start"], cleaned["period_end"] = start, end
    # how much
    amounts = {"amount": merged.get("amount")}
    if amounts["amount"] in (None, ""):
        errors.append(FieldError("amount", _("Give the quota amount."), "required"))
    else:
        amount_errors = check_amount(amounts, "amount")
        errors += amount_errors
        if not amount_errors and amounts["amount"] <= 0:
            errors.append(FieldError("amount", _("The quota must be more than zero."), "min_value"))
    cleaned["amount"] = amounts["amount"]
    currency = merged.get("currency")
    currency = currency.strip().upper() if isinstance(currency, str) else ""
    if not currency:
        errors.append(FieldError("currency", _("Give the currency (ISO 4217, e.g. USD)."), "required"))
    elif not is_iso_currency(currency):
        errors.append(FieldError("currency", _("%(value)r is not an ISO 4217 currency code.") % {"value": currency},
                                 "invalid_currency"))
    cleaned["currency"] = currency
    raise_if_errors(errors)
    # one quota per rep (or team) for any day
    clashes = Quota.objects.filter(period_start__lte=end, period_end__gte=start)
    clashes = clashes.filter(user=target_user) if target_user else clashes.filter(team=target_team)
    if instance is not None:
        clashes = clashes.exclude(pk=instance.pk)
    clash = clashes.order_by("period_start").first()
    if clash is not None:
        raise_if_errors([FieldError("period_start", _("%(who)s already has a quota from %(start)s to %(end)s; "
                                                      "periods may not overlap.")
                                    % {"who": target_user or target_team, "start": clash.period_start.isoformat(),
                                       "end": clash.period_end.isoformat()}, "overlap")])
    return cleaned


def _require_may_set(actor, cleaned: dict) -> None:
    """Admin: any quota. Manager: a rep of their own team. Anyone else: PermissionDenied saying why."""
    if not can_manage_quotas(actor):
        raise PermissionDenied(_("Only admins and sales managers can set quotas."))
    if actor.is_admin:
        return
    target = cleaned["user"]
    if target is None:
        raise PermissionDenied(_("Only an admin can set a team's quota."))
    if target.pk == actor.pk or target.team_id != actor.team_id or target.role != Role.REP:
        raise PermissionDenied(_("You can set quotas only for the reps of your team."))


def _locked(quota) -> Quota:
    pk = getattr(quota, "pk", quota)
    found = Quota.objects.select_for_update().filter(pk=pk).first()
    if found is None:
        raise NotFound(_("No quota with id %(id)s.") % {"id": pk})
    return found


# --- writes ----------------------------------------------------------------------------------------------

@transaction.atomic
def quota_create(*, actor, user=None, team=None, period_start, period_end, amount, currency) -> Quota:
    """A new quota for a rep (`user`) or a team; admins for anyone, managers for the reps of their team."""
    if not can_manage_quotas(actor):
        raise PermissionDenied(_("Only admins and sales managers can set quotas."))
    cleaned = _clean(actor, {"user": user, "team": team, "period_start": period_start, "period_end": period_end,
                             "amount": amount, "currency": currency}, instance=None)
    _require_may_set(actor, cleaned)
    quota = Quota.objects.create(created_by=actor, **cleaned)
    audit.record(actor=actor, action=audit.Action.CREATE, instance=quota,
                 changes={k: [None, v] for k, v in audit.snapshot(quota, AUDITED_FIELDS).items()
                          if v not in (None, "")})
    return quota


@transaction.atomic
def quota_update(*, actor, quota, **values) -> Quota:
    """Change the given fields (user, team, period_start, period_end, amount, currency) of a quota."""
    if not can_manage_quotas(actor):
        raise PermissionDenied(_("Only admins and sales managers can set quotas."))
    quota = _locked(quota)
    if not may_manage(actor, quota):
        raise PermissionDenied(_("You can change quotas only of the reps of your team."))
    cleaned = _clean(actor, values, instance=quota)
    _require_may_set(actor, cleaned)
    before = audit.snapshot(quota, AUDITED_FIELDS)
    for name, value in cleaned.items():
        setattr(quota, name, value)
    changes = audit.diff(before, audit.snapshot(quota, AUDITED_FIELDS))
    if changes:
        quota.save(update_fields=[*cleaned, "updated_at"])
        audit.record(actor=actor, action=audit.Action.UPDATE, instance=quota, changes=changes)
    return quota


@transaction.atomic
def quota_delete(*, actor, quota) -> None:
    if not can_manage_quotas(actor):
        raise PermissionDenied(_("Only admins and sales managers can set quotas."))
    quota = _locked(quota)
    if not may_manage(actor, quota):
        raise PermissionDenied(_("You can delete quotas only of the reps of your team."))
    audit.record(actor=actor, action=audit.Action.DELETE, instance=quota,
                 changes={k: [v, None] for k, v in audit.snapshot(quota, AUDITED_FIELDS).items()})
    quota.delete()
