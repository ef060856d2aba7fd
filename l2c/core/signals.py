"""PostgreSQL guards installed after every migrate: audit rows cannot be changed or deleted, not even with
raw SQL (a superuser must first disable the trigger, which verify-audit still catches).

Audit events are inserted unsealed inside the business transaction and sealed after it commits (see
core.audit). The only UPDATE the guard lets through is that sealing: on a row whose chain fields are all
still NULL, set `chain_seq`, `prev_hash` and `hash` (all three, non-NULL), every other column unchanged.
A sealed row can never be updated again, and no row can be deleted.
"""
from django.db import connection
from django.db.models.signals import post_migrate
from django.dispatch import receiver

APPEND_ONLY_SQL = """
CREATE OR REPLACE FUNCTION l2c_append_only() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'rows of % are append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END $$ LANGUAGE plpgsql;
CREATE OR REPLACE FUNCTION l2c_audit_seal_only() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'UPDATE'
     AND OLD.chain_seq IS NULL AND OLD.prev_hash IS NULL AND OLD.hash IS NULL
     AND NEW.chain_seq IS NOT NULL AND NEW.prev_hash IS NOT NULL AND NEW.hash IS NOT NULL
     AND (to_jsonb(NEW) - 'chain_seq' - 'prev_hash' - 'hash') = (to_jsonb(OLD) - 'chain_seq' - 'prev_hash' - 'hash')
  THEN
    RETURN NEW;
  END IF;
  IF TG_OP = 'UPDATE' AND OLD.hash IS NULL THEN
    RAISE EXCEPTION 'an unsealed row of % may only be sealed (chain_seq, prev_hash and hash set once)',
      TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
  END IF;
  RAISE EXCEPTION 'rows of % are append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END $$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS core_auditevent_append_only ON core_auditevent;
CREATE TRIGGER core_auditevent_append_only BEFORE UPDATE OR DELETE ON core_auditevent
  FOR EACH ROW EXECUTE FUNCTION l2c_audit_seal_only();
"""


@receiver(post_migrate)
def install_append_only_triggers(sender, using="default", **kwargs):
    if getattr(sender, "label", None) != "core":
        return
    from django.db import connections

    conn = connections[using]
    if conn.vendor != "postgresql":
        return
    with conn.cursor() as cursor:
        cursor.execute(APPEND_ONLY_SQL)


def append_only_supported() -> bool:
    return connection.vendor == "postgresql"
