"""Checks shared by the pipeline services: field lengths, owners, visibility."""
from __future__ import annotations

from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import models
from django.utils.translation import gettext as _

from l2c.core.errors import FieldError, NotFound, PermissionDenied, ValidationFailed
from l2c.core.validation import as_id, check_amount, check_max_lengths, check_owner
from l2c.core.visibility import Role

SALES_ROLES = (Role.ADMIN, Role.MANAGER, Role.REP)


def require_sales(actor) -> None:
    """Pipeline writes are for the sales roles; finance reads customers only."""
    if actor is None:
        return  # system work (demo data, imports)
    if not (getattr(actor, "role", None) in SALES_ROLES or getattr(actor, "is_superuser", False)):
        raise PermissionDenied(_("Your role cannot change the sales pipeline."))


def require_admin(actor) -> None:
    if actor is not None and not getattr(actor, "is_admin", False):
        raise PermissionDenied(_("Only an admin can configure the pipeline stages."))


def visible_or_404(model, pk, actor, label: str):
    """The record if the actor may see it; a missing and a hidden record look the same."""
    qs = model.objects.all() if actor is None else model.objects.restrict(actor)
    obj = qs.filter(pk=getattr(pk, "pk", pk)).first()
    if obj is None:
        raise NotFound(_("No %(label)s with id %(id)s.") % {"label": label, "id": getattr(pk, "pk", pk)})
    return obj


def visible_or_field_error(model, value, actor, field: str, label: str, errors: list[FieldError]):
    """Resolve a foreign key given by id or instance; unknown or hidden ids become a field error."""
    if value in (None, ""):
        return None
    pk = getattr(value, "pk", value)
    qs = model.objects.all() if actor is None else model.objects.restrict(actor)
    obj = qs.filter(pk=as_id(pk)).first() if as_id(pk) is not None else None
    if obj is None:
        errors.append(FieldError(field, _("No %(label)s with id %(id)s.") % {"label": label, "id": pk}, "not_found"))
    return obj


def check_lengths(model: type[models.Model], values: dict, errors: list[FieldError]) -> None:
    """Over-long text is refused with the field's limit, never truncated."""
    errors.extend(check_max_lengths(model, values))


def clean_text(values: dict, names) -> None:
    for name in names:
        if name in values and values[name] is None:
            values[name] = ""
        if isinstance(values.get(name), str):
            values[name] = values[name].strip()


def parse_decimal(value, field: str, errors: list[FieldError]) -> Decimal | None:
    """A non-negative amount with at most 2 decimals (core.validation.check_amount), or None when empty."""
    if value is None or value == "":
        return None
    values = {field: value}
    problems = check_amount(values, field)
    errors.extend(problems)
    return None if problems else values[field]


def parse_percent(value, field: str, errors: list[FieldError]) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().lstrip("-").isascii() and value.strip().lstrip("-").isdigit():
        number = int(value.strip())
    else:
        errors.append(FieldError(field, _("Enter a whole number from 0 to 100."), "invalid"))
        return None
    if not 0 <= number <= 100:
        errors.append(FieldError(field, _("Must be between 0 and 100."), "out_of_range"))
        return None
    return number


def resolve_owner(value, actor, errors: list[FieldError], field: str = "owner"):
    """The user a record is assigned to, by id or instance (empty: the actor); rules in core.validation."""
    if value in (None, ""):
        return actor
    User = get_user_model()
    pk = getattr(value, "pk", value)
    owner = User.objects.filter(pk=as_id(pk)).first() if as_id(pk) is not None else None
    if owner is None:
        errors.append(FieldError(field, _("No user with id %(id)s.") % {"id": pk}, "not_found"))
        return None
    problems = check_owner(owner, actor, field)
    errors.extend(problems)
    return None if problems else owner


def raise_if(errors: list[FieldError]) -> None:
    if errors:
        raise ValidationFailed(errors)
