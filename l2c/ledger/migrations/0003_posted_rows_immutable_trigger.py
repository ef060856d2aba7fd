"""PostgreSQL: posted journal entries and lines cannot be changed or deleted, not even by raw SQL.

A trigger refuses every UPDATE and DELETE on ledger_journalentry and ledger_journalline; corrections are
reversing entries. SQLite has no such guard (the models refuse instead): the migration does nothing there.
"""

from django.db import migrations

INSTALL = """
CREATE OR REPLACE FUNCTION l2c_ledger_posted_immutable() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'posted rows of % cannot be changed or deleted; post a reversing entry', TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END $$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS ledger_journalentry_immutable ON ledger_journalentry;
CREATE TRIGGER ledger_journalentry_immutable BEFORE UPDATE OR DELETE ON ledger_journalentry
  FOR EACH ROW EXECUTE FUNCTION l2c_ledger_posted_immutable();
DROP TRIGGER IF EXISTS ledger_journalline_immutable ON ledger_journalline;
CREATE TRIGGER ledger_journalline_immutable BEFORE UPDATE OR DELETE ON ledger_journalline
  FOR EACH ROW EXECUTE FUNCTION l2c_ledger_posted_immutable();
"""

REMOVE = """
DROP TRIGGER IF EXISTS ledger_journalentry_immutable ON ledger_journalentry;
DROP TRIGGER IF EXISTS ledger_journalline_immutable ON ledger_journalline;
DROP FUNCTION IF EXISTS l2c_ledger_posted_immutable();
"""


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:  # no parameters: the % of RAISE stays as is
            cursor.execute(INSTALL)


def remove(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(REMOVE)


class Migration(migrations.Migration):

    dependencies = [("ledger", "0002_seed_chart_and_journals")]

    operations = [migrations.RunPython(install, remove, elidable=False)]
