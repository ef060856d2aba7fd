"""The sales forecast: the pipeline by close month, per forecast category, owner and team, with managers'
overrides; contracted revenue from the recognition schedules; weekly snapshots; and the accuracy of past
snapshots against what actually closed.

Definitions (what the pages and the API say):
- An open opportunity counts in the month of its expected close date, in its forecast category (commit, best
  case, pipeline; omitted ones never count). A won opportunity counts as `closed` in the month it was won
  (`closed_at`, in the current time zone). No expected close date: not in any month.
- `computed` is the sum of the amounts, `weighted` the sum of amount × probability. `final` is the override
  where a manager set one, else `computed`; a team override replaces the sum of its members' finals.
- The commit forecast of a month is closed + commit; the best-case forecast closed + commit + best case.
- Money: each opportunity's amount is converted to the company currency at the latest rate on or before the
  report's day (`as_of`; for actual wins of a past month, its last day); amounts in a currency without a
  rate are left out and listed under `unconverted`. Sums are rounded to the currency once, at the end.
- Visibility: a rep sees their own deals and the overrides of their own figures; a manager their team's, with
  team rows; an admin everything; finance only the contracted revenue. The database groups, Python combines
  the few grouped rows.

Writes (overrides, snapshots) are the service functions below: one transaction each, audited.
"""
from __future__ import annotations

import calendar
import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Count, DateField, DecimalField, ExpressionWrapper, F, Q, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone
from django.utils.translation import gettext as _

from l2c.core import audit
from l2c.core.errors import Conflict, FieldError, NotFound, PermissionDenied, ValidationFailed
from l2c.core.money import round_money
from l2c.core.validation import as_id

from .models import (
    OVERRIDABLE_CATEGORIES,
    ForecastCategory,
    ForecastOverride,
    ForecastSnapshot,
    ForecastSnapshotLine,
)

ZERO = Decimal(0)
DEFAULT_MONTHS = 6  # a forecast's default horizon: this month and the five after it
SNAPSHOT_MONTHS = 6
MAX_MONTHS = 24
MAX_NOTE = 2000
MAX_AMOUNT = Decimal("999999999999999999.99")
DEFAULT_ACCURACY_DAYS = 90
CATEGORIES = [c.value for c in ForecastCategory]  # closed, commit, best case, pipeline
OPEN_CATEGORIES = [ForecastCategory.COMMIT.value, ForecastCategory.BEST_CASE.value, ForecastCategory.PIPELINE.value]
WIDE = DecimalField(max_digits=38, decimal_places=10)


# --- arguments --------------------------------------------------------------------------------------

def month_of(day: dt.date) -> dt.date:
    return day.replace(day=1)


def add_months(month: dt.date, n: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + n
    return dt.date(index // 12, index % 12 + 1, 1)


def month_end(month: dt.date) -> dt.date:
    return month.replace(day=calendar.monthrange(month.year, month.month)[1])


def parse_date(value, name: str) -> dt.date | None:
    """An ISO date (YYYY-MM-DD) or a whole month (YYYY-MM: its first day); None when not given; else a 422."""
    if value in (None, ""):
        return None
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    try:
        return dt.date.fromisoformat(text + "-01" if len(text) == 7 else text)
    except ValueError:
        raise ValidationFailed.single(name, _("Give a day as YYYY-MM-DD or a month as YYYY-MM (got %(value)r).")
                                      % {"value": text[:20]}, "invalid") from None


def parse_id(value, name: str) -> int | None:
    if value in (None, ""):
        return None
    found = as_id(value) if isinstance(value, int | str) else None
    if found is None:
        raise ValidationFailed.single(name, _("Give a numeric id."), "invalid")
    return found


def months_in(date_from: dt.date, date_to: dt.date) -> list[dt.date]:
    """The first days of the months from `date_from`'s to `date_to`'s; a 422 when reversed or too long."""
    if date_to < date_from:
        raise ValidationFailed.single("date_to", _("The end of the range (%(to)s) is before its start (%(from)s).")
                                      % {"to": date_to.isoformat(), "from": date_from.isoformat()}, "before_start")
    months, month = [], month_of(date_from)
    while month <= date_to:
        months.append(month)
        if len(months) > MAX_MONTHS:
            raise ValidationFailed.single("date_to", _("A forecast covers at most %(n)s months; narrow the range.")
                                          % {"n": MAX_MONTHS}, "range_too_long")
        month = add_months(month, 1)
    return months


def forecast_months(date_from=None, date_to=None, as_of: dt.date | None = None) -> list[dt.date]:
    """The report's close months: `date_from`'s to `date_to`'s; default this month and the five after it."""
    today = as_of or timezone.localdate()
    start = parse_date(date_from, "date_from") or month_of(today)
    end = parse_date(date_to, "date_to") or month_end(add_months(month_of(start), DEFAULT_MONTHS - 1))
    return months_in(start, end)


# --- who may see what -------------------------------------------------------------------------------

def can_see_pipeline(user) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False) and user.is_active
                and getattr(user, "is_sales", False))


def can_see_contracted(user) -> bool:
    from l2c.revenue.services import can_use_revenue

    return can_use_revenue(user)


