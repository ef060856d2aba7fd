"""Monthly totals of the ledger (`MonthTotal`): the posted lines summed per account, month, journal and source
type.

Every posting adds its lines here in its own transaction (`add`, called by `services._write_many`, the one
place entries are written), with one upsert per distinct key in a fixed order, so that two postings touching
the same totals wait for each other rather than deadlock. Posted lines never change, so the totals only ever
grow; a reversal is a new entry and adds its mirror. `rebuild()` recomputes everything from the lines (the
migration that created the table, and bulk loaders that write lines directly); `problems()` compares the two.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

from django.db import connection

from .models import JournalEntry, JournalLine, MonthTotal

CENT = Decimal("0.01")
KEY = ("account_id", "month", "journal_id", "source_type")


def add(rows) -> None:
    """`rows`: (account id, entry date, journal id, source type, debit, credit) of lines just written."""
    sums: dict[tuple, list] = defaultdict(lambda: [Decimal(0), Decimal(0), 0])
    for account_id, date, journal_id, source_type, debit, credit in rows:
        found = sums[(account_id, date.replace(day=1), journal_id, source_type or "")]
        found[0] += debit
        found[1] += credit
        found[2] += 1
    if not sums:
        return
    quote = connection.ops.quote_name
    table = quote(MonthTotal._meta.db_table)
    key = ", ".join(quote(name) for name in KEY)
    values = [(*k, debit, credit, count) for k, (debit, credit, count) in sorted(sums.items())]
    sql = (f"INSERT INTO {table} ({key}, debit, credit, lines) VALUES (%s, %s, %s, %s, %s, %s, %s) "
           f"ON CONFLICT ({key}) DO UPDATE SET debit = {table}.debit + EXCLUDED.debit, "
           f"credit = {table}.credit + EXCLUDED.credit, lines = {table}.lines + EXCLUDED.lines")
    with connection.cursor() as cursor:
        for row in values:  # one at a time, in key order: the lock order every posting follows
            cursor.execute(sql, row)


def _grouped_sql() -> str:
    quote = connection.ops.quote_name
    lines, entries = quote(JournalLine._meta.db_table), quote(JournalEntry._meta.db_table)
    month = ("CAST(date_trunc('month', e.date) AS date)" if connection.vendor == "postgresql"
             else "date(e.date, 'start of month')")
    return (f"SELECT l.account_id, {month}, e.journal_id, e.source_type, SUM(l.debit), SUM(l.credit), COUNT(*) "
            f"FROM {lines} l JOIN {entries} e ON e.id = l.entry_id GROUP BY l.account_id, {month}, e.journal_id, "
            "e.source_type")


def rebuild() -> int:
    """Recompute every total from the posted lines; the number of totals."""
    quote = connection.ops.quote_name
    table = quote(MonthTotal._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table}")
        cursor.execute(f"INSERT INTO {table} ({', '.join(quote(n) for n in KEY)}, debit, credit, lines) "
                       + _grouped_sql())
        return max(cursor.rowcount, 0)


def problems() -> list[str]:
    """Where the totals differ from the sums of the lines (empty when they agree)."""
    with connection.cursor() as cursor:
        cursor.execute(_grouped_sql())
        truth = {(a, _day(m), j, s or ""): (_cents(d), _cents(c), n) for a, m, j, s, d, c, n in cursor.fetchall()}
    kept = {(t.account_id, t.month, t.journal_id, t.source_type): (t.debit, t.credit, t.lines)
            for t in MonthTotal.objects.all()}
    return [f"account #{key[0]}, {key[1]:%Y-%m}, journal #{key[2]}, source {key[3] or '-'}: the lines sum to "
            f"{_shown(truth.get(key))}, the total says {_shown(kept.get(key))}"
            for key in sorted(set(truth) | set(kept), key=str) if truth.get(key) != kept.get(key)]


def _shown(sums) -> str:
    return "nothing" if sums is None else f"debit {sums[0]}, credit {sums[1]} ({sums[2]} lines)"


def _cents(value) -> Decimal:
    """A sum as the database returns it (SQLite: a float) to the cent, as the ORM reads the totals."""
    return Decimal(str(value)).quantize(CENT)


def _day(value) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])
