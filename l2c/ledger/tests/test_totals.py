"""The ledger's month totals: kept by every posting, equal to the lines summed, rebuilt from them."""
import datetime as dt
from decimal import Decimal as D

from l2c.ledger import services, totals
from l2c.ledger.models import Journal, LedgerAccount, MonthTotal
from l2c.ledger.services import Entry, Line

from .factories import customer


def _totals() -> dict:
    account = dict(LedgerAccount.objects.values_list("pk", "code"))
    journal = dict(Journal.objects.values_list("pk", "code"))
    return {(account[t.account_id], t.month.isoformat(), journal[t.journal_id], t.source_type): (t.debit, t.credit, t.lines)
            for t in MonthTotal.objects.all()}


def test_postings_reversals_and_bulk_postings_keep_the_month_totals(finance):
    # given postings in two months, two journals and two sources, a bulk posting and a reversal
    first = services.post_entry(actor=finance, date=dt.date(2026, 1, 5), journal="GENERAL", memo="a", lines=[
        Line("1000", debit=D("100.10")), Line("4000", credit=D("100.10"))])
    services.post_entry(actor=finance, date=dt.date(2026, 1, 31), journal="GENERAL", memo="b", lines=[
        Line("1000", debit=D("0.20")), Line("4000", credit=D("0.20"))])
    buyer = customer("Buyer")
    services.post_entries(actor=None, entries=[
        Entry(date=dt.date(2026, 2, 1), journal="SALES", memo=f"inv {i}", source_type="billing.invoice", source_id=i,
              lines=[Line("1100", debit=D("12.00"), customer=buyer), Line("2100", credit=D("10.00")), Line("2300", credit=D("2.00"))])
        for i in range(1, 4)])
    services.reverse_entry(actor=finance, entry=first, date=dt.date(2026, 2, 10))
    # then each account, month, journal and source sums its lines
    assert _totals() == {
        ("1000", "2026-01-01", "GENERAL", ""): (D("100.30"), D("0.00"), 2),
        ("4000", "2026-01-01", "GENERAL", ""): (D("0.00"), D("100.30"), 2),
        ("1100", "2026-02-01", "SALES", "billing.invoice"): (D("36.00"), D("0.00"), 3),
        ("2100", "2026-02-01", "SALES", "billing.invoice"): (D("0.00"), D("30.00"), 3),
        ("2300", "2026-02-01", "SALES", "billing.invoice"): (D("0.00"), D("6.00"), 3),
        ("1000", "2026-02-01", "GENERAL", ""): (D("0.00"), D("100.10"), 1),
        ("4000", "2026-02-01", "GENERAL", ""): (D("100.10"), D("0.00"), 1),
    }
    assert totals.problems() == []


def test_a_refused_posting_adds_nothing(finance):
    services.post_entry(actor=finance, date=dt.date(2026, 1, 5), journal="GENERAL", memo="a", lines=[
        Line("1000", debit=D("5.00")), Line("4000", credit=D("5.00"))])
    before = _totals()
    try:
        services.post_entries(actor=None, entries=[
            Entry(date=dt.date(2026, 1, 6), journal="SALES", memo="x", source_type="billing.invoice", source_id=1,
                  lines=[Line("1100", debit=D("5.00")), Line("2100", credit=D("4.00"))])])  # unbalanced
    except Exception:  # noqa: BLE001 - the refusal itself is tested with the posting rules
        pass
    assert _totals() == before


def test_rebuild_recomputes_the_totals_from_the_lines_and_problems_names_a_difference(finance):
    services.post_entry(actor=finance, date=dt.date(2026, 3, 9), journal="GENERAL", memo="a", lines=[
        Line("1000", debit=D("7.77")), Line("4000", credit=D("7.77"))])
    kept = _totals()
    MonthTotal.objects.filter(account__code="1000").update(debit=D("1.00"))
    MonthTotal.objects.filter(account__code="4000").delete()
    found = totals.problems()
    assert len(found) == 2 and all("2026-03" in text for text in found)
    assert any("the total says nothing" in text for text in found)
    assert totals.rebuild() == 2
    assert _totals() == kept and totals.problems() == []
