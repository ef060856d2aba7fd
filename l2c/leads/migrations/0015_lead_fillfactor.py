"""Leave half of every page of leads_lead free (PostgreSQL `fillfactor = 50`), so that re-scoring, which
rewrites `score` on every lead, writes each new row version on the row's own page as a HOT update: no new
entry in any of the table's ~30 indexes (no index contains `score`, see 0014), and the old version is pruned
by a later visit. Half, because then every row's next version fits beside it whatever the row's size: at 70
or 80 only part of a page's rows fit, the rest move to new pages and write every index, and the table ends
up bigger than at 50 after one re-score. Measured on 200,000 leads (docs/benchmarks.md, lead scoring),
writing every lead's score in 50,000-row transactions: 11.3 s per 100k packed, 7.0 at 70, 4.4 at 60, 0.9 at
50 (every update HOT, the heap no bigger afterwards).

Only pages written from now on get the free room: an existing table keeps its packed pages until it is
rewritten, with `VACUUM FULL leads_lead` (which locks the table while it runs) or pg_repack. SQLite has no
such setting; the migration does nothing there.
"""
from django.db import migrations

FILLFACTOR = 50


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE leads_lead SET (fillfactor = {FILLFACTOR})")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE leads_lead RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0014_drop_lead_board_score_index"),
    ]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
