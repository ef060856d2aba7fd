"""On PostgreSQL a trigger refuses UPDATE and DELETE of posted entries and lines, even by raw SQL."""
import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError

from .factories import customer, invoice_entry

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger exists on PostgreSQL only")


@pytest.mark.parametrize("sql", [
    "UPDATE ledger_journalentry SET memo = 'edited' WHERE id = %s",
    "DELETE FROM ledger_journalentry WHERE id = %s",
    "UPDATE ledger_journalline SET debit = debit + 1 WHERE entry_id = %s",
    "DELETE FROM ledger_journalline WHERE entry_id = %s",
])
def test_raw_sql_cannot_change_posted_rows(finance, sql):
    entry = invoice_entry(finance, customer())
    with pytest.raises(DatabaseError, match="cannot be changed or deleted"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [entry.pk])
    entry.refresh_from_db()
    assert entry.memo == "Invoice" and entry.lines.count() == 3
    assert sum(line.debit for line in entry.lines.all()) == sum(line.credit for line in entry.lines.all())
