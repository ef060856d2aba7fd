"""PostgreSQL indexes for the lead list at scale (a million leads): one per filter + ordering the list
offers by default, covering what the visibility rule and the "not merged" filter read, so the page's
id query is an index-only scan; and pg_trgm GIN indexes for the search box (icontains).

Django orders with NULLS LAST (core.listing), and Django's icontains is UPPER(col::text) LIKE
UPPER(...): the indexes are declared exactly so, or the planner cannot use them. SQLite gets none of
these (its lists are small and its planner differs); the migration does nothing there.
"""
from django.db import migrations

COVER = "INCLUDE (owner_id, merged_into_id)"
INDEXES = {
    "leads_lead_perf_status_company": f"(status, company, id) {COVER}",
    "leads_lead_perf_status_last_name": f"(status, last_name, first_name, id) {COVER}",
    "leads_lead_perf_created": "(created_at DESC NULLS LAST, id DESC) INCLUDE (owner_id, status, merged_into_id)",
    "leads_lead_perf_owner_status_created": "(owner_id, status, created_at DESC NULLS LAST, id DESC)",
}
SEARCH_FIELDS = ("first_name", "last_name", "email", "company", "phone")  # leads.selectors.LEAD_SEARCH


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, definition in INDEXES.items():
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON leads_lead {definition}")
    for field in SEARCH_FIELDS:
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS leads_lead_trgm_{field} ON leads_lead "
                              f"USING gin (UPPER({field}::text) gin_trgm_ops)")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in [*INDEXES, *(f"leads_lead_trgm_{f}" for f in SEARCH_FIELDS)]:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0007_lead_email_lower_index"),
    ]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
