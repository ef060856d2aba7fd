"""Every write of revenue recognition except the close: registering a signed contract (obligations, SSP
allocation, schedule version 1), grouping lines that are not distinct, credit notes, and prospective contract
modifications (price change, extension, early termination, quantity change on a ratable obligation).

Every change of price or dates makes a new `ScheduleVersion` and keeps the old one. Changes are prospective:
what each obligation earned before the change's effective day stays earned; what remains unearned plus the
change in price is reallocated over the obligations (and, for ratable ones, the days) that remain, in
proportion to their remaining standalone selling price.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.utils.translation import gettext as _

from l2c.core import audit
from l2c.core.errors import Conflict, FieldError, NotFound, PermissionDenied, ValidationFailed
from l2c.core.money import round_money
from l2c.core.validation import parse_date

from . import engine, recognition, terms
from .models import (
    Method,
    ObligationLine,
    PerformanceObligation,
    RevenueContract,
    ScheduleLine,
    ScheduleVersion,
)

ZERO = Decimal(0)
MAX_REASON = 2000


# --- who may act ------------------------------------------------------------------------------------

def can_use_revenue(user) -> bool:
    """Finance and admin see revenue and close periods; sales roles do not."""
    return bool(getattr(user, "is_authenticated", False) and user.is_active
                and (getattr(user, "is_admin", False) or getattr(user, "is_finance", False)))


def require_revenue_user(actor) -> None:
    if actor is None:
        return  # system work (events, Celery)
    if not can_use_revenue(actor):
        raise PermissionDenied(_("Only finance and admin users can work with revenue recognition."))


# --- registering a contract -------------------------------------------------------------------------

def _ssp_table(product_ids, currency: str) -> dict[int, Decimal]:
    from l2c.quoting.models import StandaloneSellingPrice

    return dict(StandaloneSellingPrice.objects.filter(product_id__in=product_ids, currency=currency)
                .values_list("product_id", "amount"))


def _plan(o: PerformanceObligation, amount: Decimal, currency: str, *, expected: dt.date) -> dict:
    """The planned months of an obligation's `amount`: ratable by days over its service period; otherwise
    the whole amount in the month it is expected to be delivered (recognition follows the delivery)."""
    if o.method == Method.RATABLE:
        end = min(o.end_date, o.ended_on) if o.ended_on else o.end_date
        return engine.spread_daily(amount, o.start_date, end, currency)
    return {engine.month_of(expected): amount} if amount else {}


def _write_version(rc: RevenueContract, *, kind: str, reason: str, effective: dt.date, plans: dict,
                   earned_before: dict, actor) -> ScheduleVersion:
    number = (rc.versions.order_by("-number").values_list("number", flat=True).first() or 0) + 1
    obligations = list(rc.obligations.order_by("position", "id"))
    version = ScheduleVersion.objects.create(
        revenue_contract=rc, number=number, kind=kind, reason=reason, effective_date=effective,
        transaction_price=rc.transaction_price, created_by=actor, allocations=[
            {"obligation": o.pk, "name": o.name, "method": o.method, "ssp": str(o.ssp_amount),
             "ssp_from_list_price": o.ssp_from_list_price, "allocated": str(o.allocated_amount),
             "earned_before": str(earned_before.get(o.pk, ZERO)),
             "start": o.start_date.isoformat() if o.start_date else None,
             "end": o.end_date.isoformat() if o.end_date else None,
             "ended_on": o.ended_on.isoformat() if o.ended_on else None} for o in obligations])
    ScheduleLine.objects.bulk_create([
        ScheduleLine(version=version, obligation_id=obligation_id, period=month, amount=amount)
        for obligation_id, plan in plans.items() for month, amount in plan.items()])
    rc.version = number
    rc.save(update_fields=["version", "transaction_price", "status", "updated_at"])
    terms.refresh([rc.pk])  # what the MRR report reads of its obligations
    return version


@transaction.atomic
def register_contract(contract, *, actor=None) -> RevenueContract:
    """The contract's obligations (one per line), the allocation of its net total by relative SSP (the
    product's standalone selling price in the contract currency × quantity; the list price where none is
    set, and the contract is flagged), and schedule version 1. Idempotent: a second call returns the
    existing record unchanged."""
    from l2c.contracts.models import Contract

    contract = Contract.objects.select_for_update().get(pk=getattr(contract, "pk", contract))
    existing = RevenueContract.objects.filter(contract=contract).first()
    if existing is not None:
        return existing
    currency = contract.currency
    lines = list(contract.lines.select_related("product").order_by("position", "id"))
    ssps = _ssp_table({line.product_id for line in lines}, currency)
    rc = RevenueContract.objects.create(contract=contract, account_id=contract.account_id, currency=currency,
                                        inception_date=contract.start_date, transaction_price=contract.net_total)
    obligations = []
    for position, line in enumerate(lines, start=1):
        unit_ssp = ssps.get(line.product_id)
        from_list = unit_ssp is None
        ssp = round_money((line.list_price if from_list else unit_ssp) * line.quantity, currency)
        method = engine.method_for(line.product.kind, has_service_period=bool(line.service_start and line.service_end))
        ratable = method == Method.RATABLE
        obligations.append(PerformanceObligation(
            revenue_contract=rc, position=position, name=(line.description or line.product.name)[:300],
            product_id=line.product_id, method=method, quantity=line.quantity, ssp_amount=ssp,
            ssp_from_list_price=from_list, allocated_amount=ZERO,
            start_date=(line.service_start or contract.start_date) if ratable else None,
            end_date=(line.service_end or contract.end_date) if ratable else None))
    for o, amount in zip(obligations, engine.allocate(contract.net_total, [o.ssp_amount for o in obligations],
                                                      currency), strict=True):
        o.allocated_amount = amount
    PerformanceObligation.objects.bulk_create(obligations)
    ObligationLine.objects.bulk_create([ObligationLine(obligation=o, contract_line=line)
                                        for o, line in zip(obligations, lines, strict=True)])
    rc.ssp_flagged = any(o.ssp_from_list_price for o in obligations)
    rc.save(update_fields=["ssp_flagged"])
    plans = {o.pk: _plan(o, o.allocated_amount, currency, expected=contract.start_date) for o in obligations}
    rc.version = 0
    _write_version(rc, kind=ScheduleVersion.Kind.INCEPTION, reason="", effective=contract.start_date, plans=plans,
                   earned_before={}, actor=actor)
    audit.record(actor=actor, action=audit.Action.CREATE, instance=rc, changes={
        "contract": [None, contract.number], "transaction_price": [None, str(rc.transaction_price)],
        "obligations": [None, [{"name": o.name, "method": o.method, "ssp": str(o.ssp_amount),
                                "allocated": str(o.allocated_amount)} for o in obligations]],
        "ssp_flagged": [None, rc.ssp_flagged]})
    return rc


def register_missing(*, actor=None) -> int:
    """Register every signed contract that has no revenue record yet (contracts signed before revenue was
    installed, or whose event was lost). Returns how many were registered."""
    from l2c.contracts.models import Contract

    missing = list(Contract.objects.filter(revenue__isnull=True, signed_at__isnull=False)
                   .exclude(status="draft").values_list("pk", flat=True))
    for pk in missing:
        register_contract(pk, actor=actor)
    return len(missing)


def on_contract_created(name: str, payload: dict) -> None:
    """Subscriber of "contract.created"."""
    from l2c.contracts.models import Contract

    contract = Contract.objects.filter(pk=payload.get("contract_id")).first()
    if contract is not None:
        register_contract(contract)


# --- changing a contract's price or dates, prospectively ----------------------------------------------

def _current_plans(rc: RevenueContract) -> dict[int, dict]:
    plans: dict[int, dict] = {}
    version = rc.versions.get(number=rc.version)
    for obligation_id, month, amount in version.lines.values_list("obligation_id", "period", "amount"):
        plans.setdefault(obligation_id, {})[month] = amount
    return plans


def _earned_before(rc: RevenueContract, obligations: list, effective: dt.date) -> dict[int, Decimal]:
    version_id = rc.versions.get(number=rc.version).pk
    for o in obligations:
        o.currency = rc.currency
    return recognition.earned_through(obligations, effective - dt.timedelta(days=1),
                                      {rc.pk: version_id})


def _remaining_weight(o: PerformanceObligation, effective: dt.date, earned: Decimal) -> Decimal:
    """The part of the obligation's SSP still to be delivered from `effective` on."""
    if o.method == Method.RATABLE:
        last = min(o.end_date, o.ended_on) if o.ended_on else o.end_date
        total = (o.end_date - o.start_date).days + 1
        remaining = (last - max(effective, o.start_date)).days + 1
        return o.ssp_amount * Decimal(max(remaining, 0)) / Decimal(total) if total > 0 else ZERO
    if o.ended_on:
        return ZERO
    if o.allocated_amount <= 0:
        return o.ssp_amount if earned <= 0 else ZERO
    return o.ssp_amount * max(o.allocated_amount - earned, ZERO) / o.allocated_amount


