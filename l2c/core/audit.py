"""The audit trail: append-only and hash-chained, sealed after commit.

Services call `record` (or `record_many` for bulk work) inside their transaction, so the event commits
with the change. The event is inserted without its chain fields, so no audited write waits for another.
Right after the commit `seal_pending` chains the committed events in order under one short lock: each
gets `chain_seq` (its place), the previous event's hash and its own hash, which covers its content and
place. If that fails (a crash between commit and seal), the beat job (every minute) or `verify_chain`
seals the leftovers. `verify_chain` walks the chain by `chain_seq` and names the first event that was
edited, deleted, inserted or reordered, and any event left unsealed for more than STALE_AFTER.
On PostgreSQL a trigger (core.signals) refuses any change of a sealed row and anything but the sealing
of an unsealed one.
"""
from __future__ import annotations

import contextvars
import datetime as dt
import hashlib
import json
import logging
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal

from django.db import models, transaction
from django.db.models import Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from .models import AuditChainHead, AuditEvent

log = logging.getLogger(__name__)

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
                  object_id, object_repr, changes, chain_seq: int | None = None, stored: bool = False) -> str:
    """`stored`: `changes` as read back from the database (JSON-native already, so not normalised again)."""
    payload = {
        "prev": prev_hash,
        "at": _normalise(occurred_at),
        "actor": actor_id,
        "actor_label": actor_label,
        "action": action,
        "type": object_type,
        "id": str(object_id),
        "repr": object_repr,
        "changes": changes if stored else _normalise(changes),
    }
    if chain_seq is not None:  # None only for legacy events, chained before chain_seq existed
        payload["seq"] = chain_seq
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def event_hash(event: AuditEvent, *, legacy: bool = False) -> str:
    """The hash a sealed event must carry: its content, its place (`chain_seq`) and the previous hash.

    `legacy`: the event was chained before chain_seq existed (AuditChainHead.legacy_seq), so its hash
    does not cover it."""
    return _compute_hash(
        event.prev_hash, occurred_at=event.occurred_at, actor_id=event.actor_id,
        actor_label=event.actor_label, action=event.action, object_type=event.object_type,
        object_id=event.object_id, object_repr=event.object_repr, changes=event.changes,
        chain_seq=None if legacy else event.chain_seq,
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


# --- writing: unsealed, inside the caller's transaction -------------------------------------------------

def record_many(events: list[PendingEvent], *, actor=None, actor_label: str | None = None) -> list[AuditEvent]:
    """Add events to the trail in one go (bulk imports, demo data).

    The events are inserted in the caller's transaction without their chain fields (no lock is taken),
    and sealed into the chain right after that transaction commits. `actor_label` names a system actor
    (actor=None), e.g. "web form Contact us"; default "system"."""
    if not events:
        return []
    now = timezone.now()
    actor_id = getattr(actor, "pk", None)
    if actor is not None:
        actor_label = getattr(actor, "username", "")
    else:
        actor_label = (actor_label or "system")[:150]
    rows = [
        AuditEvent(
            occurred_at=now, actor_id=actor_id, actor_label=actor_label, action=pending.action,
            object_type=pending.object_type, object_id=str(pending.object_id),
            object_repr=(pending.object_repr or "")[:200], changes=_normalise(pending.changes or {}),
        )
        for pending in events
    ]
    created = AuditEvent.objects.bulk_create(rows, batch_size=2000)
    _seal_after_commit()
    if _CHANGE_LISTENERS:
        _notify_change_listeners(created)
    return created


# --- change listeners (workflow automation's "field changed" trigger) ----------------------------------

_CHANGE_LISTENERS: dict[str, list] = {}
_LISTENED_ACTIONS = (Action.UPDATE, Action.TRANSITION)


def add_change_listener(object_type: str, listener) -> None:
    """Call `listener(object_type, object_id, changes)` after the commit of every update or transition of
    `object_type` ("leads.lead") recorded through `record`/`record_many`. The listener decides cheaply
    whether anything wants it (automation: is there an active "field changed" rule?).

    Deliberately not called for `record_bulk` and `sealed_at_write` (billing runs, period closes, imports
    of thousands of rows): those bulk paths stay free of per-row callbacks, so rules do not see them."""
    listeners = _CHANGE_LISTENERS.setdefault(object_type, [])
    if listener not in listeners:
        listeners.append(listener)


def _notify_change_listeners(events: list[AuditEvent]) -> None:
    """One after-commit callback per `record_many` call, run in the writer's context (its contextvars, as
    domain events are: automation's loop guard relies on it); a failing listener is logged, never raised."""
    wanted = [(event.object_type, event.object_id, event.changes) for event in events
              if event.object_type in _CHANGE_LISTENERS and event.action in _LISTENED_ACTIONS and event.changes]
    if not wanted:
        return
    context = contextvars.copy_context()

    def deliver():
        for object_type, object_id, changes in wanted:
            for listener in _CHANGE_LISTENERS.get(object_type, []):
                try:
                    listener(object_type, object_id, changes)
                except Exception:  # the audited change has committed; a listener cannot undo it
                    log.exception("audit: change listener %r failed for %s %s", listener, object_type, object_id)

    transaction.on_commit(lambda: context.run(deliver))


def record_bulk(events: Iterable[PendingEvent], *, actor=None, actor_label: str | None = None,
                normalised: bool = False) -> None:
    """`record_many` for thousands of events (billing run, period close): the rows are streamed into the
    table (core.bulk.insert_rows) without building model instances, and sealed after commit the same way.
    `normalised`: the caller built `changes` from JSON-native values only (str, int, bool, None, lists,
    dicts), so they are stored as given."""
    from .bulk import insert_rows

    now = timezone.now()
    actor_id = getattr(actor, "pk", None)
    label = getattr(actor, "username", "") if actor is not None else (actor_label or "system")[:150]
    rows = ((now, actor_id, label, pending.action, pending.object_type, str(pending.object_id),
             (pending.object_repr or "")[:200],
             (pending.changes or {}) if normalised else _normalise(pending.changes or {}))
            for pending in events)
    buffer = getattr(transaction.get_connection(), "_l2c_audit_buffer", None)
    if buffer is not None:  # inside `sealed_at_write`: written, sealed, when the block ends
        buffer.extend(rows)
        return
    insert_rows(AuditEvent, _WRITTEN, rows)
    _seal_after_commit()


_WRITTEN = ["occurred_at", "actor_id", "actor_label", "action", "object_type", "object_id", "object_repr", "changes"]


@contextmanager
def sealed_at_write():
    """For a bulk run's transaction: the events `record_bulk` records inside the block are written at its
    end already sealed, instead of unsealed now and read back, hashed and updated after the commit.

    At the end of the block the seal lock is taken (it is held until the transaction ends, so keep the
    block the last work of the transaction), the head read, each event hashed from the values in hand, the
    events inserted with their chain fields and the head moved — the same chain `seal_pending` would make,
    with the events in the order they were recorded. Events committed by others meanwhile are sealed after
    them by the next `seal_pending`. An exception leaves nothing written (and the transaction rolls back)."""
    conn = transaction.get_connection()
    if not conn.in_atomic_block:
        raise RuntimeError("sealed_at_write must run inside the transaction that records the events")
    outer = getattr(conn, "_l2c_audit_buffer", None)
    buffer: list = outer if outer is not None else []
    conn._l2c_audit_buffer = buffer
    try:
        yield
    finally:
        if outer is None:
            conn._l2c_audit_buffer = None
    if outer is None and buffer:
        _write_sealed(conn, buffer)


class JsonText(str):
    """A JSON document already serialised (core.bulk stores it as it is)."""


_dumps = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode


def _write_sealed(conn, rows: list) -> None:
    """Insert `rows` (in `_WRITTEN` order, `changes` JSON-native) sealed behind the head, under the seal
    lock until the transaction ends. The hash text is what `_compute_hash` makes (same payload, keys
    sorted), built around the one serialisation of `changes` that is also stored."""
    from .bulk import insert_rows

    head_table = conn.ops.quote_name(AuditChainHead._meta.db_table)
    lock = " FOR UPDATE" if conn.features.has_select_for_update else ""
    with conn.cursor() as cursor:
        if conn.vendor == "postgresql":
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SEAL_LOCK])
        AuditChainHead.objects.get_or_create(pk=1)
        cursor.execute(f"SELECT seq, last_hash FROM {head_table} WHERE id = 1{lock}")
        head_seq, prev = cursor.fetchone()
    seq = head_seq
    known: dict = {}  # JSON of the values repeated on every row (actor, label, action, type, time)

    def text_of(value):
        found = known.get(value)
        if found is None:
            found = known[value] = _dumps(value)
        return found

    sealed = []
    for occurred_at, actor_id, label, action, object_type, object_id, object_repr, changes in rows:
        seq += 1
        changes_text = _dumps(changes)
        text = (f'{{"action":{text_of(action)},"actor":{text_of(actor_id)},"actor_label":{text_of(label)},'
                f'"at":{text_of(_normalise(occurred_at))},"changes":{changes_text},"id":{_dumps(str(object_id))},'
                f'"prev":"{prev}","repr":{_dumps(object_repr)},"seq":{seq},"type":{text_of(object_type)}}}')
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        sealed.append((occurred_at, actor_id, label, action, object_type, object_id, object_repr,
                       JsonText(changes_text), seq, prev, digest))
        prev = digest
    insert_rows(AuditEvent, [*_WRITTEN, "chain_seq", "prev_hash", "hash"], sealed)
    last_id = AuditEvent.objects.filter(chain_seq=seq).values_list("id", flat=True).first()
    with conn.cursor() as cursor:
        cursor.execute(f"UPDATE {head_table} SET seq = %s, last_hash = %s, last_event_id = %s "
                       "WHERE id = 1 AND seq = %s", [seq, prev, last_id, head_seq])
        if cursor.rowcount != 1:  # cannot happen under the lock; refuse rather than fork the chain
            raise SealConflict("the audit chain head changed during sealing")


