"""Opportunities: create, edit, and the one service through which every stage change goes."""
from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from l2c.core import audit, events
from l2c.core.errors import FieldError, NotFound, ValidationFailed
from l2c.core.validation import as_id, is_iso_currency, parse_date

from ..choices import ForecastCategory
from ..models import Opportunity, Stage, StageHistory
from ._common import (
    check_lengths,
    clean_text,
    parse_decimal,
    parse_percent,
    raise_if,
    require_sales,
    resolve_owner,
    visible_or_404,
    visible_or_field_error,
)

TEXT_FIELDS = ("name", "next_step", "budget", "authority", "need", "timeline", "lost_reason", "competitor",
               "description", "source")
# What a person may change with opportunity_update (and alongside a move).
EDITABLE_FIELDS = ("name", "account", "contact", "owner", "amount", "currency", "expected_close_date",
                   "probability", "forecast_category", "next_step", "budget", "authority", "need", "timeline",
                   "lost_reason", "competitor", "description")
# Set once, when the opportunity is created (conversion keeps where the deal came from).
ORIGIN_FIELDS = ("lead", "source", "campaign")


def _is_empty(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def field_label(name: str) -> str:
    return str(Opportunity._meta.get_field(name).verbose_name)


def missing_for_stage(opportunity: Opportunity, stage: Stage) -> list[FieldError]:
    """The fields the stage requires that the opportunity has not filled, with a message per field."""
    required = list(stage.required_fields or [])
    if stage.is_lost and "lost_reason" not in required:
        required.append("lost_reason")
    errors = []
    for name in required:
        if _is_empty(getattr(opportunity, name if name != "contact" else "contact_id", None)):
            errors.append(FieldError(
                name,
                _("%(field)s is required to enter the stage %(stage)s.") % {"field": field_label(name).capitalize(),
                                                                           "stage": stage.name},
                "required_for_stage"))
    return errors


def _clean(values: dict, *, opportunity: Opportunity | None, actor, allowed: tuple[str, ...]) -> dict:
    """Validate given values; returns model attributes to set. Raises ValidationFailed listing every problem."""
    errors: list[FieldError] = []
    for name in sorted(set(values) - set(allowed)):
        code = "read_only" if name in ("stage", "stage_id") else "unknown_field"
        message = (_("Change the stage with the move action.") if code == "read_only"
                   else _("This field cannot be set here."))
        errors.append(FieldError(name, message, code))
    values = {k: v for k, v in values.items() if k in allowed}
    clean_text(values, [f for f in TEXT_FIELDS if f in values])
    check_lengths(Opportunity, values, errors)
    out: dict = {}
    for name in TEXT_FIELDS:
        if name in values:
            out[name] = values[name]
    if "name" in values and not values["name"]:
        errors.append(FieldError("name", _("A name is required."), "required"))
    if "account" in values:
        if _is_empty(values["account"]):
            errors.append(FieldError("account", _("An account is required."), "required"))
        else:
            from l2c.customers.models import Account

            out["account"] = visible_or_field_error(Account, values["account"], actor, "account", _("account"), errors)
    if "contact" in values:
        from l2c.customers.models import Contact

        out["contact"] = visible_or_field_error(Contact, values["contact"], actor, "contact", _("contact"), errors)
    if "owner" in values:
        out["owner"] = resolve_owner(values["owner"], actor, errors)
    if "amount" in values:
        out["amount"] = parse_decimal(values["amount"], "amount", errors)
    if "currency" in values:
        currency = (values["currency"] or "").strip().upper() if isinstance(values["currency"], str) else values["currency"]
        if not isinstance(currency, str) or not is_iso_currency(currency):
            errors.append(FieldError("currency", _("Enter a 3-letter ISO 4217 currency code, e.g. USD."), "invalid"))
        out["currency"] = currency
    if "expected_close_date" in values:
        out["expected_close_date"] = parse_date(values["expected_close_date"], "expected_close_date", errors)
    if "probability" in values:
        out["probability"] = parse_percent(values["probability"], "probability", errors)
        if out["probability"] is None and not any(e.field == "probability" for e in errors):
            del out["probability"]
    if "forecast_category" in values:
        category = values["forecast_category"]
        if category not in ForecastCategory.values:
            errors.append(FieldError("forecast_category", _("Choose one of %(c)s.")
                                     % {"c": ", ".join(ForecastCategory.values)}, "invalid_choice"))
        out["forecast_category"] = category
    if "lead" in values and values["lead"] is not None:
        from l2c.leads.models import Lead

        out["lead"] = visible_or_field_error(Lead, values["lead"], actor, "lead", _("lead"), errors)
    if "campaign" in values and values["campaign"] is not None:
        from l2c.leads.models import Campaign

        out["campaign"] = visible_or_field_error(Campaign, values["campaign"], actor, "campaign", _("campaign"), errors)
    # the contact must work at the opportunity's account
    account = out.get("account", opportunity.account if opportunity is not None and opportunity.account_id else None)
    contact = out.get("contact", opportunity.contact if opportunity is not None else None)
    if contact is not None and account is not None and contact.account_id != account.pk:
        errors.append(FieldError("contact", _("%(contact)s does not belong to the account %(account)s.")
                                 % {"contact": contact, "account": account}, "wrong_account"))
    raise_if(errors)
    return out


def _check_closed_rules(opportunity: Opportunity, stage: Stage, changed: dict) -> list[FieldError]:
    errors = []
    if stage.is_closed:
        if "probability" in changed and changed["probability"] != stage.probability:
            errors.append(FieldError("probability", _("A closed opportunity keeps its stage's probability."),
                                     "closed"))
        expected = ForecastCategory.CLOSED if stage.is_won else ForecastCategory.OMITTED
        if "forecast_category" in changed and changed["forecast_category"] != expected:
            errors.append(FieldError("forecast_category", _("A closed opportunity's forecast category follows its "
                                                            "stage."), "closed"))
    elif changed.get("forecast_category") == ForecastCategory.CLOSED:
        errors.append(FieldError("forecast_category", _("Only a won opportunity is in the Closed category."),
                                 "invalid_choice"))
    return errors


def _enter_stage(opportunity: Opportunity, stage: Stage, *, actor, now, from_stage: Stage | None) -> None:
    """Set what a stage decides, close the current stay and open a new one."""
    opportunity.stage = stage
    opportunity.stage_entered_at = now
    opportunity.probability = stage.probability
    if stage.is_won:
        opportunity.forecast_category = ForecastCategory.CLOSED
        opportunity.closed_at = now
    elif stage.is_lost:
        opportunity.forecast_category = ForecastCategory.OMITTED
        opportunity.closed_at = now
    else:
        if opportunity.closed_at is not None or opportunity.forecast_category == ForecastCategory.CLOSED:
            opportunity.forecast_category = ForecastCategory.PIPELINE  # reopened
        opportunity.closed_at = None
    if opportunity.pk:
        StageHistory.objects.filter(opportunity=opportunity, left_at__isnull=True).update(left_at=now)


def _open_stay(opportunity: Opportunity, *, actor, now, from_stage: Stage | None) -> StageHistory:
    return StageHistory.objects.create(
        opportunity=opportunity, stage=opportunity.stage, from_stage=from_stage, entered_at=now,
        moved_by=actor if getattr(actor, "pk", None) else None, amount=opportunity.amount,
        probability=opportunity.probability,
    )


def first_stage() -> Stage:
    stage = Stage.objects.filter(is_active=True, is_won=False, is_lost=False).order_by("order", "id").first()
    if stage is None:
        raise ValidationFailed.single("stage", _("No active open stage is configured; an admin must add one."),
                                      "no_stage")
    return stage


def _event_payload(opportunity: Opportunity, actor, **extra) -> dict:
    return {
        "opportunity_id": opportunity.pk, "account_id": opportunity.account_id, "owner_id": opportunity.owner_id,
        "stage_id": opportunity.stage_id, "amount": None if opportunity.amount is None else str(opportunity.amount),
        "currency": opportunity.currency, "actor_id": getattr(actor, "pk", None), **extra,
    }


@transaction.atomic
def opportunity_create(*, actor, name: str, account, stage: Stage | int | None = None, **fields) -> Opportunity:
    """Create an opportunity in the first active stage (or the one given) and open its first stage stay."""
    require_sales(actor)
    values = _clean({"name": name, "account": account, **fields}, opportunity=None, actor=actor,
                    allowed=EDITABLE_FIELDS + ORIGIN_FIELDS)
    if stage is None or stage == "":
        target = first_stage()
    else:
        target = Stage.objects.filter(pk=getattr(stage, "pk", stage), is_active=True).first() \
            if as_id(getattr(stage, "pk", stage)) is not None else None
        if target is None:
            raise ValidationFailed.single("stage", _("No active stage with id %(id)s.") % {"id": getattr(stage, "pk", stage)},
                                          "not_found")
    values.setdefault("owner", actor)
    opportunity = Opportunity(**{k: v for k, v in values.items()})
    if not opportunity.currency:
        from django.conf import settings

        opportunity.currency = settings.L2C_COMPANY_CURRENCY
    errors = _check_closed_rules(opportunity, target, values)
    errors += missing_for_stage(opportunity, target)
    raise_if(errors)
    now = timezone.now()
    chosen_probability = values.get("probability")
    _enter_stage(opportunity, target, actor=actor, now=now, from_stage=None)
    if chosen_probability is not None and not target.is_closed:
        opportunity.probability = chosen_probability
    if values.get("forecast_category") and not target.is_closed:
        opportunity.forecast_category = values["forecast_category"]
    opportunity.save()
    _open_stay(opportunity, actor=actor, now=now, from_stage=None)
    audit.record(actor=actor, action=audit.Action.CREATE, instance=opportunity)
    events.publish("opportunity.created", _event_payload(opportunity, actor))
    return opportunity


@transaction.atomic
def opportunity_update(*, opportunity: Opportunity, actor, **fields) -> Opportunity:
    """Change an opportunity's fields (not its stage: that is `opportunity_move`)."""
    require_sales(actor)
    opportunity = _lock(opportunity, actor)
    values = _clean(fields, opportunity=opportunity, actor=actor, allowed=EDITABLE_FIELDS)
    before = audit.snapshot(opportunity)
    for name, value in values.items():
        setattr(opportunity, name, value)
    errors = _check_closed_rules(opportunity, opportunity.stage, values)
    # a field the current stage requires cannot be emptied while the deal is in that stage
    for err in missing_for_stage(opportunity, opportunity.stage):
        if err.field in values:
            errors.append(FieldError(err.field, _("%(field)s is required while the opportunity is in %(stage)s.")
                                     % {"field": field_label(err.field).capitalize(), "stage": opportunity.stage.name},
                                     "required_for_stage"))
    raise_if(errors)
    opportunity.save()
    audit.record(actor=actor, action=audit.Action.UPDATE, instance=opportunity, before=before)
    return opportunity


def _lock(opportunity: Opportunity, actor) -> Opportunity:
    # check visibility first, then lock only the opportunity row (not the joined owner rows)
    visible_or_404(Opportunity, opportunity.pk, actor, _("opportunity"))
    locked = Opportunity.objects.select_for_update().filter(pk=opportunity.pk).values_list("pk", flat=True).first()
    if locked is None:
        raise NotFound(_("No opportunity with id %(id)s.") % {"id": opportunity.pk})
    return Opportunity.objects.select_related("stage", "account", "contact").get(pk=locked)


@transaction.atomic
def opportunity_move(*, opportunity: Opportunity, stage: Stage | int, actor, fields: dict | None = None) -> Opportunity:
    """Move an opportunity to another stage: the only way its stage changes.

    Applies `fields` first (e.g. the lost reason given with the move), checks what the target
    stage requires, sets probability, forecast category and closed_at from the stage, closes the
    current stage stay and opens a new one, audits the transition and publishes the events.
    """
    require_sales(actor)
    stage_pk = getattr(stage, "pk", stage)
    target = Stage.objects.filter(pk=stage_pk).first() if as_id(stage_pk) is not None else None
    if target is None or not target.is_active:
        raise ValidationFailed.single("stage_id", _("No active stage with id %(id)s.") % {"id": stage_pk}, "not_found")
    opportunity = _lock(opportunity, actor)
    fields = dict(fields or {})
    if opportunity.stage_id == target.pk:
        if fields:  # same stage with edits: an ordinary update
            return opportunity_update(opportunity=opportunity, actor=actor, **fields)
        return opportunity  # nothing to do, and nothing to complain about
    values = _clean(fields, opportunity=opportunity, actor=actor, allowed=EDITABLE_FIELDS)
    before = audit.snapshot(opportunity)
    from_stage = opportunity.stage
    for name, value in values.items():
        setattr(opportunity, name, value)
    errors = missing_for_stage(opportunity, target)
    if errors:
        raise ValidationFailed(errors, message=_("%(stage)s needs: %(fields)s.") % {
            "stage": target.name, "fields": ", ".join(field_label(e.field) for e in errors)})
    now = timezone.now()
    _enter_stage(opportunity, target, actor=actor, now=now, from_stage=from_stage)
    opportunity.save()
    _open_stay(opportunity, actor=actor, now=now, from_stage=from_stage)
    changes = audit.diff(before, audit.snapshot(opportunity))
    changes.pop("stage_entered_at", None)
    changes["stage"] = [from_stage.pk, target.pk]  # ids, like every foreign key in the trail
    audit.record(actor=actor, action=audit.Action.TRANSITION, instance=opportunity, changes=changes)
    payload = _event_payload(opportunity, actor, from_stage_id=from_stage.pk, to_stage_id=target.pk)
    events.publish("opportunity.stage_changed", payload)
    if target.is_won:
        events.publish("opportunity.won", payload)
    elif target.is_lost:
        events.publish("opportunity.lost", {**payload, "lost_reason": opportunity.lost_reason})
    return opportunity