def _reallocate(rc: RevenueContract, *, earned: dict[int, Decimal], new_price: Decimal, effective: dt.date,
                kind: str, reason: str, actor, changes: dict,
                direct: dict[int, Decimal] | None = None) -> ScheduleVersion:
    """The prospective change: keep what each obligation earned before `effective` (`earned`, measured on
    the plan before the change), then spread `new_price` − Σ earned over what remains. `direct` ({obligation
    id: amount}) takes that amount off the named obligations only (a credit note on a line) instead of
    spreading it over all of them."""
    obligations = list(rc.obligations.select_for_update().order_by("position", "id"))
    old_plans = _current_plans(rc)
    currency = rc.currency
    direct = direct or {}
    pool = new_price - sum(earned.values(), ZERO) + sum(direct.values(), ZERO)
    weights = [_remaining_weight(o, effective, earned[o.pk]) for o in obligations]
    if any(weights):
        shares = engine.allocate(pool, weights, currency)
    else:  # nothing left to deliver: the rest is earned now, on the largest obligation
        shares = [ZERO] * len(obligations)
        shares[max(range(len(obligations)), key=lambda i: obligations[i].ssp_amount)] = pool
    allocated = _no_negative([earned[o.pk] + share - direct.get(o.pk, ZERO)
                              for o, share in zip(obligations, shares, strict=True)], currency)
    plans = {}
    for o, amount in zip(obligations, allocated, strict=True):
        o.allocated_amount = amount
        if o.method == Method.RATABLE:
            last = min(o.end_date, o.ended_on) if o.ended_on else o.end_date
            kept = engine.split_plan(old_plans.get(o.pk, {}), o.start_date, o.end_date, effective, currency)
            rest = o.allocated_amount - sum(kept.values(), ZERO)
            start = max(effective, o.start_date)
            if rest < 0:  # it had earned more than it is now worth: taken back at once, not over the months left
                new = {engine.month_of(max(effective, o.start_date)): rest}
            elif start <= last:
                new = engine.spread_daily(rest, start, last, currency)
            else:  # no service left: the difference lands in the month the service ended
                new = {engine.month_of(max(last, o.start_date)): rest} if rest else {}
            plans[o.pk] = engine.merge(kept, new)
        else:
            expected = next(iter(old_plans.get(o.pk, {})), rc.inception_date)
            plans[o.pk] = _plan(o, o.allocated_amount, currency, expected=expected)
    PerformanceObligation.objects.bulk_update(obligations, ["allocated_amount"])
    old_price = rc.transaction_price
    rc.transaction_price = new_price
    version = _write_version(rc, kind=kind, reason=reason, effective=effective, plans=plans, earned_before=earned,
                             actor=actor)
    audit.record(actor=actor, action=audit.Action.UPDATE, instance=rc, changes={
        **changes, "version": [version.number - 1, version.number],
        "transaction_price": [str(old_price), str(new_price)],
        "allocated": [None, {o.name: str(o.allocated_amount) for o in obligations}]})
    return version


