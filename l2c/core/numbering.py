"""Gapless document numbers per series and year: QUO-2026-000123, CTR-2026-000007, INV-2026-000123.

`next_number` must run inside the transaction that stores the numbered document: it locks the
series' row (SELECT … FOR UPDATE on PostgreSQL; SQLite holds the database write lock), so concurrent
callers queue, and a rollback returns the number. Numbers are therefore unique and without gaps.
"""
from __future__ import annotations

from django.db import IntegrityError, transaction

from .models import NumberSequence


def next_value(series: str, year: int) -> int:
    return next_values(series, year, 1)[0]


def next_values(series: str, year: int, count: int) -> range:
    """`count` consecutive values of the series in one step (one row lock, one update): the block a bulk
    run numbers its documents from, in the order it stores them. Same rules as `next_number`."""
    if count < 1:
        raise ValueError("count must be at least 1")
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("next_number must run inside the transaction that stores the document")
    seq = NumberSequence.objects.select_for_update().filter(series=series, year=year).first()
    if seq is None:
        try:
            with transaction.atomic():
                NumberSequence.objects.create(series=series, year=year, last_value=0)
        except IntegrityError:  # another transaction created it first
            pass
        seq = NumberSequence.objects.select_for_update().get(series=series, year=year)
    first = seq.last_value + 1
    seq.last_value += count
    NumberSequence.objects.filter(pk=seq.pk).update(last_value=seq.last_value)
    return range(first, seq.last_value + 1)


def format_number(series: str, year: int, value: int, width: int = 6) -> str:
    return f"{series}-{year}-{value:0{width}d}"


def next_number(series: str, year: int, width: int = 6) -> str:
    """The next number of the series in that year, e.g. next_number("INV", 2026) → "INV-2026-000124"."""
    return format_number(series, year, next_value(series, year), width)