def require_forecast_user(user) -> None:
    if not (can_see_pipeline(user) or can_see_contracted(user)):
        raise PermissionDenied(_("Your role does not allow the forecast."))


def can_override(user) -> bool:
    return bool(can_see_pipeline(user) and (user.is_admin or (user.is_manager and user.team_id)))


def sees_teams(user) -> bool:
    """Team rows (and team overrides) are for managers and admins: a rep's report holds only their own deals."""
    return bool(can_see_pipeline(user) and (user.is_admin or user.is_manager))


def _override_scope(user) -> Q:
    """The overrides `user` may read: admin all; a manager those of their team and its members; a rep their own."""
    if not can_see_pipeline(user):
        return Q(pk__in=[])
    if user.is_admin:
        return Q()
    if user.is_manager:
        q = Q(owner_id=user.pk)
        if user.team_id:
            q |= Q(owner__team_id=user.team_id) | Q(team_id=user.team_id)
        return q
    return Q(owner_id=user.pk)


def _line_scope(user) -> Q:
    """The snapshot lines `user` may read (the team a line's owner was in when the snapshot was taken)."""
    if not can_see_pipeline(user):
        return Q(pk__in=[])
    if user.is_admin:
        return Q()
    own = Q(level=ForecastSnapshotLine.Level.OWNER, owner_id=user.pk)
    if user.is_manager and user.team_id:
        return own | Q(team_id=user.team_id)
    return own


# --- money ------------------------------------------------------------------------------------------

def company_currency() -> str:
    from l2c.ledger.services import company_currency as company

    return company()


@dataclass
class Converter:
    """Company currency per unit of each currency at one day; currencies without a rate are collected."""

    day: dt.date
    company: str = field(default_factory=company_currency)
    rates: dict = field(default_factory=dict)
    unconverted: dict = field(default_factory=lambda: defaultdict(lambda: ZERO))

    def rate(self, currency: str) -> Decimal | None:
        from l2c.ledger.services import rate_for

        if currency == self.company:
            return Decimal(1)
        if currency not in self.rates:
            try:
                self.rates[currency] = Decimal(rate_for(currency, self.day))
            except ValidationFailed:
                self.rates[currency] = None
        return self.rates[currency]

    def convert(self, amount, currency: str) -> Decimal | None:
        rate = self.rate(currency)
        if rate is None:
            self.unconverted[currency] += amount or ZERO
            return None
        return (amount or ZERO) * rate

    def unconverted_list(self) -> list[dict]:
        return [{"currency": c, "amount": round_money(a, c)} for c, a in sorted(self.unconverted.items()) if a]


# --- the computed forecast --------------------------------------------------------------------------

@dataclass
class Cell:
    count: int = 0
    amount: Decimal = ZERO
    weighted: Decimal = ZERO


def _computed(opportunities, months: list[dt.date], converter: Converter) -> dict[tuple, Cell]:
    """{(owner id, month, category): Cell} in the company currency (unrounded) of `opportunities` (a queryset
    already restricted and filtered): two grouped queries, open deals by close month and won deals by the
    month they were won."""
    first, last = months[0], month_end(months[-1])
    weighted = Sum(ExpressionWrapper(F("amount") * F("probability"), output_field=WIDE))
    open_rows = (opportunities.filter(closed_at__isnull=True, forecast_category__in=OPEN_CATEGORIES,
                                      expected_close_date__gte=first, expected_close_date__lte=last)
                 .values("owner_id", "currency", "forecast_category",
                         month=TruncMonth("expected_close_date", output_field=DateField()))
                 .annotate(n=Count("id"), total=Sum("amount"), weighted_total=weighted).order_by())
    zone = timezone.get_current_timezone()
    start = dt.datetime.combine(first, dt.time.min, tzinfo=zone)
    end = dt.datetime.combine(add_months(months[-1], 1), dt.time.min, tzinfo=zone)
    won_rows = (opportunities.filter(stage__is_won=True, closed_at__gte=start, closed_at__lt=end)
                .values("owner_id", "currency", month=TruncMonth("closed_at", output_field=DateField()))
                .annotate(n=Count("id"), total=Sum("amount"), weighted_total=weighted).order_by())
    cells: dict[tuple, Cell] = defaultdict(Cell)
    for rows, category in ((open_rows, None), (won_rows, ForecastCategory.CLOSED.value)):
        for row in rows:
            amount = converter.convert(row["total"], row["currency"])
            if amount is None:
                continue
            month = row["month"]
            if isinstance(month, dt.datetime):
                month = month.date()
            cell = cells[(row["owner_id"], month, category or row["forecast_category"])]
            cell.count += row["n"]
            cell.amount += amount
            cell.weighted += converter.convert(row["weighted_total"] or ZERO, row["currency"]) / 100
    return cells


def _users(ids) -> dict[int, object]:
    from django.contrib.auth import get_user_model

    ids = {pk for pk in ids if pk is not None}
    return {u.pk: u for u in get_user_model().objects.filter(pk__in=ids).select_related("team")} if ids else {}