def record(*, actor, action: str, instance: models.Model, before: dict | None = None,
           changes: dict | None = None, actor_label: str | None = None) -> AuditEvent | None:
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
    return record_many([pending], actor=actor, actor_label=actor_label)[0]


def history_for(instance: models.Model):
    """Events of one record, newest first (for its page); sealed or not yet."""
    return (
        AuditEvent.objects.filter(object_type=object_type_of(instance), object_id=str(instance.pk))
        .order_by("-id")
    )


# --- sealing: after commit, in commit order ------------------------------------------------------------

SEAL_BATCH_SIZE = 2000
# PostgreSQL advisory lock keys (any two fixed bigints): SEAL is held by the one connection sealing;
# WAIT by at most one connection queued behind it, which seals whatever committed meanwhile.
SEAL_LOCK = 0x4C32_4353_4541_4C31  # "L2CSEAL1"
WAIT_LOCK = 0x4C32_4357_4149_5431  # "L2CWAIT1"


def _seal_after_commit() -> None:
    """Seal once the current transaction commits (at once in autocommit); one callback per transaction.

    A transaction that records many events registers one seal. The registration is remembered on the
    connection (the callback list and the position in it, O(1) to check); it is trusted only while that
    list is still the same, the entry still ours, and it was made in this savepoint or an enclosing one,
    so that rolling back a savepoint never drops the seal of events that stay."""
    conn = transaction.get_connection()
    if conn.in_atomic_block:
        mark = getattr(conn, "_l2c_audit_seal", None)
        if mark is not None:
            hooks, index = mark
            if hooks is conn.run_on_commit and index < len(hooks):
                sids, func = hooks[index][0], hooks[index][1]
                if func is _seal_committed and sids <= set(conn.savepoint_ids):
                    return
    transaction.on_commit(_seal_committed, robust=True)
    if conn.in_atomic_block:
        conn._l2c_audit_seal = (conn.run_on_commit, len(conn.run_on_commit) - 1)


