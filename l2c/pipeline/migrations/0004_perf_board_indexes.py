"""PostgreSQL indexes for the Kanban board and the opportunity list at scale (200,000 opportunities).

- the cards of an open column: (stage, amount DESC, expected close date, id), the board's order, and
  the same per owner for a rep's board, and for the won and lost columns;
- the column heads' counts and sums, computed in SQL: open deals from a partial covering index
  (index-only scan), recently closed ones by closing time;
- the list's open deals by amount (NULLS LAST, as core.listing orders);
- a record's activities panel (open ones, then the latest done ones) on a busy deal, lead, account or
  contact: one small partial index per kind of record.
SQLite gets none of these; the migration does nothing there.
"""
from django.db import migrations

INDEXES = {
    "pipeline_opp_perf_board_cards": "(stage_id, amount DESC, expected_close_date, id) WHERE closed_at IS NULL",
    "pipeline_opp_perf_board_closed_cards": "(stage_id, amount DESC, expected_close_date, id) "
                                            "WHERE closed_at IS NOT NULL",
    "pipeline_opp_perf_board_own_cards": "(owner_id, stage_id, amount DESC, expected_close_date, id) "
                                         "WHERE closed_at IS NULL",
    "pipeline_opp_perf_open_sums": "(stage_id, currency) INCLUDE (amount, owner_id, id) WHERE closed_at IS NULL",
    "pipeline_opp_perf_closed_sums": "(closed_at) INCLUDE (stage_id, currency, amount, owner_id, id) "
                                     "WHERE closed_at IS NOT NULL",
    "pipeline_opp_perf_amount": "(amount DESC NULLS LAST, id DESC) INCLUDE (owner_id, closed_at)",
}


ACTIVITY_TARGETS = ("opportunity", "lead", "account", "contact")


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, definition in INDEXES.items():
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON pipeline_opportunity {definition}")
    for target in ACTIVITY_TARGETS:
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS pipeline_activity_perf_{target} ON pipeline_activity "
                              f"({target}_id, done_at DESC, id DESC) WHERE {target}_id IS NOT NULL")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in [*INDEXES, *(f"pipeline_activity_perf_{t}" for t in ACTIVITY_TARGETS)]:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [
        ("pipeline", "0003_field_labels"),
    ]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
