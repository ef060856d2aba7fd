"""Sales performance per rep and per team for a period: win rate, average deal size, sales cycle and quota
attainment, counting only the opportunities the user may see.

- Closed in the period: opportunities whose `closed_at` falls in [date_from, date_to]; won = in a won stage,
  lost = in a lost stage; win rate = won / (won + lost).
- Average deal size and won amount: of the won deals, per currency (never converted).
- Sales cycle: created → closed of the won deals, median days.
- Quota attainment: won amount in the quota's currency / the quota for the period; a quota whose period only
  partly overlaps the range counts pro rata by days. A team's quota is its own, or, when it has none in the
  range, the sum of its members' quotas.

A rep sees their own row; a manager their team's reps and the team; an admin every rep and team; finance
nothing (it does not see the pipeline).
"""
from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

from django.contrib.auth import get_user_model
from django.db.models import Count, F, Q, Sum
from django.utils.translation import gettext as _

from l2c.core.visibility import Role
from l2c.identity.models import Team
from l2c.identity.quotas import quota_targets

from .bottlenecks import TENTH, day_bounds, distributions

CENT = Decimal("0.01")


def _percent(part, whole) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(TENTH, rounding=ROUND_HALF_UP)


def _reps(user):
    """The sales users whose rows `user` may see."""
    users = get_user_model().objects.filter(role__in=[Role.ADMIN, Role.MANAGER, Role.REP]).select_related("team")
    if getattr(user, "is_admin", False):
        return users
    if getattr(user, "role", None) == Role.MANAGER:
        return users.filter(Q(pk=user.pk) | Q(team_id=user.team_id)) if user.team_id else users.filter(pk=user.pk)
    if getattr(user, "role", None) == Role.REP:
        return users.filter(pk=user.pk)
    return users.none()


def _teams(user):
    if getattr(user, "is_admin", False):
        return Team.objects.all()
    if getattr(user, "role", None) == Role.MANAGER and user.team_id:
        return Team.objects.filter(pk=user.team_id)
    return Team.objects.none()


def _figures(closed, won, group: str) -> dict:
    """{group value: {closed, won, lost, cycle, amounts: {currency: (total, count)}}} in four grouped queries."""
    result: dict = {}

    def entry(key):
        return result.setdefault(key, {"won": 0, "lost": 0, "amounts": {}, "cycle": None})

    for row in closed.values(group).annotate(won=Count("pk", filter=Q(stage__is_won=True)),
                                             lost=Count("pk", filter=Q(stage__is_lost=True))).order_by():
        item = entry(row[group])
        item["won"], item["lost"] = row["won"], row["lost"]
    for row in won.values(group, "currency").annotate(total=Sum("amount"), n=Count("pk")).order_by():
        entry(row[group])["amounts"][row["currency"]] = (row["total"] or Decimal(0), row["n"])
    for key, summary in distributions(won, end=F("closed_at"), start=F("created_at"), group=group).items():
        entry(key)["cycle"] = summary["median_days"]
    return result


def _row(kind: str, key, name: str, team: str, figures: dict | None, targets: dict) -> dict:
    figures = figures or {"won": 0, "lost": 0, "amounts": {}, "cycle": None}
    won, lost = figures["won"], figures["lost"]
    currencies = sorted(set(figures["amounts"]) | set(targets))
    money = []
    for currency in currencies:
        total, count = figures["amounts"].get(currency, (Decimal(0), 0))
        target = targets.get(currency)
        money.append({
            "currency": currency,
            "won_amount": Decimal(total).quantize(CENT),
            "won_count": count,
            "average_deal": (Decimal(total) / count).quantize(CENT, rounding=ROUND_HALF_UP) if count else None,
            "quota": target.quantize(CENT, rounding=ROUND_HALF_UP) if target is not None else None,
            "attainment_percent": _percent(total, target) if target else None,
        })
    return {"kind": kind, "id": key, "name": name, "team": team, "closed": won + lost, "won": won, "lost": lost,
            "win_rate_percent": _percent(won, won + lost), "cycle_median_days": figures["cycle"], "money": money}


def sales_performance(*, user, date_from: dt.date, date_to: dt.date) -> dict:
    """{"date_from", "date_to", "reps": [row], "teams": [row]} (see the module's docstring); a row has kind, id,
    name, team, closed, won, lost, win_rate_percent, cycle_median_days and money: one entry per currency with
    won_amount, won_count, average_deal, quota and attainment_percent."""
    from l2c.pipeline.models import Opportunity

    start, end = day_bounds(date_from, date_to)
    reps = {u.pk: u for u in _reps(user)}
    teams = {t.pk: t for t in _teams(user)}
    closed = Opportunity.objects.restrict(user).filter(closed_at__gte=start, closed_at__lt=end,
                                                       owner_id__isnull=False)
    if not getattr(user, "is_admin", False):
        closed = closed.filter(owner_id__in=list(reps))
    won = closed.filter(stage__is_won=True)
    per_rep = _figures(closed, won, "owner_id")
    per_team = _figures(closed.filter(owner__team_id__isnull=False), won.filter(owner__team_id__isnull=False),
                        "owner__team_id") if teams else {}
    targets = quota_targets(user_ids=list(reps), team_ids=list(teams), date_from=date_from, date_to=date_to)
    rep_rows = []
    for pk, rep in reps.items():
        if pk not in per_rep and ("user", pk) not in targets:
            continue  # nothing closed and no quota: no row
        rep_rows.append(_row("rep", pk, str(rep), rep.team.name if rep.team else "", per_rep.get(pk),
                             targets.get(("user", pk), {})))
    rep_rows.sort(key=lambda r: (r["team"], r["name"].lower(), r["id"]))
    team_rows = []
    for pk, team in teams.items():
        own = targets.get(("team", pk))
        if own is None:  # no team quota: the sum of its members' quotas
            own = {}
            for member_pk, member in reps.items():
                if member.team_id == pk:
                    for currency, amount in targets.get(("user", member_pk), {}).items():
                        own[currency] = own.get(currency, Decimal(0)) + amount
        if pk not in per_team and not own:
            continue
        team_rows.append(_row("team", pk, team.name, team.name, per_team.get(pk), own))
    team_rows.sort(key=lambda r: (r["name"].lower(), r["id"]))
    return {"date_from": date_from, "date_to": date_to, "reps": rep_rows, "teams": team_rows}


def export_rows(report: dict) -> list[dict]:
    """The report flattened for CSV/XLSX: one line per row and currency (one line without money)."""
    lines = []
    kinds = {"rep": _("Rep"), "team": _("Team")}
    for row in [*report["teams"], *report["reps"]]:
        base = {"kind": kinds[row["kind"]], "name": row["name"], "team": row["team"], "closed": row["closed"],
                "won": row["won"], "lost": row["lost"], "win_rate_percent": row["win_rate_percent"],
                "cycle_median_days": row["cycle_median_days"]}
        empty = {"currency": "", "won_amount": None, "won_count": None, "average_deal": None, "quota": None,
                 "attainment_percent": None}
        for money in row["money"] or [empty]:
            lines.append({**base, **money})
    return lines