def _lock(rc) -> RevenueContract:
    found = RevenueContract.objects.select_for_update().filter(pk=getattr(rc, "pk", rc)).first()
    if found is None:
        raise NotFound(_("No revenue record for this contract."))
    return found


def _parse_amount(value, field: str, errors: list[FieldError], *, allow_negative: bool = True):
    if value in (None, ""):
        return None
    if isinstance(value, float | bool):
        errors.append(FieldError(field, _("Give the amount as a decimal number (e.g. \"100.00\")."), "invalid"))
        return None
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        errors.append(FieldError(field, _("%(value)r is not a decimal amount.") % {"value": value}, "invalid"))
        return None
    if not amount.is_finite() or abs(amount) >= Decimal("1e15"):
        errors.append(FieldError(field, _("Enter a finite amount below 10^15."), "invalid"))
        return None
    if amount < 0 and not allow_negative:
        errors.append(FieldError(field, _("The amount cannot be negative."), "negative"))
        return None
    return amount


@transaction.atomic
def modify_contract(*, actor, revenue_contract, effective_date, reason: str, price_change=None,
                    new_end_date=None, terminate_on=None, quantities: dict | None = None) -> ScheduleVersion:
    """A contract modification handled prospectively (not a separate contract):

    - `price_change`: the transaction price goes up or down by this amount (contract currency);
    - `new_end_date`: the ratable obligations run to this date (an extension, or a shortening);
    - `terminate_on`: the last day of service; nothing is earned after it (point-in-time and milestone
      obligations not delivered by then are dropped);
    - `quantities`: {obligation id: new quantity} for ratable obligations (their SSP scales with it).

    What each obligation earned before `effective_date` stays; the unearned rest plus `price_change` is
    reallocated over what remains by remaining SSP. A closed month cannot be changed: the effective date
    must lie after the last closed month. Finance and admin."""
    from .models import PeriodClose

    require_revenue_user(actor)
    errors: list[FieldError] = []
    rc = _lock(revenue_contract)
    effective = parse_date(effective_date, "effective_date", errors)
    change = _parse_amount(price_change, "price_change", errors) or ZERO
    end = parse_date(new_end_date, "new_end_date", errors)
    stop = parse_date(terminate_on, "terminate_on", errors)
    text = (reason or "").strip() if isinstance(reason, str) else ""
    if not text:
        errors.append(FieldError("reason", _("Give a reason for the change."), "required"))
    elif len(text) > MAX_REASON:
        errors.append(FieldError("reason", _("At most %(n)s characters.") % {"n": MAX_REASON}, "max_length"))
    if effective is None and not any(e.field == "effective_date" for e in errors):
        errors.append(FieldError("effective_date", _("Give the day the change takes effect."), "required"))
    obligations = {o.pk: o for o in rc.obligations.all()}
    new_quantities = {}
    for key, value in (quantities or {}).items():
        o = obligations.get(int(key)) if str(key).isdigit() else None
        if o is None:
            errors.append(FieldError(f"quantities.{key}", _("No obligation %(id)s on this contract.") % {"id": key},
                                     "not_found"))
            continue
        if o.method != Method.RATABLE:
            errors.append(FieldError(f"quantities.{key}", _("Only a ratable obligation's quantity can change here."),
                                     "not_ratable"))
            continue
        qty = _parse_amount(value, f"quantities.{key}", errors, allow_negative=False)
        if qty is not None and qty <= 0:
            errors.append(FieldError(f"quantities.{key}", _("The quantity must be greater than zero."), "not_positive"))
        elif qty is not None:
            new_quantities[o.pk] = qty
    if change == 0 and end is None and stop is None and not new_quantities and not errors:
        errors.append(FieldError("price_change", _("Nothing to change: give a price change, a new end date, a "
                                                   "termination date or new quantities."), "nothing_to_change"))
    if effective is not None:
        last_closed = PeriodClose.last_closed_month()
        if last_closed is not None and effective <= engine.month_end(last_closed):
            errors.append(FieldError("effective_date", _(
                "%(month)s is closed: a change can take effect from %(day)s on (or reopen the month).")
                % {"month": last_closed.strftime("%Y-%m"),
                   "day": (engine.month_end(last_closed) + dt.timedelta(days=1)).isoformat()}, "period_closed"))
        if effective < rc.inception_date:
            errors.append(FieldError("effective_date", _("The change cannot take effect before the contract starts "
                                                         "(%(day)s).") % {"day": rc.inception_date.isoformat()},
                                     "before_inception"))
    if stop is not None and effective is not None and stop < effective - dt.timedelta(days=1):
        errors.append(FieldError("terminate_on", _("The last day of service cannot be before the day before the "
                                                   "change takes effect."), "invalid"))
    if end is not None:
        for o in obligations.values():
            if o.method == Method.RATABLE and end < o.start_date:
                errors.append(FieldError("new_end_date", _("The new end date is before the service starts (%(day)s).")
                                         % {"day": o.start_date.isoformat()}, "invalid"))
                break
    new_price = rc.transaction_price + change
    if new_price < 0:
        errors.append(FieldError("price_change", _("The transaction price cannot become negative."), "negative"))
    if errors:
        raise ValidationFailed(errors)
    if rc.status == RevenueContract.Status.TERMINATED:
        raise Conflict(_("The contract was terminated; it cannot change any more."), code="terminated")
    kind = ScheduleVersion.Kind.MODIFICATION
    # earned is measured on the current plan; the new dates and quantities apply after it
    for_earned = list(rc.obligations.order_by("position", "id"))
    earned_now = _earned_before(rc, for_earned, effective)
    staged = {}
    for o in obligations.values():
        if o.pk in new_quantities and o.quantity:
            staged[o.pk] = {"quantity": new_quantities[o.pk],
                            "ssp_amount": round_money(o.ssp_amount * new_quantities[o.pk] / o.quantity, rc.currency)}
        if end is not None and o.method == Method.RATABLE:
            staged.setdefault(o.pk, {})["end_date"] = end
            kind = ScheduleVersion.Kind.EXTENSION
        if stop is not None:
            staged.setdefault(o.pk, {})["ended_on"] = stop
            kind = ScheduleVersion.Kind.TERMINATION
    changes = {"effective_date": [None, effective.isoformat()], "reason": [None, text]}
    if change:
        changes["price_change"] = [None, str(change)]
    if end:
        changes["end_date"] = [None, end.isoformat()]
    if stop:
        changes["terminate_on"] = [None, stop.isoformat()]
    if new_quantities:
        changes["quantities"] = [None, {str(k): str(v) for k, v in new_quantities.items()}]
    version = _apply(rc, staged=staged, earned=earned_now, new_price=new_price, effective=effective, kind=kind,
                     reason=text, actor=actor, changes=changes)
    if stop is not None:
        rc.status = RevenueContract.Status.TERMINATED
        rc.save(update_fields=["status", "updated_at"])
    return version