def _teams(ids) -> dict[int, object]:
    from l2c.identity.models import Team

    ids = {pk for pk in ids if pk is not None}
    return {t.pk: t for t in Team.objects.filter(pk__in=ids)} if ids else {}


def _person(user) -> str:
    return (user.get_full_name() or user.username) if user is not None else _("Unassigned")


def _build(cells: dict[tuple, Cell], owner_overrides: dict, team_overrides: dict, months: list[dt.date],
           company: str, *, team_rows: bool) -> dict:
    """Owner rows, team rows and month totals from the computed cells and the overrides that apply."""
    keys = set(cells) | set(owner_overrides)
    users = _users(owner for owner, _m, _c in keys)

    def team_of(owner_id):
        user = users.get(owner_id)
        return user.team_id if user is not None else None

    teams = _teams({team_of(o) for o, _m, _c in keys} | {t for t, _m, _c in team_overrides})
    month_set = set(months)
    rows = []
    by_team: dict[tuple, dict] = {}
    for owner_id, month, category in sorted(keys, key=lambda k: (k[1], CATEGORIES.index(k[2]), _person(
            users.get(k[0])), k[0] or 0)):
        if month not in month_set:
            continue
        cell = cells.get((owner_id, month, category), Cell())
        override = owner_overrides.get((owner_id, month, category))
        amount, weighted = round_money(cell.amount, company), round_money(cell.weighted, company)
        final = override.amount if override is not None else amount
        team_id = team_of(owner_id)
        rows.append({
            "owner_id": owner_id, "owner": _person(users.get(owner_id)), "team_id": team_id,
            "team": str(teams[team_id]) if team_id in teams else "", "month": month, "category": category,
            "count": cell.count, "computed": amount, "weighted": weighted,
            "override": override.amount if override is not None else None,
            "override_id": override.pk if override is not None else None,
            "note": override.note if override is not None else "", "final": final,
        })
        group = by_team.setdefault((team_id, month, category), {"count": 0, "computed": ZERO, "weighted": ZERO,
                                                                 "members_final": ZERO})
        group["count"] += cell.count
        group["computed"] += amount
        group["weighted"] += weighted
        group["members_final"] += final
    for team_id, month, category in team_overrides:
        if month in month_set:
            by_team.setdefault((team_id, month, category), {"count": 0, "computed": ZERO, "weighted": ZERO,
                                                            "members_final": ZERO})
    teams_out = []
    totals = {m: {c: {"computed": ZERO, "final": ZERO, "weighted": ZERO, "count": 0} for c in CATEGORIES}
              for m in months}
    for (team_id, month, category), group in sorted(by_team.items(), key=lambda kv: (
            kv[0][1], CATEGORIES.index(kv[0][2]), str(teams.get(kv[0][0], "")), kv[0][0] or 0)):
        override = team_overrides.get((team_id, month, category))
        final = override.amount if override is not None else group["members_final"]
        total = totals[month][category]
        total["computed"] += group["computed"]
        total["weighted"] += group["weighted"]
        total["count"] += group["count"]
        total["final"] += final
        teams_out.append({
            "team_id": team_id, "team": str(teams[team_id]) if team_id in teams else _("No team"), "month": month,
            "category": category, "count": group["count"], "computed": group["computed"],
            "weighted": group["weighted"], "members_final": group["members_final"],
            "override": override.amount if override is not None else None,
            "override_id": override.pk if override is not None else None,
            "note": override.note if override is not None else "", "final": final,
        })
    return {"rows": rows, "teams": teams_out if team_rows else [], "totals": _month_totals(totals, months)}


def _month_totals(totals: dict, months: list[dt.date]) -> list[dict]:
    out = []
    for month in months:
        t = totals[month]
        row = {"month": month, "weighted": sum((t[c]["weighted"] for c in CATEGORIES), ZERO),
               "count": sum(t[c]["count"] for c in CATEGORIES)}
        for category in CATEGORIES:
            row[category] = t[category]["final"]
            row[f"{category}_computed"] = t[category]["computed"]
        row["commit_forecast"] = row["closed"] + row["commit"]
        row["best_case_forecast"] = row["commit_forecast"] + row["best_case"]
        row["commit_forecast_computed"] = row["closed_computed"] + row["commit_computed"]
        row["best_case_forecast_computed"] = row["commit_forecast_computed"] + row["best_case_computed"]
        out.append(row)
    return out


def _filtered(qs, *, owner_id: int | None, team_id: int | None, owner_field: str = "owner"):
    if owner_id is not None:
        qs = qs.filter(**{f"{owner_field}_id": owner_id})
    if team_id is not None:
        qs = qs.filter(**{f"{owner_field}__team_id": team_id})
    return qs


def _overrides(user, months, *, owner_id, team_id, everyone: bool = False) -> tuple[dict, dict]:
    qs = ForecastOverride.objects.filter(month__gte=months[0], month__lte=months[-1])
    if not everyone:
        qs = qs.filter(_override_scope(user))
    owner_qs = _filtered(qs.filter(owner__isnull=False), owner_id=owner_id, team_id=team_id)
    owner_overrides = {(o.owner_id, o.month, o.category): o for o in owner_qs}
    team_overrides = {}
    if owner_id is None and (everyone or sees_teams(user)):
        team_qs = qs.filter(team__isnull=False)
        if team_id is not None:
            team_qs = team_qs.filter(team_id=team_id)
        team_overrides = {(o.team_id, o.month, o.category): o for o in team_qs}
    return owner_overrides, team_overrides


