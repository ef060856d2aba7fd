import pytest
from django.db import connection

from l2c.core import audit
from l2c.core.models import AuditEvent
from l2c.identity.models import Team


def _tamper(sql, params=()):
    """Run raw SQL against the audit table, switching off the PostgreSQL append-only guard."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE core_auditevent DISABLE TRIGGER core_auditevent_append_only")
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE core_auditevent ENABLE TRIGGER core_auditevent_append_only")


@pytest.fixture
def chain(db, admin_user):
    teams = [Team.objects.create(name=f"T{i}") for i in range(4)]
    for team in teams:
        audit.record(actor=admin_user, action=audit.Action.CREATE, instance=team)
    return list(AuditEvent.objects.order_by("id"))


def test_intact_chain_verifies(chain):
    count, problem = audit.verify_chain()
    assert problem is None
    assert count == len(chain)


def test_each_event_links_to_previous(chain):
    assert chain[0].prev_hash == audit.GENESIS
    for earlier, later in zip(chain, chain[1:], strict=False):
        assert later.prev_hash == earlier.hash


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


def test_deleted_last_event_is_detected(chain):
    _tamper("DELETE FROM core_auditevent WHERE id = %s", [chain[-1].pk])
    _, problem = audit.verify_chain()
    assert problem is not None and "ends early" in problem.reason


def test_reordered_events_are_detected(chain):
    a, b = chain[1], chain[2]
    _tamper("UPDATE core_auditevent SET object_id = %s, object_repr = %s, hash = %s, prev_hash = %s WHERE id = %s",
            [b.object_id, b.object_repr, "x" * 64, b.prev_hash, a.pk])
    _tamper("UPDATE core_auditevent SET object_id = %s, object_repr = %s, hash = %s, prev_hash = %s WHERE id = %s",
            [a.object_id, a.object_repr, b.hash, a.prev_hash, b.pk])
    _tamper("UPDATE core_auditevent SET hash = %s WHERE id = %s", [a.hash, a.pk])
    _, problem = audit.verify_chain()
    assert problem is not None and problem.event_id in (a.pk, b.pk)


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_postgres_refuses_raw_update(chain):
    from django.db import DatabaseError, transaction

    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE core_auditevent SET object_repr = 'x' WHERE id = %s", [chain[0].pk])


def test_verify_audit_command_exits_non_zero_on_tamper(chain):
    from django.core.management import CommandError, call_command

    call_command("verify_audit")
    _tamper("UPDATE core_auditevent SET changes = %s WHERE id = %s", ['{"name": [null, "evil"]}', chain[0].pk])
    with pytest.raises(CommandError, match=f"event #{chain[0].pk}"):
        call_command("verify_audit")


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