def _no_negative(amounts: list[Decimal], currency: str) -> list[Decimal]:
    """No obligation is worth less than nothing: a price cut (or a credit) larger than what an obligation had
    left is taken from the others, in proportion to what they are worth (their earned part too: revenue
    already recognised on them is taken back at the next close). The total stays the same."""
    deficit = -sum((a for a in amounts if a < 0), ZERO)
    if not deficit:
        return amounts
    positive = [max(a, ZERO) for a in amounts]
    if not any(positive):
        return amounts
    cuts = engine.allocate(deficit, positive, currency)
    return [a - cut for a, cut in zip(positive, cuts, strict=True)]


def _apply(rc, *, staged: dict, earned: dict, new_price, effective, kind, reason, actor, changes,
           direct: dict | None = None) -> ScheduleVersion:
    """Write the staged obligation fields (dates, quantities, SSP), then reallocate."""
    for obligation_id, fields in staged.items():
        PerformanceObligation.objects.filter(pk=obligation_id).update(**fields)
    return _reallocate(rc, earned=earned, new_price=new_price, effective=effective, kind=kind, reason=reason,
                       actor=actor, changes=changes, direct=direct)


def first_open_day(day: dt.date) -> dt.date:
    """`day`, or the first day after the last closed month if `day` falls in a closed month."""
    from .models import PeriodClose

    last = PeriodClose.last_closed_month()
    if last is not None and day <= engine.month_end(last):
        return engine.month_end(last) + dt.timedelta(days=1)
    return day


