"""Stage configuration: admins define the steps of the pipeline and what each one requires."""
from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from l2c.core import audit
from l2c.core.errors import Conflict, FieldError, ValidationFailed
from l2c.core.validation import as_id

from ..choices import DEFAULT_STAGES, STAGE_REQUIRABLE_FIELDS
from ..models import Opportunity, Stage
from ._common import check_lengths, parse_percent, raise_if, require_admin

STAGE_FIELDS = ("name", "order", "probability", "is_won", "is_lost", "required_fields", "is_active", "expected_days")


# PositiveIntegerField's range on every supported database; past it PostgreSQL refuses the row.
MAX_POSITIVE_INT = 2**31 - 1


def _validate(values: dict, *, stage: Stage | None) -> dict:
    errors: list[FieldError] = []
    unknown = set(values) - set(STAGE_FIELDS)
    for name in sorted(unknown):
        errors.append(FieldError(name, _("This field cannot be set on a stage."), "unknown_field"))
    if "name" in values:
        values["name"] = (values["name"] or "").strip()
        if not values["name"]:
            errors.append(FieldError("name", _("A stage name is required."), "required"))
        else:
            clash = Stage.objects.filter(name__iexact=values["name"])
            if stage is not None:
                clash = clash.exclude(pk=stage.pk)
            if clash.exists():
                errors.append(FieldError("name", _("A stage called %(name)s exists already.") % {"name": values["name"]},
                                         "unique"))
    check_lengths(Stage, values, errors)
    if "probability" in values:
        probability = parse_percent(values["probability"], "probability", errors)
        if probability is None and not any(e.field == "probability" for e in errors):
            errors.append(FieldError("probability", _("A default probability is required."), "required"))
        values["probability"] = probability
    if "order" in values:
        order = values["order"]
        if isinstance(order, bool) or not isinstance(order, int) or not 0 <= order <= MAX_POSITIVE_INT:
            errors.append(FieldError("order", _("Enter a whole number from 0 to %(max)d.") % {"max": MAX_POSITIVE_INT},
                                     "invalid"))
    if values.get("expected_days") is not None:
        days = values["expected_days"]
        if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= MAX_POSITIVE_INT:
            errors.append(FieldError("expected_days", _("Enter a whole number of days from 0 to %(max)d.")
                                     % {"max": MAX_POSITIVE_INT}, "invalid"))
    for flag in ("is_won", "is_lost", "is_active"):
        if flag in values and not isinstance(values[flag], bool):
            errors.append(FieldError(flag, _("Give true or false."), "invalid"))
    if "required_fields" in values:
        required = values["required_fields"] or []
        if not isinstance(required, list | tuple):
            errors.append(FieldError("required_fields", _("Give a list of field names."), "invalid"))
        else:
            bad = [f for f in required if f not in STAGE_REQUIRABLE_FIELDS]
            if bad:
                errors.append(FieldError(
                    "required_fields",
                    _("%(bad)s cannot be required; choose from %(allowed)s.")
                    % {"bad": ", ".join(map(str, bad)), "allowed": ", ".join(STAGE_REQUIRABLE_FIELDS)},
                    "invalid_choice"))
            # keep the configured order, drop duplicates
            values["required_fields"] = [f for f in STAGE_REQUIRABLE_FIELDS if f in required]
    is_won = values.get("is_won", stage.is_won if stage else False)
    is_lost = values.get("is_lost", stage.is_lost if stage else False)
    if is_won and is_lost:
        errors.append(FieldError("is_lost", _("A stage cannot be both won and lost."), "won_and_lost"))
    raise_if(errors)
    return values


@transaction.atomic
def stage_create(*, actor, name: str, probability: int, order: int | None = None, is_won: bool = False,
                 is_lost: bool = False, required_fields: list[str] | None = None, is_active: bool = True,
                 expected_days: int | None = None) -> Stage:
    require_admin(actor)
    values = _validate({"name": name, "probability": probability, "is_won": is_won, "is_lost": is_lost,
                        "required_fields": required_fields or [], "is_active": is_active,
                        "expected_days": expected_days, **({"order": order} if order is not None else {})},
                       stage=None)
    if "order" not in values:
        last = Stage.objects.order_by("-order").values_list("order", flat=True).first()
        values["order"] = (last or 0) + 10
    stage = Stage.objects.create(**values)
    audit.record(actor=actor, action=audit.Action.CREATE, instance=stage)
    return stage


@transaction.atomic
def stage_update(*, stage: Stage, actor, **fields) -> Stage:
    require_admin(actor)
    stage = Stage.objects.select_for_update().get(pk=stage.pk)
    values = _validate(dict(fields), stage=stage)
    if values.get("is_active") is False and stage.is_active:
        in_use = Opportunity.objects.filter(stage=stage, closed_at__isnull=True).count()
        if in_use:
            raise Conflict(_("%(n)d open opportunities are in this stage; move them before deactivating it.")
                           % {"n": in_use}, code="stage_in_use", field="is_active")
        if not Stage.objects.filter(is_active=True, is_won=False, is_lost=False).exclude(pk=stage.pk).exists():
            raise Conflict(_("The pipeline needs at least one active open stage."), code="last_open_stage",
                           field="is_active")
    before = audit.snapshot(stage)
    for name, value in values.items():
        setattr(stage, name, value)
    stage.save()
    audit.record(actor=actor, action=audit.Action.UPDATE, instance=stage, before=before)
    return stage


@transaction.atomic
def stage_reorder(*, actor, stage_ids: list[int]) -> list[Stage]:
    """Put the stages in the given order; stages not listed keep their relative order after them."""
    require_admin(actor)
    stages = {s.pk: s for s in Stage.objects.select_for_update().order_by("order", "id")}
    ids: list[int] = []
    for raw in stage_ids:
        pk = as_id(raw)
        if pk not in stages:
            raise ValidationFailed.single("stage_ids", _("No stage with id %(id)s.") % {"id": raw}, "not_found")
        if pk in ids:
            raise ValidationFailed.single("stage_ids", _("Stage %(id)s is listed twice.") % {"id": raw}, "duplicate")
        ids.append(pk)
    ids += [pk for pk in stages if pk not in ids]
    result = []
    for index, pk in enumerate(ids, start=1):
        stage = stages[pk]
        new_order = index * 10
        if stage.order != new_order:
            before = audit.snapshot(stage)
            stage.order = new_order
            stage.save(update_fields=["order", "updated_at"])
            audit.record(actor=actor, action=audit.Action.UPDATE, instance=stage, before=before)
        result.append(stage)
    return result


@transaction.atomic
def stage_move(*, stage: Stage, actor, direction: str) -> list[Stage]:
    """Swap a stage with its neighbour ("up" or "down"), for the settings page buttons."""
    require_admin(actor)
    ids = list(Stage.objects.order_by("order", "id").values_list("pk", flat=True))
    index = ids.index(stage.pk)
    other = index - 1 if direction == "up" else index + 1
    if 0 <= other < len(ids):
        ids[index], ids[other] = ids[other], ids[index]
    return stage_reorder(actor=actor, stage_ids=ids)


def ensure_default_stages() -> list[Stage]:
    """Create the default stages when there are none (idempotent; the data migration does the same)."""
    if not Stage.objects.exists():
        with transaction.atomic():
            for spec in DEFAULT_STAGES:
                stage = Stage.objects.create(**spec)
                audit.record(actor=None, action=audit.Action.CREATE, instance=stage)
    return list(Stage.objects.order_by("order", "id"))
