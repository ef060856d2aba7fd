"""`post_entries`: many document entries at once, by the same rules as `post_entry`, all or none."""
import datetime as dt

import pytest

from l2c.core import audit
from l2c.core.errors import ValidationFailed
from l2c.core.models import AuditEvent
from l2c.ledger import services
from l2c.ledger.models import JournalEntry, JournalLine, Period
from l2c.ledger.services import Entry, Line

from .factories import DAY, D, customer

pytestmark = pytest.mark.django_db


def sale(cust, n: int, *, date=DAY, gross="113.00", net="100.00", tax="13.00", currency="", journal="SALES"):
    return Entry(date=date, journal=journal, memo=f"Invoice {n}", source_type="billing.invoice", source_id=n,
                 source_label=f"INV-{n}", lines=[
                     Line("1100", debit=D(gross), customer=cust.pk, currency=currency),
                     Line("2100", credit=D(net), currency=currency), Line("2200", credit=D(tax), currency=currency)])


def lines_of(entry):
    return [(line.account.code, line.debit, line.credit, line.currency, line.amount, line.rate, line.customer_id,
             line.description) for line in entry.lines.order_by("line_no")]


def test_bulk_entries_equal_single_postings_numbered_in_order_and_audited(finance):
    cust = customer()
    single = services.post_entry(actor=finance, date=DAY, journal="SALES", memo="Invoice 0",
                                 source_type="billing.invoice", source_id=99, source_label="INV-0",
                                 lines=sale(cust, 0).lines)
    entries = services.post_entries(actor=None, entries=[sale(cust, n) for n in range(1, 4)]
                                    + [sale(cust, 4, date=dt.date(2027, 1, 5))])
    assert [e.number for e in entries] == ["JE-SALES-2026-000002", "JE-SALES-2026-000003", "JE-SALES-2026-000004",
                                           "JE-SALES-2027-000001"]
    assert [e.source_id for e in entries] == [1, 2, 3, 4]
    for entry in entries:
        entry.refresh_from_db()
        assert lines_of(entry) == lines_of(single)
        assert entry.posted_by is None and entry.posted_at is not None
    events = AuditEvent.objects.filter(object_type="ledger.journalentry", object_id__in=[str(e.pk) for e in entries])
    assert events.count() == 4
    assert events.get(object_id=str(entries[0].pk)).changes["posted_lines"][1][0]["account"] == "1100"
    assert audit.verify_chain()[1] is None


def test_foreign_currency_entries_convert_like_a_single_posting(finance):
    cust = customer()
    services.rate_set(actor=finance, currency="USD", date=DAY, rate="7.1234")
    (entry,) = services.post_entries(actor=None, entries=[sale(cust, 1, currency="USD", gross="10.01",
                                                               net="8.86", tax="1.15")])
    single = services.post_entry(actor=finance, date=DAY, journal="SALES", memo="x", source_type="billing.invoice",
                                 source_id=1, lines=sale(cust, 1, currency="USD", gross="10.01", net="8.86",
                                                         tax="1.15").lines)
    assert lines_of(entry) == lines_of(single)
    assert sum(line.debit - line.credit for line in entry.lines.all()) == 0


def test_one_bad_entry_refuses_the_whole_batch_naming_the_entry_and_line(finance):
    cust = customer()
    good, bad = sale(cust, 1), sale(cust, 2, gross="114.00")
    missing_customer = sale(cust, 3)
    missing_customer.lines[0].customer = None
    unknown_account = sale(cust, 4)
    unknown_account.lines[1].account = "9999"
    with pytest.raises(ValidationFailed) as exc:
        services.post_entries(actor=None, entries=[good, bad, missing_customer, unknown_account])
    assert {(e.field, e.code) for e in exc.value.errors} == {
        ("entries.1.lines", "unbalanced"), ("entries.2.lines.0.customer", "customer_required"),
        ("entries.3.lines.1.account", "not_found")}
    assert JournalEntry.objects.count() == 0 and JournalLine.objects.count() == 0


def test_bulk_posting_is_for_documents_and_refuses_a_locked_period(finance):
    cust = customer()
    manual = sale(cust, 1)
    manual.source_type = ""
    with pytest.raises(ValidationFailed) as exc:
        services.post_entries(actor=finance, entries=[manual])
    assert exc.value.errors[0].field == "entries.0.source_type"
    services.period_lock(actor=finance, year=2026, month=2)
    with pytest.raises(ValidationFailed) as exc:
        services.post_entries(actor=None, entries=[sale(cust, 1), sale(cust, 2, date=dt.date(2026, 2, 27))])
    assert exc.value.errors[0].code == "period_locked" and "2026-02" in exc.value.errors[0].message
    assert JournalEntry.objects.count() == 0
    assert Period.objects.get(year=2026, month=2).is_locked


def test_unknown_journal_and_customer_are_named(finance):
    cust = customer()
    wrong_journal = sale(cust, 1, journal="NOPE")
    ghost = sale(cust, 2)
    ghost.lines[0].customer = 987654
    with pytest.raises(ValidationFailed) as exc:
        services.post_entries(actor=None, entries=[wrong_journal, ghost])
    assert {("entries.0.journal", "not_found"), ("entries.1.lines.0.customer", "not_found")} <= {
        (e.field, e.code) for e in exc.value.errors}


def test_nothing_to_post_posts_nothing():
    assert services.post_entries(actor=None, entries=[]) == []