def on_contract_terminated(name: str, payload: dict) -> None:
    """Subscriber of "contract.terminated": service stops after the termination day; what remains unearned of
    the price is earned at the end (a refund comes as a credit note, which lowers the price)."""
    from l2c.contracts.models import Contract

    contract = Contract.objects.filter(pk=payload.get("contract_id")).first()
    if contract is None or contract.terminated_on is None:
        return
    rc = RevenueContract.objects.filter(contract=contract).first() or register_contract(contract)
    if rc.status == RevenueContract.Status.TERMINATED:
        return
    effective = max(first_open_day(contract.terminated_on + dt.timedelta(days=1)), rc.inception_date)
    modify_contract(actor=None, revenue_contract=rc, effective_date=effective, terminate_on=contract.terminated_on,
                    reason=_("Contract terminated: %(reason)s") % {"reason": contract.termination_reason[:500]})


@transaction.atomic
def group_obligations(*, actor, revenue_contract, obligation_ids: list, method: str | None = None) -> PerformanceObligation:
    """Merge obligations that are not distinct (e.g. software and the customisation it needs) into one: its SSP
    and allocated price are the sums, it covers all their contract lines. Only before anything was recognised
    on them. `method` (default: the first one's) says how the merged obligation is satisfied; a ratable one runs
    over the earliest start to the latest end of the ratable ones."""
    from .models import Recognition

    require_revenue_user(actor)
    rc = _lock(revenue_contract)
    ids = []
    for value in obligation_ids or []:
        try:
            ids.append(int(value))
        except (TypeError, ValueError):
            raise ValidationFailed.single("obligation_ids", _("%(value)r is not an obligation id.") % {"value": value},
                                          "invalid") from None
    found = list(rc.obligations.filter(pk__in=ids).order_by("position", "id"))
    if len(set(ids)) < 2 or len(found) != len(set(ids)):
        raise ValidationFailed.single("obligation_ids", _("Name at least two obligations of this contract."),
                                      "too_few")
    if method not in (None, "", *Method.values):
        raise ValidationFailed.single("method", _("Choose one of: %(choices)s.") % {"choices": ", ".join(Method.values)},
                                      "invalid_choice")
    if Recognition.objects.filter(obligation__in=found, posting__reversed=False).exists():
        raise Conflict(_("Revenue was already recognised on these obligations: they can no longer be grouped."),
                       code="already_recognised")
    keep, rest = found[0], found[1:]
    keep.method = method or keep.method
    ratable = [o for o in found if o.start_date and o.end_date]
    if keep.method == Method.RATABLE:
        if not ratable:
            raise ValidationFailed.single("method", _("None of these obligations has a service period to spread "
                                                      "over."), "no_service_period")
        keep.start_date = min(o.start_date for o in ratable)
        keep.end_date = max(o.end_date for o in ratable)
    else:
        keep.start_date = keep.end_date = None
    keep.name = " + ".join(o.name for o in found)[:300]
    keep.ssp_amount = sum((o.ssp_amount for o in found), ZERO)
    keep.allocated_amount = sum((o.allocated_amount for o in found), ZERO)
    keep.quantity = sum((o.quantity for o in found), ZERO)
    keep.ssp_from_list_price = any(o.ssp_from_list_price for o in found)
    keep.save()
    ObligationLine.objects.filter(obligation__in=rest).update(obligation=keep)
    earned = {o.pk: ZERO for o in rc.obligations.all()}
    names = [o.name for o in found]
    version_plans_keep = [o.pk for o in rest]
    ScheduleLine.objects.filter(version__revenue_contract=rc, obligation_id__in=version_plans_keep).delete()
    PerformanceObligation.objects.filter(pk__in=version_plans_keep).delete()
    _apply(rc, staged={}, earned={k: v for k, v in earned.items() if k not in version_plans_keep},
           new_price=rc.transaction_price, effective=rc.inception_date, kind=ScheduleVersion.Kind.REGROUP,
           reason=_("Grouped: %(names)s") % {"names": "; ".join(names)}, actor=actor,
           changes={"grouped": [None, names]})
    keep.refresh_from_db()
    return keep