def forecast_report(*, user, date_from=None, date_to=None, as_of=None, owner=None, team=None,
                    contracted: bool = True) -> dict:
    """The forecast `user` may see: {currency, as_of, months, rows (per owner), teams, totals (per month),
    unconverted, contracted (or None: sales roles do not see revenue), pipeline (False for finance)}."""
    require_forecast_user(user)
    as_of = parse_date(as_of, "as_of") or timezone.localdate()
    months = forecast_months(date_from, date_to, as_of)
    owner_id, team_id = parse_id(owner, "owner"), parse_id(team, "team")
    converter = Converter(day=as_of)
    company = converter.company
    report = {"currency": company, "as_of": as_of, "months": months, "date_from": months[0],
              "date_to": month_end(months[-1]), "pipeline": can_see_pipeline(user), "rows": [], "teams": [],
              "totals": _month_totals({m: {c: {"computed": ZERO, "final": ZERO, "weighted": ZERO, "count": 0}
                                           for c in CATEGORIES} for m in months}, months),
              "unconverted": [], "contracted": None}
    calls = {}
    if report["pipeline"]:
        def pipeline():
            from l2c.pipeline.models import Opportunity

            opportunities = _filtered(Opportunity.objects.restrict(user), owner_id=owner_id, team_id=team_id)
            cells = _computed(opportunities, months, converter)
            owner_overrides, team_overrides = _overrides(user, months, owner_id=owner_id, team_id=team_id)
            built = _build(cells, owner_overrides, team_overrides, months, company, team_rows=sees_teams(user))
            return {**built, "unconverted": converter.unconverted_list()}

        calls["pipeline"] = pipeline
    if contracted and can_see_contracted(user):  # `contracted=False`: a caller that shows only the pipeline
        calls["contracted"] = lambda: {"contracted": contracted_revenue(user=user, as_of=as_of, months=months)}
    for found in _side_by_side(calls).values():
        report.update(found)
    return report