def _seal_committed() -> None:
    try:
        seal_pending(wait=False)
    except Exception:  # the business transaction has committed; the beat job or verify-audit seals later
        log.exception("audit: sealing after commit failed; the events stay unsealed until the next seal")


class SealConflict(RuntimeError):
    """The chain head or an event changed under a sealer that held the seal lock: nothing was sealed."""


def _seal_round(*, wait: bool, batch_size: int) -> int | None:
    """Seal up to `batch_size` committed unsealed events in one short transaction.

    Returns how many were sealed, or None when it gave way (wait=False on PostgreSQL) to a connection
    that is sealing and another already queued behind it: the queued one fetches after our commit, so it
    seals our events. That hand-over is what lets a request skip the lock and still leave nothing behind.
    """
    conn = transaction.get_connection()
    # The seal is derived data: lost in a crash, the events are simply sealed again (WAL is lost as a
    # suffix, so chain and head stay consistent). So its commit need not wait for the WAL flush.
    async_commit = ", set_config('synchronous_commit', 'off', true)" if not conn.in_atomic_block else ""
    queued = False  # holding the session-level WAIT lock
    try:
        with transaction.atomic():
            if conn.vendor == "postgresql":
                with conn.cursor() as cursor:
                    if wait:
                        cursor.execute(f"SELECT pg_advisory_xact_lock(%s){async_commit}", [SEAL_LOCK])
                    else:
                        cursor.execute(
                            "SELECT CASE WHEN pg_try_advisory_xact_lock(%s) THEN 1 "
                            f"WHEN pg_try_advisory_lock(%s) THEN 2 ELSE 0 END{async_commit}",
                            [SEAL_LOCK, WAIT_LOCK],
                        )
                        got = cursor.fetchone()[0]
                        if got == 0:
                            return None  # the queued sealer has not fetched yet: it will see our events
                        if got == 2:
                            queued = True
                            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SEAL_LOCK])
                            cursor.execute("SELECT pg_advisory_unlock(%s)", [WAIT_LOCK])
                            queued = False
            return _seal_batch(conn, batch_size)
    finally:
        if queued:  # the wait for SEAL failed: free the queue place, or nobody could queue on this connection
            with conn.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [WAIT_LOCK])