def on_credit_note_posted(name: str, payload: dict) -> None:
    """Subscriber of "credit_note.posted": the credited net lowers the contract's transaction price, taken from
    the credited lines' obligations (so credited revenue is never recognised; if they had earned more than
    is left, the next close takes the difference back)."""
    from l2c.billing.models import CreditNote

    note = CreditNote.objects.select_related("invoice").filter(pk=payload.get("credit_note_id")).first()
    if note is None or note.invoice.contract_id is None:
        return
    credit_note_applied(note)


@transaction.atomic
def credit_note_applied(note) -> ScheduleVersion | None:
    rc = RevenueContract.objects.select_for_update().filter(contract_id=note.invoice.contract_id).first()
    if rc is None:
        from l2c.contracts.models import Contract

        rc = register_contract(Contract.objects.get(pk=note.invoice.contract_id))
        rc = _lock(rc)
    if ScheduleVersion.objects.filter(revenue_contract=rc, kind=ScheduleVersion.Kind.CREDIT_NOTE,
                                      reason__startswith=f"{note.number}:").exists():
        return None  # delivered twice
    links = dict(ObligationLine.objects.filter(obligation__revenue_contract=rc).values_list("contract_line_id",
                                                                                             "obligation_id"))
    direct: dict[int, Decimal] = {}
    for contract_line_id, net in note.lines.values_list("invoice_line__contract_line_id", "net_amount"):
        obligation_id = links.get(contract_line_id)
        if obligation_id is not None:
            direct[obligation_id] = direct.get(obligation_id, ZERO) + net
    effective = max(first_open_day(note.issue_date), rc.inception_date)  # the credit counts from the open month
    # a credit by amount (not tied to lines) lowers the price and is spread like a price change
    obligations = list(rc.obligations.order_by("position", "id"))
    earned = _earned_before(rc, obligations, effective)
    return _apply(rc, staged={}, earned=earned, new_price=rc.transaction_price - note.net_total, effective=effective,
                  kind=ScheduleVersion.Kind.CREDIT_NOTE, reason=f"{note.number}: {_('credit note')}", actor=None,
                  changes={"credit_note": [None, note.number], "credited_net": [None, str(note.net_total)]},
                  direct=direct)
