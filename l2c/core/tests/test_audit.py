"""The audit trail: events are written unsealed in the business transaction and sealed after commit."""
import datetime as dt
import importlib
import threading
import time

import pytest
from django.db import DatabaseError, connection, connections, transaction
from django.utils import timezone

from l2c.core import audit
from l2c.core.models import AuditChainHead, AuditEvent
from l2c.identity.models import Team

pg_only = pytest.mark.skipif("connection.vendor != 'postgresql'", reason="PostgreSQL only")


def _tamper(sql, params=()):
    """Run raw SQL against the audit table, switching off the PostgreSQL append-only guard."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE core_auditevent DISABLE TRIGGER core_auditevent_append_only")
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE core_auditevent ENABLE TRIGGER core_auditevent_append_only")


def _unsealed(n, *, start=0, occurred_at=None):
    """Committed-looking events nobody sealed (as after a crash between commit and seal)."""
    at = occurred_at or timezone.now()
    return AuditEvent.objects.bulk_create([
        AuditEvent(occurred_at=at, actor_label="system", action="create", object_type="identity.team",
                   object_id=str(i), object_repr=f"T{i}", changes={"name": [None, f"T{i}"]})
        for i in range(start, start + n)
    ])


def _chain():
    return list(AuditEvent.objects.order_by("chain_seq").values_list("chain_seq", "prev_hash", "hash"))


def _assert_one_linear_chain(expected_count):
    chain = _chain()
    assert [seq for seq, _, _ in chain] == list(range(1, expected_count + 1))
    assert chain[0][1] == audit.GENESIS
    for (_, _, earlier_hash), (_, later_prev, _) in zip(chain, chain[1:], strict=False):
        assert later_prev == earlier_hash
    head = AuditChainHead.objects.get(pk=1)
    assert (head.seq, head.last_hash) == (expected_count, chain[-1][2])


@pytest.fixture
def chain(db, admin_user, django_capture_on_commit_callbacks):
    teams = [Team.objects.create(name=f"T{i}") for i in range(5)]
    with django_capture_on_commit_callbacks(execute=True) as callbacks:  # the after-commit seal
        for team in teams:
            audit.record(actor=admin_user, action=audit.Action.CREATE, instance=team)
    assert callbacks.count(audit._seal_committed) == 1  # one seal per transaction, not one per event
    return list(AuditEvent.objects.order_by("chain_seq"))


# --- writing and sealing ---------------------------------------------------------------------------------

def test_intact_chain_verifies(chain):
    count, problem = audit.verify_chain()
    assert problem is None
    assert count == len(chain)


def test_each_event_links_to_previous_and_its_hash_covers_its_place(chain):
    assert [e.chain_seq for e in chain] == [1, 2, 3, 4, 5]
    assert [e.pk for e in chain] == sorted(e.pk for e in chain)
    assert chain[0].prev_hash == audit.GENESIS
    for earlier, later in zip(chain, chain[1:], strict=False):
        assert later.prev_hash == earlier.hash
    for event in chain:
        assert audit.event_hash(event) == event.hash
        moved = AuditEvent(**{f.attname: getattr(event, f.attname) for f in AuditEvent._meta.concrete_fields})
        moved.chain_seq += 1
        assert audit.event_hash(moved) != event.hash


def test_record_inside_a_transaction_takes_no_chain_place_until_commit(db, admin_user):
    team = Team.objects.create(name="Alpha")
    event = audit.record(actor=admin_user, action=audit.Action.CREATE, instance=team)
    event.refresh_from_db()
    assert (event.chain_seq, event.prev_hash, event.hash) == (None, None, None)
    assert list(audit.history_for(team)) == [event]  # shown on the record's page before it is sealed
    assert AuditChainHead.objects.get(pk=1).seq == 0  # the head was not touched
    # verify_chain seals what is pending first (here: in the test's own transaction), then checks it
    assert audit.verify_chain() == (1, None)
    event.refresh_from_db()
    assert event.chain_seq == 1 and event.hash == audit.event_hash(event)


@pytest.mark.django_db(transaction=True)
def test_commit_seals_and_rollback_leaves_nothing(admin_user):
    # given: one transaction that rolls back, then one that commits
    with pytest.raises(RuntimeError), transaction.atomic():
        audit.record(actor=admin_user, action=audit.Action.CREATE, instance=Team.objects.create(name="Gone"))
        raise RuntimeError
    with transaction.atomic():
        team = Team.objects.create(name="Kept")
        event = audit.record(actor=admin_user, action=audit.Action.CREATE, instance=team)
        assert AuditEvent.objects.get(pk=event.pk).chain_seq is None
    # then: only the committed event exists, sealed right after its commit
    event = AuditEvent.objects.get()
    assert (event.object_id, event.chain_seq, event.prev_hash) == (str(team.pk), 1, audit.GENESIS)
    assert audit.unsealed_count() == 0
    assert audit.verify_chain(seal=False) == (1, None)
    # and outside any transaction (autocommit) the seal follows at once
    audit.record(actor=admin_user, action=audit.Action.UPDATE, instance=team, changes={"name": ["a", "b"]})
    assert audit.unsealed_count() == 0
    _assert_one_linear_chain(2)


def test_a_savepoint_rolled_back_does_not_take_the_seal_with_it(db, admin_user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            audit.record(actor=admin_user, action=audit.Action.CREATE, instance=Team.objects.create(name="A"))
            raise RuntimeError
        kept = audit.record(actor=admin_user, action=audit.Action.CREATE, instance=Team.objects.create(name="B"))
    assert callbacks.count(audit._seal_committed) == 1
    kept.refresh_from_db()
    assert kept.chain_seq == 1


def test_leftovers_are_sealed_in_id_order_in_batches(db):
    # given: 11 committed events nobody sealed
    events = _unsealed(11)
    # when
    assert audit.seal_pending(batch_size=4) == 11
    # then: one chain, in id order, and nothing left
    assert list(AuditEvent.objects.order_by("chain_seq").values_list("pk", flat=True)) == [e.pk for e in events]
    _assert_one_linear_chain(11)
    assert audit.seal_pending() == 0
    assert audit.verify_chain(seal=False) == (11, None)


def test_beat_job_seals_leftovers(db, settings):
    from l2c.celery import BEAT_SCHEDULE
    from l2c.core.tasks import seal_audit_chain

    entry = next(e for e in BEAT_SCHEDULE.values() if e["task"] == "l2c.core.tasks.seal_audit_chain")
    assert entry["schedule"] <= 60
    _unsealed(3)
    assert seal_audit_chain() == "sealed 3"
    assert audit.unsealed_count() == 0
    assert seal_audit_chain() == "sealed 0"


def test_events_left_unsealed_for_long_are_reported_then_sealed(db):
    # given: a sealed chain, then an event its committer never sealed, 10 minutes ago
    _unsealed(2)
    audit.seal_pending()
    [late] = _unsealed(1, start=2, occurred_at=timezone.now() - dt.timedelta(minutes=10))
    [recent] = _unsealed(1, start=3)
    # when: checking without writing
    _, problem = audit.verify_chain(seal=False)
    # then: the stale one is named, the recent one is just pending; nothing was written
    assert problem is not None and problem.event_id == late.pk and "not sealed" in problem.reason
    assert audit.unsealed_count() == 2
    # when: the default check (seal first)
    _, problem = audit.verify_chain()
    # then: still reported once, but sealed now; the next check passes
    assert problem is not None and problem.event_id == late.pk and "sealed now" in problem.reason
    assert audit.unsealed_count() == 0
    assert audit.verify_chain() == (4, None)


def test_verify_audit_command_seals_or_only_checks(db):
    from django.core.management import call_command

    _unsealed(2)
    call_command("verify_audit", "--no-seal")
    assert audit.unsealed_count() == 2
    call_command("verify_audit")
    assert audit.unsealed_count() == 0


# --- tampering with sealed events ------------------------------------------------------------------------

def test_edited_event_is_named(chain):
    victim = chain[2]
    _tamper("UPDATE core_auditevent SET object_repr = %s WHERE id = %s", ["forged", victim.pk])
    _, problem = audit.verify_chain()
    assert problem is not None and problem.event_id == victim.pk
    assert "edited" in problem.reason


def test_deleted_event_is_detected(chain):
    _tamper("DELETE FROM core_auditevent WHERE id = %s", [chain[1].pk])
    _, problem = audit.verify_chain()
    assert problem is not None and problem.event_id == chain[2].pk
    assert "deleted" in problem.reason


def test_deleted_last_event_is_detected(chain):
    _tamper("DELETE FROM core_auditevent WHERE id = %s", [chain[-1].pk])
    _, problem = audit.verify_chain()
    assert problem is not None and "ends early" in problem.reason


def test_reordered_events_are_detected(chain):
    a, b = chain[1], chain[2]
    _tamper("UPDATE core_auditevent SET chain_seq = -1 WHERE id = %s", [a.pk])
    _tamper("UPDATE core_auditevent SET chain_seq = %s WHERE id = %s", [a.chain_seq, b.pk])
    _tamper("UPDATE core_auditevent SET chain_seq = %s WHERE id = %s", [b.chain_seq, a.pk])
    _, problem = audit.verify_chain()
    assert problem is not None and problem.event_id == b.pk  # now second in the chain, linking to the wrong hash
    assert "link" in problem.reason


def test_reordered_content_is_detected(chain):
    a, b = chain[1], chain[2]
    _tamper("UPDATE core_auditevent SET object_id = %s, object_repr = %s, hash = %s, prev_hash = %s WHERE id = %s",
            [b.object_id, b.object_repr, "x" * 64, b.prev_hash, a.pk])
    _tamper("UPDATE core_auditevent SET object_id = %s, object_repr = %s, hash = %s, prev_hash = %s WHERE id = %s",
            [a.object_id, a.object_repr, b.hash, a.prev_hash, b.pk])
    _tamper("UPDATE core_auditevent SET hash = %s WHERE id = %s", [a.hash, a.pk])
    _, problem = audit.verify_chain()
    assert problem is not None and problem.event_id in (a.pk, b.pk)


def _forged(*, chain_seq, prev_hash):
    forged = AuditEvent(occurred_at=timezone.now(), actor_label="system", action="delete",
                        object_type="identity.team", object_id="999", object_repr="forged", changes={},
                        chain_seq=chain_seq, prev_hash=prev_hash)
    forged.hash = audit.event_hash(forged)  # a forger who knows the algorithm
    return forged


def test_event_inserted_in_the_middle_is_detected(chain):
    # given: a forger makes room at place 3 and inserts a well-formed event there, and moves the head
    _tamper("UPDATE core_auditevent SET chain_seq = chain_seq + 1000 WHERE chain_seq >= 3")
    _tamper("UPDATE core_auditevent SET chain_seq = chain_seq - 999 WHERE chain_seq >= 1000")
    forged = _forged(chain_seq=3, prev_hash=chain[1].hash)
    forged.save()
    AuditChainHead.objects.filter(pk=1).update(seq=len(chain) + 1)
    # then: the event after it no longer links
    _, problem = audit.verify_chain()
    assert problem is not None and problem.event_id == chain[2].pk
    assert "inserted" in problem.reason


def test_event_appended_behind_the_heads_back_is_detected(chain):
    forged = _forged(chain_seq=len(chain) + 1, prev_hash=chain[-1].hash)
    forged.save()
    _, problem = audit.verify_chain()
    assert problem is not None and problem.event_id == forged.pk and "beyond the end" in problem.reason


def test_unsealing_a_sealed_event_is_detected(chain):
    # an attacker resets an event's chain fields so it would be sealed again at the end with forged content
    victim = chain[1]
    _tamper("UPDATE core_auditevent SET chain_seq = NULL, prev_hash = NULL, hash = NULL, object_repr = 'x' "
            "WHERE id = %s", [victim.pk])
    _, problem = audit.verify_chain()
    assert problem is not None and problem.event_id == chain[2].pk


def test_verify_audit_command_exits_non_zero_on_tamper(chain):
    from django.core.management import CommandError, call_command

    call_command("verify_audit")
    _tamper("UPDATE core_auditevent SET changes = %s WHERE id = %s", ['{"name": [null, "evil"]}', chain[0].pk])
    with pytest.raises(CommandError, match=f"event #{chain[0].pk}"):
        call_command("verify_audit")


def test_events_chained_before_the_upgrade_still_verify(db):
    """The 0004 migration numbers the old chain (hashes without chain_seq) and keeps it verifiable."""
    migration = importlib.import_module("l2c.core.migrations.0004_audit_seal_after_commit")
    from django.apps import apps

    # given: a chain as the old writer left it (id order, hashes without a place, the head at its end)
    prev, rows = audit.GENESIS, []
    for row in _unsealed(3):
        row.prev_hash = prev
        row.hash = prev = audit.event_hash(row, legacy=True)
        rows.append(row)
    _tamper("UPDATE core_auditevent SET prev_hash = CASE id " + " ".join(f"WHEN {r.pk} THEN '{r.prev_hash}'" for r in rows)
            + " END, hash = CASE id " + " ".join(f"WHEN {r.pk} THEN '{r.hash}'" for r in rows) + " END")
    AuditChainHead.objects.update_or_create(pk=1, defaults={"last_hash": prev, "last_event_id": rows[-1].pk})
    # when
    migration.number_existing_events(apps, type("SchemaEditor", (), {"connection": connection})())
    if connection.vendor == "postgresql":
        from l2c.core.signals import install_append_only_triggers
        install_append_only_triggers(type("Sender", (), {"label": "core"}))
    # then: the old events verify, new ones chain on behind them
    assert AuditChainHead.objects.get(pk=1).legacy_seq == 3
    assert audit.verify_chain() == (3, None)
    _unsealed(2, start=3)
    assert audit.verify_chain() == (5, None)
    _assert_one_linear_chain(5)
    _tamper("UPDATE core_auditevent SET object_repr = 'forged' WHERE id = %s", [rows[1].pk])
    assert audit.verify_chain()[1].event_id == rows[1].pk


# --- the PostgreSQL guard ----------------------------------------------------------------------------------

def _refused(sql, params=()):
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


@pg_only
def test_postgres_refuses_every_change_of_a_sealed_row(chain):
    pk = chain[0].pk
    _refused("UPDATE core_auditevent SET object_repr = 'x' WHERE id = %s", [pk])
    _refused("UPDATE core_auditevent SET hash = %s WHERE id = %s", ["f" * 64, pk])
    _refused("UPDATE core_auditevent SET chain_seq = 100 WHERE id = %s", [pk])
    _refused("UPDATE core_auditevent SET chain_seq = NULL, prev_hash = NULL, hash = NULL WHERE id = %s", [pk])
    _refused("UPDATE core_auditevent SET object_repr = object_repr WHERE id = %s", [pk])  # even a no-op
    _refused("DELETE FROM core_auditevent WHERE id = %s", [pk])
    assert audit.verify_chain() == (len(chain), None)


@pg_only
def test_postgres_allows_exactly_the_sealing_update(db):
    [event] = _unsealed(1)
    pk = event.pk
    seal = ["a" * 64, audit.GENESIS, pk]
    # refused: business columns, a partial seal, a seal that also edits, deleting an unsealed row
    _refused("UPDATE core_auditevent SET object_repr = 'x' WHERE id = %s", [pk])
    _refused("UPDATE core_auditevent SET changes = '{}' WHERE id = %s", [pk])
    _refused("UPDATE core_auditevent SET hash = %s WHERE id = %s", ["a" * 64, pk])
    _refused("UPDATE core_auditevent SET chain_seq = 1, hash = %s, prev_hash = NULL WHERE id = %s",
             ["a" * 64, pk])
    _refused("UPDATE core_auditevent SET chain_seq = 1, hash = %s, prev_hash = %s, occurred_at = now() "
             "WHERE id = %s", seal)
    _refused("DELETE FROM core_auditevent WHERE id = %s", [pk])
    # allowed: setting the three chain fields once, nothing else
    with connection.cursor() as cursor:
        cursor.execute("UPDATE core_auditevent SET chain_seq = 1, hash = %s, prev_hash = %s WHERE id = %s", seal)
    event.refresh_from_db()
    assert (event.chain_seq, event.hash, event.object_repr) == (1, "a" * 64, "T0")
    # and never again
    _refused("UPDATE core_auditevent SET chain_seq = 2, hash = %s, prev_hash = %s WHERE id = %s", seal)


# --- concurrency (PostgreSQL: real commits on several connections) ---------------------------------------

def _in_thread(target, errors):
    def run():
        try:
            target()
        except Exception as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            connections.close_all()
    return threading.Thread(target=run)


@pg_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_and_sealers_never_fork_and_leave_nothing_unsealed():
    # given: 150 committed events nobody sealed
    _unsealed(150)
    barrier = threading.Barrier(6)
    errors = []

    def sealer(wait):
        barrier.wait()
        for _ in range(6):
            audit.seal_pending(wait=wait, batch_size=7)

    def writer(offset):
        barrier.wait()
        for i in range(40):
            with transaction.atomic():
                audit.record_many([audit.PendingEvent("create", "identity.team", str(offset + i))])

    # when: two blocking sealers, two that give way, and two writers sealing after each commit
    threads = [_in_thread(lambda: sealer(True), errors), _in_thread(lambda: sealer(True), errors),
               _in_thread(lambda: sealer(False), errors), _in_thread(lambda: sealer(False), errors),
               _in_thread(lambda: writer(1000), errors), _in_thread(lambda: writer(2000), errors)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    # then: no error, one linear chain, and no event left behind (no final seal here)
    assert errors == []
    assert audit.unsealed_count() == 0
    _assert_one_linear_chain(230)
    assert audit.verify_chain(seal=False) == (230, None)


def _wait_for_ungranted_advisory_lock(timeout=10.0):
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
            if cursor.fetchone()[0]:
                return
            time.sleep(0.02)
    raise AssertionError("no connection queued for the seal lock")


@pg_only
@pytest.mark.django_db(transaction=True)
def test_a_commit_that_skips_the_seal_is_sealed_by_the_queued_sealer():
    """The hand-over that lets a request skip the lock: one sealer at work, one queued behind it; a third
    committer neither waits nor seals, and its event is sealed by the queued one all the same."""
    errors, held, release = [], threading.Event(), threading.Event()

    def busy_sealer():  # holds the seal lock, as a sealer does between its fetch and its commit
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [audit.SEAL_LOCK])
            held.set()
            release.wait(timeout=30)

    def queued_writer():
        audit.record_many([audit.PendingEvent("create", "identity.team", "1")])  # autocommit: seals at once

    busy = _in_thread(busy_sealer, errors)
    busy.start()
    assert held.wait(timeout=10)
    queued = _in_thread(queued_writer, errors)
    queued.start()
    _wait_for_ungranted_advisory_lock()  # the queued writer waits for the seal lock
    # when: a third commit finds the seal lock taken and the queue place taken
    started = time.monotonic()
    [skipped] = audit.record_many([audit.PendingEvent("create", "identity.team", "2")])
    # then: it did not wait, and its event is not sealed yet
    assert time.monotonic() - started < 2
    assert AuditEvent.objects.get(pk=skipped.pk).chain_seq is None
    # when: the busy sealer finishes
    release.set()
    busy.join(timeout=30)
    queued.join(timeout=30)
    # then: the queued sealer sealed both events, with no other seal
    assert errors == []
    assert audit.unsealed_count() == 0
    _assert_one_linear_chain(2)


@pg_only
@pytest.mark.django_db(transaction=True)
def test_an_event_committed_later_is_sealed_later(admin_user):
    errors = []
    # given: an open transaction holding an event with the lower id
    with transaction.atomic():
        early = audit.record(actor=admin_user, action=audit.Action.CREATE, instance=Team.objects.create(name="A"))
        # when: another connection records and commits meanwhile
        other = []
        thread = _in_thread(lambda: other.append(audit.record(
            actor=None, action=audit.Action.CREATE, instance=Team.objects.create(name="B"))), errors)
        thread.start()
        thread.join(timeout=30)
        assert errors == []
        assert AuditEvent.objects.get(pk=other[0].pk).chain_seq == 1  # sealed; ours is invisible to it
    # then: ours is sealed after its own commit, behind the one that committed first
    early.refresh_from_db()
    assert early.pk < other[0].pk and early.chain_seq == 2
    assert audit.verify_chain(seal=False) == (2, None)


# --- what an event records ---------------------------------------------------------------------------------

def test_update_records_only_changed_fields(db, admin_user):
    team = Team.objects.create(name="Alpha", description="a")
    before = audit.snapshot(team)
    team.description = "b"
    team.save()
    event = audit.record(actor=admin_user, action=audit.Action.UPDATE, instance=team, before=before)
    assert event.changes == {"description": ["a", "b"]}
    assert audit.record(actor=admin_user, action=audit.Action.UPDATE, instance=team, before=audit.snapshot(team)) is None


def test_snapshot_never_contains_password(db, admin_user):
    assert "password" not in audit.snapshot(admin_user)


def test_a_sealer_that_finds_the_head_moved_seals_nothing(db, monkeypatch):
    """The last guard against a fork: the head only moves from where the sealer read it, and only if every
    event it chained was still unsealed; otherwise the whole round rolls back."""
    _unsealed(3)
    real_hash = audit._compute_hash

    def hash_while_another_sealer_moves_the_head(*args, **kwargs):
        AuditChainHead.objects.filter(pk=1).update(seq=7)
        return real_hash(*args, **kwargs)

    monkeypatch.setattr(audit, "_compute_hash", hash_while_another_sealer_moves_the_head)
    with pytest.raises(audit.SealConflict):
        audit.seal_pending()
    assert audit.unsealed_count() == 3


# --- sealed at write (bulk runs) ---------------------------------------------------------------------------

def _pending(n, *, start=0):
    return [audit.PendingEvent(action="create", object_type="billing.invoice", object_id=str(i),
                               object_repr=f"INV-{i} «发票»", changes={
                                   "number": [None, f"INV-{i}"], "memo": [None, '客户 "引号" \\ tab\t'],
                                   "nested": [None, {"z": 1, "a": [None, True, "x"]}], "amount": [None, "12.30"]})
            for i in range(start, start + n)]


def test_events_recorded_in_a_sealed_block_are_written_sealed_and_verify(chain, admin_user):
    # given five sealed events (the fixture) and two committed by another transaction but not yet sealed
    _unsealed(2, start=10)
    # when a bulk run records three events inside a sealed block
    with transaction.atomic(), audit.sealed_at_write():
        audit.record_bulk(_pending(2), actor=admin_user, normalised=True)
        audit.record_bulk(_pending(1, start=2), actor=None, actor_label="billing run")
        assert not AuditEvent.objects.filter(object_type="billing.invoice").exists()  # written at the end
    # then they sit right behind the head, in the order recorded, with the hash the sealer would give them
    written = list(AuditEvent.objects.filter(object_type="billing.invoice").order_by("chain_seq"))
    assert [e.chain_seq for e in written] == [6, 7, 8]
    assert [e.object_id for e in written] == ["0", "1", "2"]
    assert written[0].prev_hash == chain[-1].hash
    for event in written:
        assert event.hash == audit.event_hash(event)
    assert written[2].actor_label == "billing run" and written[0].actor_id == admin_user.pk
    assert written[0].changes["nested"] == [None, {"a": [None, True, "x"], "z": 1}]
    head = AuditChainHead.objects.get(pk=1)
    assert (head.seq, head.last_hash, head.last_event_id) == (8, written[-1].hash, written[-1].pk)
    # and the events committed earlier are sealed after them, and the whole chain verifies
    assert audit.seal_pending() == 2
    _assert_one_linear_chain(10)
    assert audit.verify_chain() == (10, None)


def test_a_sealed_block_that_fails_writes_nothing(chain):
    with pytest.raises(RuntimeError), transaction.atomic(), audit.sealed_at_write():
        audit.record_bulk(_pending(3))
        raise RuntimeError("the run failed")
    assert not AuditEvent.objects.filter(object_type="billing.invoice").exists()
    assert getattr(connection, "_l2c_audit_buffer", None) is None  # the next record_bulk writes again
    assert AuditChainHead.objects.get(pk=1).seq == 5
    assert audit.verify_chain() == (5, None)


def test_nested_sealed_blocks_write_once_at_the_outer_end(chain):
    with transaction.atomic(), audit.sealed_at_write():
        audit.record_bulk(_pending(1))
        with audit.sealed_at_write():
            audit.record_bulk(_pending(1, start=1))
        assert not AuditEvent.objects.filter(object_type="billing.invoice").exists()
    assert AuditEvent.objects.filter(object_type="billing.invoice").count() == 2
    assert audit.verify_chain() == (7, None)


def test_a_sealed_block_needs_a_transaction(transactional_db):
    with pytest.raises(RuntimeError, match="inside the transaction"), audit.sealed_at_write():
        pass