def _side_by_side(calls: dict) -> dict:
    """Run the pipeline and the contracted revenue reads at the same time on PostgreSQL, each on its own
    connection (closed when done), in the request's language and time zone; one after the other on SQLite or
    inside a transaction (where another connection would not see its rows). Each is a few grouped queries over
    a large table, so an admin's report takes the longer of the two instead of their sum."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection, connections
    from django.utils import translation

    if len(calls) < 2 or connection.vendor != "postgresql" or connection.in_atomic_block:
        return {key: call() for key, call in calls.items()}
    language, zone = translation.get_language(), timezone.get_current_timezone()

    def run(call):
        try:
            with translation.override(language), timezone.override(zone):
                return call()
        finally:
            connections.close_all()  # this thread's connections only

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = {key: pool.submit(run, call) for key, call in calls.items()}
        return {key: future.result() for key, future in futures.items()}


def contracted_revenue(*, user, as_of: dt.date, months: list[dt.date]) -> dict:
    """What signed contracts will recognise per month (revenue.selectors.future_recognition: the current
    schedule versions, less what was recognised; company currency at the rate of `as_of`), for the report's
    months from the first one still open; `later` is everything after the twelve months it reads."""
    from l2c.revenue import selectors as revenue

    future = revenue.future_recognition(as_of, user=user)
    planned = {row["month"]: row["amount"] for row in future["months"]}
    return {"start": future["start"], "currency": future["currency"],
            "months": [{"month": m, "amount": planned.get(m) if m >= future["start"] else None} for m in months],
            "beyond_report": sum((a for m, a in planned.items() if m > months[-1]), ZERO) + future["later"],
            "total": future["total"]}


# --- overrides (writes) -----------------------------------------------------------------------------

def override_list(*, user, month_from=None, month_to=None, owner=None, team=None):
    """The overrides `user` may see, by month."""
    qs = ForecastOverride.objects.filter(_override_scope(user)).select_related("owner", "team", "set_by")
    if (start := parse_date(month_from, "month_from")) is not None:
        qs = qs.filter(month__gte=month_of(start))
    if (end := parse_date(month_to, "month_to")) is not None:
        qs = qs.filter(month__lte=end)
    if (owner_id := parse_id(owner, "owner")) is not None:
        qs = qs.filter(owner_id=owner_id)
    if (team_id := parse_id(team, "team")) is not None:
        qs = qs.filter(team_id=team_id)
    return qs.order_by("month", "category", "id")


def override_get(*, user, pk) -> ForecastOverride:
    found = ForecastOverride.objects.filter(_override_scope(user)).select_related("owner", "team").filter(
        pk=pk).first()
    if found is None:
        raise NotFound(_("No forecast override with id %(id)s.") % {"id": pk})
    return found


def _require_override_rights(actor, *, owner, team) -> None:
    if not can_override(actor):
        raise PermissionDenied(_("Only a sales manager (for their team) or an admin may override the forecast."))
    if actor.is_admin:
        return
    if owner is not None and owner.team_id != actor.team_id:
        raise PermissionDenied(_("A manager may override the forecast of their own team's members only."))
    if team is not None and team.pk != actor.team_id:
        raise PermissionDenied(_("A manager may override their own team's forecast only."))


def _clean_override(values: dict, *, creating: bool) -> dict:
    from django.contrib.auth import get_user_model

    from l2c.identity.models import Team

    errors: list[FieldError] = []
    cleaned: dict = {}
    if creating:
        owner_id, team_id = values.get("owner"), values.get("team")
        if (owner_id is None) == (team_id is None):
            errors.append(FieldError("owner", _("Give either an owner or a team (one of the two)."), "owner_or_team"))
        elif owner_id is not None:
            owner = get_user_model().objects.filter(pk=parse_id(owner_id, "owner"), is_active=True).first()
            if owner is None or not owner.is_sales:
                errors.append(FieldError("owner", _("No active sales user with this id."), "not_found"))
            cleaned["owner"] = owner
        else:
            found = Team.objects.filter(pk=parse_id(team_id, "team")).first()
            if found is None:
                errors.append(FieldError("team", _("No team with this id."), "not_found"))
            cleaned["team"] = found
        try:
            month = parse_date(values.get("month"), "month")
            if month is None:
                errors.append(FieldError("month", _("Give the month as YYYY-MM."), "required"))
            else:
                cleaned["month"] = month_of(month)
        except ValidationFailed as exc:
            errors += exc.errors
        category = values.get("category")
        if category not in OVERRIDABLE_CATEGORIES:
            errors.append(FieldError("category", _("Choose one of %(c)s (closed is what was won: it is not "
                                                   "overridden).") % {"c": ", ".join(OVERRIDABLE_CATEGORIES)},
                                     "invalid_choice"))
        cleaned["category"] = category
    if creating or "amount" in values:
        amount = values.get("amount")
        try:
            amount = Decimal(str(amount)) if amount is not None and not isinstance(amount, bool | float) else None
        except ArithmeticError:
            amount = None
        if amount is None or not amount.is_finite():
            errors.append(FieldError("amount", _("Give the amount as a decimal number, e.g. 125000.00."), "invalid"))
        elif amount < 0:
            errors.append(FieldError("amount", _("The amount may not be negative."), "negative"))
        elif amount > MAX_AMOUNT or amount != round_money(amount, company_currency()):
            errors.append(FieldError("amount", _("At most %(max)s, with no more decimals than the currency has.")
                                     % {"max": MAX_AMOUNT}, "invalid"))
        else:
            cleaned["amount"] = amount
    if "note" in values:
        note = (values.get("note") or "").strip()
        if len(note) > MAX_NOTE:
            errors.append(FieldError("note", _("At most %(limit)d characters (got %(count)d).")
                                     % {"limit": MAX_NOTE, "count": len(note)}, "max_length"))
        cleaned["note"] = note
    if errors:
        raise ValidationFailed(errors)
    return cleaned


AUDITED = ["owner", "team", "month", "category", "amount", "currency", "note"]


def _locked_override(override) -> ForecastOverride:
    # of=self: PostgreSQL refuses FOR UPDATE on the nullable side of the owner/team outer joins
    return ForecastOverride.objects.select_for_update(of=("self",)).select_related("owner", "team").get(
        pk=override.pk)


def override_create(*, actor, owner=None, team=None, month, category: str, amount, note: str = "") -> ForecastOverride:
    """A manager's figure for (owner or team, month, category); a second one for the same key is a 409."""
    cleaned = _clean_override({"owner": owner, "team": team, "month": month, "category": category,
                               "amount": amount, "note": note}, creating=True)
    _require_override_rights(actor, owner=cleaned.get("owner"), team=cleaned.get("team"))
    try:
        with transaction.atomic():
            override = ForecastOverride.objects.create(currency=company_currency(), set_by=actor, **cleaned)
            audit.record(actor=actor, action=audit.Action.CREATE, instance=override,
                         changes={k: [None, v] for k, v in audit.snapshot(override, AUDITED).items()
                                  if v not in (None, "")})
    except IntegrityError:
        key = {"owner": cleaned.get("owner"), "team": cleaned.get("team"), "month": cleaned["month"],
               "category": cleaned["category"]}
        existing = ForecastOverride.objects.filter(**key).values_list("pk", flat=True).first()
        raise Conflict(_("There is already an override for this month and category (id %(id)s): change that one.")
                       % {"id": existing}, code="override_exists") from None
    return override


@transaction.atomic
def override_update(*, actor, override: ForecastOverride, **values) -> ForecastOverride:
    """Change the amount and/or the note (the key — owner or team, month, category — stays)."""
    unknown = set(values) - {"amount", "note"}
    if unknown:
        raise TypeError(f"unknown override fields: {sorted(unknown)}")
    cleaned = _clean_override(values, creating=False)
    override = _locked_override(override)
    _require_override_rights(actor, owner=override.owner, team=override.team)
    before = audit.snapshot(override, AUDITED)
    for name, value in cleaned.items():
        setattr(override, name, value)
    changes = audit.diff(before, audit.snapshot(override, AUDITED))
    if changes:
        override.set_by = actor
        override.save(update_fields=[*cleaned, "set_by", "updated_at"])
        audit.record(actor=actor, action=audit.Action.UPDATE, instance=override, changes=changes)
    return override