_HASHED = ("id", "occurred_at", "actor_id", "actor_label", "action", "object_type", "object_id",
           "object_repr", "changes")


def _seal_batch(conn, batch_size: int) -> int:
    """Under the seal lock: chain the oldest committed unsealed events behind the head, move the head."""
    head_table = conn.ops.quote_name(AuditChainHead._meta.db_table)
    event_table = conn.ops.quote_name(AuditEvent._meta.db_table)
    lock = " FOR UPDATE" if conn.features.has_select_for_update else ""  # SQLite: BEGIN IMMEDIATE locked
    with conn.cursor() as cursor:
        cursor.execute(f"SELECT seq, last_hash FROM {head_table} WHERE id = 1{lock}")
        found = cursor.fetchone()
    if found is None:
        AuditChainHead.objects.get_or_create(pk=1)
        with conn.cursor() as cursor:
            cursor.execute(f"SELECT seq, last_hash FROM {head_table} WHERE id = 1{lock}")
            found = cursor.fetchone()
    head_seq, head_hash = found
    if conn.vendor == "postgresql":
        # Walk the unsealed-events index in id order (not a bitmap scan): its entries for events sealed
        # since the last VACUUM point at dead rows, and only an index scan marks them dead, so the next
        # round skips them. Without it every round re-reads every event sealed since the last VACUUM,
        # which made sealing (and so every audited commit) slower the more had been sealed.
        with conn.cursor() as cursor:
            cursor.execute("SET LOCAL enable_bitmapscan = off")
    # a new statement, so a new snapshot on PostgreSQL: everything committed before we got the lock
    rows = list(AuditEvent.objects.filter(chain_seq__isnull=True).order_by("id")
                .values_list(*_HASHED)[:batch_size])
    if not rows:
        return 0
    seq, prev = head_seq, head_hash
    sealed = []
    for pk, occurred_at, actor_id, actor_label, action, object_type, object_id, object_repr, changes in rows:
        seq += 1
        digest = _compute_hash(
            prev, occurred_at=occurred_at, actor_id=actor_id, actor_label=actor_label, action=action,
            object_type=object_type, object_id=object_id, object_repr=object_repr, changes=changes,
            chain_seq=seq, stored=True,
        )
        sealed.append((pk, seq, prev, digest))
        prev = digest
    head_values = [seq, prev, sealed[-1][0], head_seq]
    with conn.cursor() as cursor:
        if conn.vendor == "postgresql":
            # one statement: the events, then the head only if every one of them was still unsealed
            # the columns as four array literals (ids, numbers and hex digests need no quoting): four
            # parameters instead of four per event, which the driver would otherwise rewrite one by one
            columns = ["{" + ",".join(str(row[i]) for row in sealed) + "}" for i in range(4)]
            cursor.execute(
                "WITH v (id, seq, prev, hash) AS (SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::text[], "
                "%s::text[])), "
                f"done AS (UPDATE {event_table} AS e SET chain_seq = v.seq, prev_hash = v.prev, hash = v.hash "
                "FROM v WHERE e.id = v.id AND e.chain_seq IS NULL RETURNING e.id) "
                f"UPDATE {head_table} SET seq = %s, last_hash = %s, last_event_id = %s "
                "WHERE id = 1 AND seq = %s AND (SELECT count(*) FROM done) = %s",
                columns + head_values + [len(sealed)],
            )
            moved = cursor.rowcount == 1
        else:
            cursor.executemany(
                f"UPDATE {event_table} SET chain_seq = %s, prev_hash = %s, hash = %s "
                "WHERE id = %s AND chain_seq IS NULL",
                [(seq_, prev_, hash_, pk) for pk, seq_, prev_, hash_ in sealed],
            )
            updated = cursor.rowcount
            cursor.execute(f"UPDATE {head_table} SET seq = %s, last_hash = %s, last_event_id = %s "
                           "WHERE id = 1 AND seq = %s", head_values)
            moved = cursor.rowcount == 1 and updated == len(sealed)
    if not moved:  # cannot happen under the lock; refuse rather than fork the chain (the atomic rolls back)
        raise SealConflict("the audit chain head or its pending events changed during sealing")
    return len(sealed)


