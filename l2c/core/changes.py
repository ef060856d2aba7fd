"""Rows changed in bulk, without `save()`: a signal for the apps that keep figures derived from them.

`Model.objects.filter(...).update(...)`, `bulk_update` and COPY send no `post_save`. A service that changes
rows that way calls `announce(Model, pks)` in its transaction, so a subscriber (analytics keeps a per-lead
summary of the lead-to-cash flow) can mark what it derived from them as stale in that same transaction.
Subscribers connect to `rows_changed` (sender: the model class, `pks`: the primary keys).
"""
from __future__ import annotations

from collections.abc import Iterable

from django.dispatch import Signal

rows_changed = Signal()


def announce(model, pks: Iterable) -> None:
    pks = [pk for pk in pks if pk is not None]
    if pks:
        rows_changed.send(sender=model, pks=pks)


def announce_range(model, first: int, last: int) -> None:
    """Rows with primary keys from `first` to `last` (inclusive) changed or were created (a bulk insert of a
    block of ids): one message for any number of rows. Subscribers get `pk_range=(first, last)`, `pks=None`."""
    if first is not None and last is not None and first <= last:
        rows_changed.send(sender=model, pks=None, pk_range=(first, last))
