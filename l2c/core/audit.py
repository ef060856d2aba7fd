"""The audit trail: append-only and hash-chained.

Each event stores the hash of the previous one; `verify_chain` recomputes every hash in id order
and names the first event that was edited, deleted or reordered. Services call `record` (or
`record_many` for bulk work) inside their transaction, so the event commits with the change.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from django.db import models, transaction
from django.utils import timezone

from .models import AuditChainHead, AuditEvent

GENESIS = "0" * 64
SENSITIVE_FIELDS = {"password", "token_hash", "last_login"}
Action = AuditEvent.Action


def _normalise(value):
    """A JSON-native form of a field value, stable across databases."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dt.datetime):
        if timezone.is_aware(value):
            value = value.astimezone(dt.UTC)
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, dict):
        return {str(k): _normalise(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_normalise(v) for v in value]
    return str(value)


def snapshot(instance: models.Model, fields: Iterable[str] | None = None) -> dict:
    """Concrete field values of a record (FKs as ids), for a before/after diff."""
    data = {}
    for field in instance._meta.concrete_fields:
        if fields is not None and field.name not in fields:
            continue
        if field.name in {"created_at", "updated_at"} or field.name in SENSITIVE_FIELDS:
            continue
        data[field.name] = _normalise(getattr(instance, field.attname))
    return data


def diff(before: dict, after: dict) -> dict:
    keys = sorted(set(before) | set(after))
    return {k: [before.get(k), after.get(k)] for k in keys if before.get(k) != after.get(k)}


def _compute_hash(prev_hash: str, *, occurred_at, actor_id, actor_label, action, object_type,
                  object_id, object_repr, changes) -> str:
    payload = json.dumps(
        {
            "prev": prev_hash,
            "at": _normalise(occurred_at),
            "actor": actor_id,
            "actor_label": actor_label,
            "action": action,
            "type": object_type,
            "id": str(object_id),
            "repr": object_repr,
            "changes": _normalise(changes),
        },
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def event_hash(event: AuditEvent) -> str:
    return _compute_hash(
        event.prev_hash, occurred_at=event.occurred_at, actor_id=event.actor_id,
        actor_label=event.actor_label, action=event.action, object_type=event.object_type,
        object_id=event.object_id, object_repr=event.object_repr, changes=event.changes,
    )


def object_type_of(instance_or_model) -> str:
    meta = instance_or_model._meta
    return f"{meta.app_label}.{meta.model_name}"


@dataclass
class PendingEvent:
    action: str
    object_type: str
    object_id: str
    object_repr: str = ""
    changes: dict | None = None


def _lock_head() -> AuditChainHead:
    head = AuditChainHead.objects.select_for_update().filter(pk=1).first()
    if head is None:
        AuditChainHead.objects.get_or_create(pk=1)
        head = AuditChainHead.objects.select_for_update().get(pk=1)
    return head


def record_many(events: list[PendingEvent], *, actor=None) -> list[AuditEvent]:
    """Append events to the chain in one go (bulk imports, demo data)."""
    if not events:
        return []
    with transaction.atomic():
        head = _lock_head()
        now = timezone.now()
        actor_id = getattr(actor, "pk", None)
        actor_label = getattr(actor, "username", "") if actor is not None else "system"
        prev = head.last_hash
        rows = []
        for pending in events:
            changes = _normalise(pending.changes or {})
            row = AuditEvent(
                occurred_at=now, actor_id=actor_id, actor_label=actor_label, action=pending.action,
                object_type=pending.object_type, object_id=str(pending.object_id),
                object_repr=(pending.object_repr or "")[:200], changes=changes, prev_hash=prev,
            )
            row.hash = event_hash(row)
            prev = row.hash
            rows.append(row)
        created = AuditEvent.objects.bulk_create(rows, batch_size=2000)
        last_id = created[-1].pk
        if last_id is None:  # backends without RETURNING on bulk insert
            last_id = AuditEvent.objects.filter(hash=prev).values_list("pk", flat=True).get()
        head.last_hash = prev
        head.last_event_id = last_id
        head.save(update_fields=["last_hash", "last_event_id"])
        return created


def record(*, actor, action: str, instance: models.Model, before: dict | None = None,
           changes: dict | None = None) -> AuditEvent | None:
    """Record one event for `instance`.

    For an update pass the `before` snapshot; the diff against the record's current values is
    stored. An update that changed nothing records nothing. `changes` may be given directly
    (e.g. for a transition's from/to).
    """
    if changes is None:
        after = snapshot(instance)
        if action == Action.CREATE:
            changes = {k: [None, v] for k, v in after.items() if v not in (None, "", [], {})}
        elif before is not None:
            changes = diff(before, after)
            if not changes and action == Action.UPDATE:
                return None
        else:
            changes = {}
    pending = PendingEvent(
        action=action, object_type=object_type_of(instance), object_id=str(instance.pk),
        object_repr=str(instance)[:200], changes=changes,
    )
    return record_many([pending], actor=actor)[0]


def history_for(instance: models.Model):
    """Events of one record, newest first (for its page)."""
    return (
        AuditEvent.objects.filter(object_type=object_type_of(instance), object_id=str(instance.pk))
        .order_by("-id")
    )


@dataclass
class ChainProblem:
    event_id: int | None
    reason: str

    def __str__(self) -> str:
        where = f"event #{self.event_id}" if self.event_id is not None else "chain head"
        return f"{where}: {self.reason}"


def iter_problems(batch_size: int = 5000) -> Iterator[ChainProblem]:
    """Walk the chain in id order; yield the first problem found (then stop)."""
    prev_hash = GENESIS
    last_id = 0
    count = 0
    qs = AuditEvent.objects.order_by("id")
    for event in qs.iterator(chunk_size=batch_size):
        if event.prev_hash != prev_hash:
            yield ChainProblem(
                event.pk,
                "its link to the previous event is broken (an earlier event was deleted, "
                "inserted or reordered)",
            )
            return
        if event_hash(event) != event.hash:
            yield ChainProblem(event.pk, "its content does not match its hash (the event was edited)")
            return
        prev_hash = event.hash
        last_id = event.pk
        count += 1
    head = AuditChainHead.objects.filter(pk=1).first()
    if head is not None and (head.last_hash != prev_hash or (count and head.last_event_id != last_id)):
        yield ChainProblem(
            head.last_event_id or None,
            "the chain ends early: the most recent events were deleted",
        )


def verify_chain() -> tuple[int, ChainProblem | None]:
    """(number of events checked, first problem or None)."""
    problem = next(iter_problems(), None)
    return AuditEvent.objects.count(), problem