def seal_pending(*, wait: bool = True, batch_size: int = SEAL_BATCH_SIZE) -> int:
    """Seal every event committed so far into the chain, in order; returns how many were sealed.

    Each event gets chain_seq = the head's seq + 1, prev_hash = the head's hash, and its hash; the head
    moves to it. Events are taken in id order among those committed: an event whose transaction commits
    late gets a later place, so the chain records commit order. Runs after every audited commit
    (wait=False: on PostgreSQL it skips when another connection is sealing, see `_seal_round`), every
    minute from the beat job and before `verify_chain` (wait=True: it waits for the lock). Inside a
    transaction it also seals that transaction's own events (the tests rely on this).
    """
    total = 0
    while True:
        sealed = _seal_round(wait=wait, batch_size=batch_size)
        if sealed is None:
            return total
        total += sealed
        if sealed < batch_size:
            return total


def unsealed_count() -> int:
    return AuditEvent.objects.filter(chain_seq__isnull=True).count()


# --- verifying -----------------------------------------------------------------------------------------

STALE_AFTER = dt.timedelta(minutes=5)


@dataclass
class ChainProblem:
    event_id: int | None
    reason: str

    def __str__(self) -> str:
        where = f"event #{self.event_id}" if self.event_id is not None else "chain head"
        return f"{where}: {self.reason}"