@transaction.atomic
def override_delete(*, actor, override: ForecastOverride) -> None:
    """Remove the override: the computed figure counts again."""
    override = _locked_override(override)
    _require_override_rights(actor, owner=override.owner, team=override.team)
    audit.record(actor=actor, action=audit.Action.DELETE, instance=override,
                 changes={k: [v, None] for k, v in audit.snapshot(override, AUDITED).items()})
    override.delete()


def override_save(*, actor, owner=None, team=None, month, category: str, amount, note: str = "") -> ForecastOverride:
    """The page's form: create the override, or change the one that exists for this key."""
    key_month = parse_date(month, "month")
    existing = ForecastOverride.objects.filter(
        owner_id=parse_id(owner, "owner"), team_id=parse_id(team, "team"), category=category,
        month=month_of(key_month) if key_month else None).first() if key_month else None
    if existing is not None:
        return override_update(actor=actor, override=existing, amount=amount, note=note)
    return override_create(actor=actor, owner=owner, team=team, month=month, category=category, amount=amount,
                           note=note)


# --- snapshots ---------------------------------------------------------------------------------------

def can_take_snapshot(user) -> bool:
    return bool(can_see_pipeline(user) and (user.is_admin or user.is_manager))


def snapshot_take(*, actor, kind: str = ForecastSnapshot.Kind.MANUAL, now: dt.datetime | None = None,
                  months: int = SNAPSHOT_MONTHS) -> ForecastSnapshot:
    """Store the whole company's forecast as it stands (every owner, this month and the next `months` − 1;
    computed, override, weighted, count), whoever takes it. The weekly one is taken once per week: running
    the job again returns the week's snapshot."""
    if actor is not None and not can_take_snapshot(actor):
        raise PermissionDenied(_("Only a sales manager or an admin may take a forecast snapshot."))
    if kind not in ForecastSnapshot.Kind.values:
        raise ValidationFailed.single("kind", _("Choose scheduled or manual."), "invalid_choice")
    now = now or timezone.now()
    today = timezone.localtime(now).date()
    week = today - dt.timedelta(days=today.weekday())
    month_list = [add_months(month_of(today), i) for i in range(months)]
    if kind == ForecastSnapshot.Kind.SCHEDULED:
        existing = ForecastSnapshot.objects.filter(kind=kind, week=week).first()
        if existing is not None:
            return existing
    try:
        return _snapshot_create(actor=actor, kind=kind, now=now, today=today, week=week, month_list=month_list)
    except IntegrityError:  # two weekly jobs at once: the other one's snapshot stands
        if kind != ForecastSnapshot.Kind.SCHEDULED:
            raise
        return ForecastSnapshot.objects.get(kind=kind, week=week)


@transaction.atomic
def _snapshot_create(*, actor, kind, now, today, week, month_list) -> ForecastSnapshot:
    from l2c.pipeline.models import Opportunity

    converter = Converter(day=today)
    cells = _computed(Opportunity.objects.all(), month_list, converter)
    owner_overrides, team_overrides = _overrides(None, month_list, owner_id=None, team_id=None, everyone=True)
    built = _build(cells, owner_overrides, team_overrides, month_list, converter.company, team_rows=True)
    snapshot = ForecastSnapshot.objects.create(
        taken_at=now, week=week, kind=kind, taken_by=actor, currency=converter.company,
        first_month=month_list[0], last_month=month_list[-1],
        unconverted=[{"currency": u["currency"], "amount": str(u["amount"])}
                     for u in converter.unconverted_list()])
    lines = [ForecastSnapshotLine(snapshot=snapshot, level=ForecastSnapshotLine.Level.OWNER,
                                  owner_id=r["owner_id"], team_id=r["team_id"], month=r["month"],
                                  category=r["category"], count=r["count"], computed=r["computed"],
                                  weighted=r["weighted"], override=r["override"], final=r["final"])
             for r in built["rows"]]
    lines += [ForecastSnapshotLine(snapshot=snapshot, level=ForecastSnapshotLine.Level.TEAM,
                                   team_id=t["team_id"], month=t["month"], category=t["category"],
                                   count=t["count"], computed=t["computed"], weighted=t["weighted"],
                                   override=t["override"], final=t["final"])
              for t in built["teams"] if t["override"] is not None]
    ForecastSnapshotLine.objects.bulk_create(lines, batch_size=2000)
    totals = built["totals"]
    audit.record(actor=actor, action=audit.Action.CREATE, instance=snapshot, actor_label=None if actor else
                 "forecast snapshot", changes={
                     "kind": [None, kind], "week": [None, week], "lines": [None, len(lines)],
                     "commit_forecast": [None, {t["month"].isoformat(): t["commit_forecast"] for t in totals}]})
    return snapshot


def snapshot_list(*, user, limit: int = 52):
    """The latest snapshots (headers; everyone who sees the forecast may list them)."""
    require_forecast_user(user)
    return ForecastSnapshot.objects.select_related("taken_by").order_by("-taken_at", "-id")[:limit]


