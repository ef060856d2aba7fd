"""Leave half of every page of nurture_leadscore free (PostgreSQL `fillfactor = 50`), so that re-scoring,
which overwrites every lead's score row (INSERT … ON CONFLICT DO UPDATE, nurture.scoring.services._write),
writes each new row version on the row's own page as a HOT update: its only index is the primary key, which
the update does not change. Measured on 200,000 rows (docs/benchmarks.md, lead scoring): 1.7–2.1 s per 100k
against 2.0–2.6 s with packed pages, and the table stays the same size from one re-score to the next.

Only pages written from now on get the free room: an existing table keeps its packed pages until it is
rewritten, with `VACUUM FULL nurture_leadscore` (which locks the table while it runs) or pg_repack. SQLite has
no such setting; the migration does nothing there.
"""
from django.db import migrations

FILLFACTOR = 50


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE nurture_leadscore SET (fillfactor = {FILLFACTOR})")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE nurture_leadscore RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [
        ("nurture", "0003_sequences"),
    ]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
