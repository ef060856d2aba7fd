"""The remaining performance obligations as a close leaves them, kept so the reports need not scan every
schedule line (`selectors.future_recognition`, `selectors.remaining_performance_obligations`).

`write_snapshot(close)` runs inside the close, after its recognitions are written and before the ledger month is
locked. Per contract, currency and planned month it writes what is still to be recognised, as rows of the three
parts of `selectors.remaining_queries` (the current version's planned amounts; what was recognised of them,
negative), a month before the first open month counted in that month; then per customer, currency and month
their sum (no contract: what the month and customer reports read, a few rows per customer however many
contracts). The database sums and inserts them (`INSERT … SELECT`, ordered by contract so the index grows at
its end): no row travels through Python. Only the latest close keeps a snapshot (it replaces the older ones);
reopening a month deletes its snapshot (`delete_snapshot`), and the reports compute from the schedule lines
until the next close writes one.

A snapshot stays right after its close: recognitions change only at a close or reopen, and every other change
of what remains (a new contract, a modification, a credit, a termination, a regrouping) makes a new schedule
version, so the reports take the snapshot for the contracts without a version made since the close and compute
the others from their lines.
"""
from __future__ import annotations

from django.db import connection
from django.db.models import DateField, Value
from django.db.models.functions import Greatest

from . import engine
from .models import PeriodClose, RemainingSnapshot, ScheduleVersion

WORK_MEM = "256MB"  # PostgreSQL, for the snapshot's one statement
COLUMNS = ("close_id", "revenue_contract_id", "account_id", "currency", "month", "amount")


def write_snapshot(close: PeriodClose) -> int:
    """Write the snapshot of `close` (its recognitions already written), replacing the older ones; the number
    of rows written."""
    from .selectors import remaining_queries

    open_from = engine.next_month(close.period)

    def bucket(month_field: str):
        return Greatest(month_field, Value(open_from), output_field=DateField())

    quote = connection.ops.quote_name
    table = quote(RemainingSnapshot._meta.db_table)
    columns = ", ".join(quote(RemainingSnapshot._meta.get_field(name).column) for name in COLUMNS)
    parts = [query.query.get_compiler(connection=connection).as_sql() for query in remaining_queries(
        open_from, open_from, bucket, {"rc": "id", "account": "account_id"})]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # the older snapshots go (TRUNCATE: no dead rows to vacuum; readers wait for the close to commit)
            cursor.execute(f"TRUNCATE {table}")
        else:
            cursor.execute(f"DELETE FROM {table}")
        if connection.vendor == "postgresql":
            # a version made after `close.closed_at` is what the reports recompute: wait for the ones being
            # written now to commit (so this snapshot sees them) and hold new ones back until the close commits
            # (SQLite's write transaction already excludes every other writer)
            cursor.execute(f"LOCK TABLE {quote(ScheduleVersion._meta.db_table)} IN SHARE MODE")
            # one big grouping: in memory rather than in batches on disk, and without JIT compilation
            # (measured at 100,000 contracts: 10.6 s with the defaults)
            cursor.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")
            cursor.execute("SET LOCAL jit = off")
        # rows per contract, currency and month: the planned amounts, and what was recognised of them (negative)
        written = 0
        for sql, params in parts:
            cursor.execute(f"INSERT INTO {table} ({columns}) SELECT %s, q.rc, q.account, q.currency, q.bucket, "
                           f"q.total FROM ({sql}) q WHERE q.total <> 0 ORDER BY q.rc", [close.pk, *params])
            written += max(cursor.rowcount, 0)
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL work_mem TO DEFAULT")
            cursor.execute("SET LOCAL jit TO DEFAULT")
        # each customer's sum per currency and month: what the customer and month reports read
        close_id, contract_id = (quote(RemainingSnapshot._meta.get_field(name).column)
                                 for name in ("close", "revenue_contract"))
        cursor.execute(f"INSERT INTO {table} ({columns}) SELECT {close_id}, NULL, account_id, currency, month, "
                       f"SUM(amount) FROM {table} WHERE {close_id} = %s AND {contract_id} IS NOT NULL "
                       f"GROUP BY {close_id}, account_id, currency, month", [close.pk])
        written += max(cursor.rowcount, 0)
        if connection.vendor == "postgresql":  # fresh statistics: the planner knows the table's size at once
            cursor.execute(f"ANALYZE {table}")
    return written


def delete_snapshot(close: PeriodClose) -> None:
    """Drop the snapshot of a reopened close: its recognitions no longer count."""
    RemainingSnapshot.objects.filter(close_id=close.pk).delete()