def snapshot_totals(*, user, snapshot_ids, owner=None, team=None) -> dict[tuple, dict]:
    """{(snapshot id, month): {category: final, …, "commit_forecast", "best_case_forecast"}} of the lines
    `user` may see: one grouped query; a team's override line stands for its members' lines."""
    owner_id, team_id = parse_id(owner, "owner"), parse_id(team, "team")
    lines = ForecastSnapshotLine.objects.filter(snapshot_id__in=snapshot_ids).filter(_line_scope(user))
    if owner_id is not None:
        lines = lines.filter(level=ForecastSnapshotLine.Level.OWNER, owner_id=owner_id)
    if team_id is not None:
        lines = lines.filter(team_id=team_id)
    if not sees_teams(user):
        lines = lines.filter(level=ForecastSnapshotLine.Level.OWNER)
    grouped = defaultdict(lambda: {"owner": defaultdict(lambda: ZERO), "team": {}})
    for row in (lines.values("snapshot_id", "month", "category", "level", "team_id")
                .annotate(final=Sum("final")).order_by()):
        group = grouped[(row["snapshot_id"], row["month"], row["category"])]
        if row["level"] == ForecastSnapshotLine.Level.TEAM:
            group["team"][row["team_id"]] = row["final"] or ZERO
        else:
            group["owner"][row["team_id"]] += row["final"] or ZERO
    out: dict[tuple, dict] = defaultdict(lambda: {c: ZERO for c in CATEGORIES})
    for (snapshot_id, month, category), group in grouped.items():
        teams = set(group["owner"]) | set(group["team"])
        out[(snapshot_id, month)][category] = sum(
            (group["team"][t] if t in group["team"] else group["owner"][t] for t in teams), ZERO)
    company = company_currency()
    for value in out.values():
        for category in CATEGORIES:  # SQLite's sums lose the scale
            value[category] = round_money(value[category], company)
        value["commit_forecast"] = value["closed"] + value["commit"]
        value["best_case_forecast"] = value["commit_forecast"] + value["best_case"]
    return out


# --- accuracy ----------------------------------------------------------------------------------------

def _accuracy(forecast: Decimal, actual: Decimal) -> Decimal | None:
    """100 % − |error| / actual, not below 0; None when nothing closed (no scale to measure against)."""
    if not actual:
        return None
    value = (1 - abs(forecast - actual) / actual) * 100
    return max(value, ZERO).quantize(Decimal("0.1"))


def actual_won(*, user, months: list[dt.date], owner_id=None, team_id=None) -> tuple[dict, list]:
    """{month: amount won} (company currency at each month's last day) of the deals `user` may see."""
    from l2c.pipeline.models import Opportunity

    zone = timezone.get_current_timezone()
    start = dt.datetime.combine(months[0], dt.time.min, tzinfo=zone)
    end = dt.datetime.combine(add_months(months[-1], 1), dt.time.min, tzinfo=zone)
    qs = _filtered(Opportunity.objects.restrict(user), owner_id=owner_id, team_id=team_id)
    rows = (qs.filter(stage__is_won=True, closed_at__gte=start, closed_at__lt=end)
            .values("currency", month=TruncMonth("closed_at", output_field=DateField()))
            .annotate(amount=Sum("amount")).order_by())
    company = company_currency()
    converters = {m: Converter(day=month_end(m), company=company) for m in months}
    won: dict[dt.date, Decimal] = {m: ZERO for m in months}
    for row in rows:
        month = row["month"].date() if isinstance(row["month"], dt.datetime) else row["month"]
        value = converters[month].convert(row["amount"], row["currency"])
        if value is not None:
            won[month] += value
    unconverted: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for converter in converters.values():
        for currency, amount in converter.unconverted.items():
            unconverted[currency] += amount
    return ({m: round_money(v, company) for m, v in won.items()},
            [{"currency": c, "amount": round_money(a, c)} for c, a in sorted(unconverted.items()) if a])


