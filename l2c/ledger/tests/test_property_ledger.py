"""Property: any sequence of balanced postings (company and foreign currency) and reversals keeps every
entry balanced, the trial balance at zero and the AR subledger equal to the control account."""
import datetime as dt
from decimal import Decimal

from django.db import transaction
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from l2c.core.errors import Conflict
from l2c.ledger import selectors, services, totals
from l2c.ledger.models import JournalEntry, JournalLine
from l2c.ledger.services import Line

from .factories import customer

ACCOUNTS = ["1000", "1100", "1150", "2100", "2200", "2300", "3000", "4000", "6100", "7100", "7200"]
DAY = dt.date(2026, 3, 15)
cents = st.integers(min_value=1, max_value=10**9)
account = st.sampled_from(ACCOUNTS)
who = st.integers(min_value=0, max_value=2)

leg = st.tuples(account, account, cents, who)
post = st.tuples(st.just("post"), st.lists(leg, min_size=1, max_size=4))
fx_split = st.tuples(st.just("fx"), account, account, account, st.integers(min_value=200, max_value=10**8),
                     st.floats(min_value=0.01, max_value=0.99), st.sampled_from(["7.1234", "0.0731", "1.5", "153.27"]),
                     who)
reverse = st.tuples(st.just("reverse"), st.integers(min_value=0, max_value=50))
operations = st.lists(st.one_of(post, fx_split, reverse), min_size=1, max_size=8)


def money(n: int) -> Decimal:
    return Decimal(n).scaleb(-2)


def check_books():
    for entry_id, debit, credit in (JournalLine.objects.values("entry_id")
                                    .annotate(d=Sum("debit"), c=Sum("credit")).values_list("entry_id", "d", "c")):
        assert debit == credit, entry_id
    report = selectors.trial_balance(DAY)
    assert report.balance == 0 and isinstance(report.debit, Decimal)
    assert all(isinstance(value, Decimal) for row in report.rows for value in (row.debit, row.credit, row.balance))
    assert selectors.ar_subledger_matches_control(DAY)
    assert totals.problems() == []  # the month totals follow every posting and reversal


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_random_postings_and_reversals_keep_the_books_balanced(finance, ops):
    with transaction.atomic():
        services.rate_set(actor=finance, currency="USD", date=DAY, rate="7.1234")
        customers = [customer(f"C{i}") for i in range(3)]
        for op in ops:
            if op[0] == "post":
                lines = []
                for debit_account, credit_account, amount, index in op[1]:
                    lines.append(Line(debit_account, debit=money(amount), customer=customers[index]))
                    lines.append(Line(credit_account, credit=money(amount), customer=customers[index]))
                services.post_entry(actor=finance, date=DAY, journal="GENERAL", memo="p", lines=lines)
            elif op[0] == "fx":
                _, debit_account, credit_a, credit_b, total, share, rate, index = op
                part = min(max(int(total * share), 100), total - 100)  # float only splits the integer, never money
                services.post_entry(actor=finance, date=DAY, journal="SALES", memo="fx", lines=[
                    Line(debit_account, debit=money(total), currency="USD", rate=Decimal(rate),
                         customer=customers[index]),
                    Line(credit_a, credit=money(part), currency="USD", rate=Decimal(rate), customer=customers[index]),
                    Line(credit_b, credit=money(total - part), currency="USD", rate=Decimal(rate),
                         customer=customers[index]),
                ])
            else:
                entries = list(JournalEntry.objects.order_by("id").values_list("id", flat=True))
                if entries:
                    try:
                        services.reverse_entry(actor=finance, entry=entries[op[1] % len(entries)])
                    except Conflict:
                        pass  # already reversed, or a reversal: refused, and nothing written
            check_books()
        transaction.set_rollback(True)
