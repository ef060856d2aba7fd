"""The table of the embedded default cache (l2c.core.cache.DatabaseCache, settings.CACHES), which keeps
the web-form rate-limit counters shared between gunicorn processes. Same layout as Django's
`createcachetable` (UNLOGGED on PostgreSQL); harmless (unused) when CACHE_URL points at Redis."""

from django.db import migrations

TABLE = "l2c_cache"


def create(apps, schema_editor):
    from django.core.management.commands.createcachetable import Command

    command = Command()
    command.verbosity = 0
    command.create_table(schema_editor.connection.alias, TABLE, dry_run=False)
    if schema_editor.connection.vendor == "postgresql":
        # a cache may lose its rows in a crash: UNLOGGED writes no WAL, so a counter's commit does not
        # wait for a disk flush (6 ms on a VM disk, paid on every rate-limited request otherwise)
        schema_editor.execute(f"ALTER TABLE {schema_editor.connection.ops.quote_name(TABLE)} SET UNLOGGED")


def drop(apps, schema_editor):
    connection = schema_editor.connection
    if TABLE in connection.introspection.table_names():
        schema_editor.execute(f"DROP TABLE {connection.ops.quote_name(TABLE)}")


class Migration(migrations.Migration):

    dependencies = [
        ("leads", "0005_duplicates"),
    ]

    operations = [
        migrations.RunPython(create, drop, elidable=False),
    ]