def forecast_accuracy(*, user, date_from=None, date_to=None, owner=None, team=None, today=None) -> dict:
    """For each past month of the range (default: the months of the last 90 days that are over) and each
    snapshot taken before that month ended that covers it: the commit and best-case forecast, what actually
    closed won, the error (forecast − actual) and the accuracy %. Only what `user` may see counts."""
    if not can_see_pipeline(user):
        raise PermissionDenied(_("Forecast accuracy is for sales roles."))
    today = parse_date(today, "today") or timezone.localdate()
    start = parse_date(date_from, "date_from") or today - dt.timedelta(days=DEFAULT_ACCURACY_DAYS)
    end = parse_date(date_to, "date_to") or today
    owner_id, team_id = parse_id(owner, "owner"), parse_id(team, "team")
    months = [m for m in months_in(start, end) if month_end(m) < today]
    company = company_currency()
    result = {"currency": company, "date_from": start, "date_to": end, "months": [], "rows": [],
              "unconverted": []}
    if not months:
        return result
    zone = timezone.get_current_timezone()
    snapshots = list(ForecastSnapshot.objects.filter(
        first_month__lte=months[-1], last_month__gte=months[0],
        taken_at__lt=dt.datetime.combine(add_months(months[-1], 1), dt.time.min, tzinfo=zone))
        .order_by("taken_at", "id"))
    totals = snapshot_totals(user=user, snapshot_ids=[s.pk for s in snapshots], owner=owner_id, team=team_id)
    won, result["unconverted"] = actual_won(user=user, months=months, owner_id=owner_id, team_id=team_id)
    for month in months:
        month_close = dt.datetime.combine(add_months(month, 1), dt.time.min, tzinfo=zone)
        actual = won[month]
        taken = [s for s in snapshots if s.first_month <= month <= s.last_month and s.taken_at < month_close]
        result["months"].append({"month": month, "actual": actual, "snapshots": len(taken)})
        for snapshot in taken:
            figures = totals.get((snapshot.pk, month), {c: ZERO for c in CATEGORIES})
            commit = figures.get("commit_forecast", ZERO)
            best = figures.get("best_case_forecast", ZERO)
            result["rows"].append({
                "month": month, "snapshot_id": snapshot.pk, "week": snapshot.week, "taken_at": snapshot.taken_at,
                "kind": snapshot.kind, "commit_forecast": commit, "best_case_forecast": best, "actual": actual,
                "commit_error": commit - actual, "commit_accuracy": _accuracy(commit, actual),
                "best_case_error": best - actual, "best_case_accuracy": _accuracy(best, actual),
            })
    return result


# --- exports (the same tables for the pages and the API) ----------------------------------------------

def _category_label(value: str) -> str:
    return str(ForecastCategory(value).label) if value in CATEGORIES else value


def export_tables() -> dict:
    """{key: (label, columns, rows(user, params) → list)}: the forecast per owner, per team, the month
    totals, and the accuracy rows; `params` are the report's query parameters."""
    from django.utils.translation import gettext_lazy

    from l2c.core.exports import Column

    def col(header, key):
        return Column(header, lambda row: row[key])

    month = Column(gettext_lazy("Month"), lambda row: row["month"].strftime("%Y-%m"))
    category = Column(gettext_lazy("Forecast category"), lambda row: _category_label(row["category"]))
    figures = [col(gettext_lazy("Deals"), "count"), col(gettext_lazy("Computed"), "computed"),
               col(gettext_lazy("Weighted"), "weighted"), col(gettext_lazy("Override"), "override"),
               col(gettext_lazy("Override note"), "note"), col(gettext_lazy("Forecast"), "final")]

    def report(user, params):
        return forecast_report(user=user, **{k: params.get(k) for k in ("date_from", "date_to", "as_of", "owner",
                                                                         "team")})

    def accuracy(user, params):
        return forecast_accuracy(user=user, **{k: params.get(k) for k in ("date_from", "date_to", "owner", "team")})

    return {
        "owners": (gettext_lazy("Forecast per owner"), [
            month, col(gettext_lazy("Owner"), "owner"), col(gettext_lazy("Team"), "team"), category, *figures],
            lambda user, params: report(user, params)["rows"]),
        "teams": (gettext_lazy("Forecast per team"), [
            month, col(gettext_lazy("Team"), "team"), category, col(gettext_lazy("Deals"), "count"),
            col(gettext_lazy("Computed"), "computed"), col(gettext_lazy("Weighted"), "weighted"),
            col(gettext_lazy("Members' forecast"), "members_final"), col(gettext_lazy("Override"), "override"),
            col(gettext_lazy("Override note"), "note"), col(gettext_lazy("Forecast"), "final")],
            lambda user, params: report(user, params)["teams"]),
        "totals": (gettext_lazy("Forecast per month"), [
            month, col(gettext_lazy("Closed won"), "closed"), col(gettext_lazy("Commit"), "commit"),
            col(gettext_lazy("Commit (computed)"), "commit_computed"), col(gettext_lazy("Best case"), "best_case"),
            col(gettext_lazy("Best case (computed)"), "best_case_computed"), col(gettext_lazy("Pipeline"), "pipeline"),
            col(gettext_lazy("Commit forecast"), "commit_forecast"),
            col(gettext_lazy("Best-case forecast"), "best_case_forecast"), col(gettext_lazy("Weighted"), "weighted"),
            col(gettext_lazy("Deals"), "count")],
            lambda user, params: report(user, params)["totals"]),
        "accuracy": (gettext_lazy("Forecast accuracy"), [
            month, Column(gettext_lazy("Snapshot week"), lambda row: row["week"]),
            col(gettext_lazy("Taken at"), "taken_at"), col(gettext_lazy("Commit forecast"), "commit_forecast"),
            col(gettext_lazy("Best-case forecast"), "best_case_forecast"), col(gettext_lazy("Closed won"), "actual"),
            col(gettext_lazy("Commit error"), "commit_error"), col(gettext_lazy("Commit accuracy %"), "commit_accuracy"),
            col(gettext_lazy("Best-case error"), "best_case_error"),
            col(gettext_lazy("Best-case accuracy %"), "best_case_accuracy")],
            lambda user, params: accuracy(user, params)["rows"]),
    }
