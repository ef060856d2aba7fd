"""PostgreSQL guards installed after every migrate: audit rows cannot be updated or deleted,
not even with raw SQL (a superuser must first disable the trigger, which verify-audit still catches)."""
from django.db import connection
from django.db.models.signals import post_migrate
from django.dispatch import receiver

APPEND_ONLY_SQL = """
CREATE OR REPLACE FUNCTION l2c_append_only() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'rows of % are append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END $$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS core_auditevent_append_only ON core_auditevent;
CREATE TRIGGER core_auditevent_append_only BEFORE UPDATE OR DELETE ON core_auditevent
  FOR EACH ROW EXECUTE FUNCTION l2c_append_only();
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
