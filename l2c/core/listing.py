"""Search and sort for list selectors, shared so every list (UI, API, export) behaves the same.

`search(qs, q, fields)`: every word of `q` must match at least one of `fields` (icontains).
`order(qs, ordering, allowed, default)`: `ordering` is a key of `allowed` with an optional "-";
anything else is a `ValidationFailed` on the `ordering` field. A stable tie-breaker on id is added
so pagination never repeats or skips rows.
"""
from __future__ import annotations

from functools import reduce
from operator import or_

from django.db.models import F, Q, QuerySet
from django.utils.translation import gettext as _

from .errors import ValidationFailed

MAX_SEARCH_WORDS = 6


def search(qs: QuerySet, q: str | None, fields: tuple[str, ...]) -> QuerySet:
    words = (q or "").split()[:MAX_SEARCH_WORDS]
    for word in words:
        qs = qs.filter(reduce(or_, (Q(**{f"{field}__icontains": word}) for field in fields)))
    return qs


def ordering_choices(allowed: dict[str, tuple[str, ...]]) -> list[str]:
    """Every accepted `ordering` value: each key, ascending and descending."""
    return [v for key in allowed for v in (key, f"-{key}")]


def order(qs: QuerySet, ordering: str | None, allowed: dict[str, tuple[str, ...]], default: str) -> QuerySet:
    ordering = (ordering or "").strip() or default
    descending = ordering.startswith("-")
    key = ordering.lstrip("-")
    if key not in allowed:
        raise ValidationFailed.single(
            "ordering",
            _("Cannot sort by %(value)r; use one of %(allowed)s (prefix - for descending).")
            % {"value": ordering, "allowed": ", ".join(allowed)},
            "invalid_ordering",
        )
    expressions = [
        F(field).desc(nulls_last=True) if descending else F(field).asc(nulls_last=True)
        for field in allowed[key]
    ]
    expressions.append(F("id").desc() if descending else F("id").asc())
    return qs.order_by(*expressions)