def stale_problem(stale_after: dt.timedelta = STALE_AFTER, *, sealed_now: bool = False) -> ChainProblem | None:
    """The oldest event left unsealed for longer than `stale_after`: its sealing after commit failed."""
    cutoff = timezone.now() - stale_after
    event = (AuditEvent.objects.filter(chain_seq__isnull=True, occurred_at__lt=cutoff)
             .order_by("id").only("id").first())
    if event is None:
        return None
    minutes = int(stale_after.total_seconds() // 60)
    return ChainProblem(
        event.pk,
        f"it was not sealed into the chain within {minutes} minutes (sealing after commit failed; "
        + ("it has been sealed now" if sealed_now else "run `l2c verify-audit` to seal it") + ")",
    )


def iter_problems(batch_size: int = 5000, *, stale_after: dt.timedelta = STALE_AFTER) -> Iterator[ChainProblem]:
    """Walk the sealed chain by chain_seq; yield the first problem found (then stop).

    Edited events fail their hash; deleted, inserted or reordered ones break the numbering or the link
    to the previous hash; a deleted tail falls short of the head. Then: events sealed beyond the head,
    and events left unsealed for longer than `stale_after`. Events sealed while the walk runs lie
    beyond the head it read first and are left for the next walk.
    """
    head = AuditChainHead.objects.filter(pk=1).first()
    head_seq = head.seq if head else 0
    legacy_seq = head.legacy_seq if head else 0
    expected, prev_hash = 1, GENESIS
    sealed = AuditEvent.objects.filter(chain_seq__isnull=False, chain_seq__lte=head_seq).order_by("chain_seq")
    for event in sealed.iterator(chunk_size=batch_size):
        if event.chain_seq != expected:
            yield ChainProblem(
                event.pk,
                f"the chain skips from place {expected - 1} to {event.chain_seq} before it (an event "
                "was deleted or renumbered)",
            )
            return
        if event.prev_hash != prev_hash:
            yield ChainProblem(
                event.pk,
                "its link to the previous event is broken (an earlier event was deleted, "
                "inserted or reordered)",
            )
            return
        if event_hash(event, legacy=event.chain_seq <= legacy_seq) != event.hash:
            yield ChainProblem(event.pk, "its content does not match its hash (the event was edited)")
            return
        prev_hash = event.hash
        expected += 1
    if head is not None and (expected - 1 != head_seq or head.last_hash != prev_hash):
        yield ChainProblem(
            head.last_event_id or None,
            "the chain ends early: the most recent events were deleted",
        )
        return
    # one statement, one snapshot: the head and the events sealed with it are read together
    beyond = (AuditEvent.objects
              .filter(chain_seq__gt=Coalesce(Subquery(AuditChainHead.objects.filter(pk=1).values("seq")[:1]), 0))
              .order_by("chain_seq").only("id").first())
    if beyond is not None:
        yield ChainProblem(beyond.pk, "it is sealed beyond the end of the chain (it was inserted, "
                                      "or the chain head was reset)")
        return
    stale = stale_problem(stale_after)
    if stale is not None:
        yield stale


def verify_chain(*, seal: bool = True) -> tuple[int, ChainProblem | None]:
    """(number of events in the trail, first problem or None).

    With `seal` (the default, what `l2c verify-audit` and the nightly job do) the events committed but
    not yet sealed are sealed first, so the whole trail is checked; an event that had waited for longer
    than STALE_AFTER is still reported, since its sealing after commit failed. With seal=False nothing
    is written: events not yet sealed are skipped unless they are older than STALE_AFTER.
    """
    stale = None
    if seal:
        stale = stale_problem(sealed_now=True)
        seal_pending(wait=True)
    problem = next(iter_problems(), None) or stale
    return AuditEvent.objects.count(), problem
