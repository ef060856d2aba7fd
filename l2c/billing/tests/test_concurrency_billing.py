"""On PostgreSQL: invoices posted concurrently, some rolled back, get numbers 1..N without gap or duplicate."""
import datetime as dt
import threading

import pytest
from django.db import connection, connections, transaction

from l2c.billing import services
from l2c.billing.models import Invoice, InvoiceStatus
from l2c.ledger.models import JournalEntry

from .factories import make_contract

DAY = dt.date(2026, 3, 10)
THREADS = 20


class ForcedRollback(Exception):
    pass


@pytest.mark.django_db(transaction=True)
def test_concurrent_postings_with_rollbacks_give_gapless_numbers(finance):
    if connection.vendor != "postgresql":
        pytest.skip("row locks under real concurrency: PostgreSQL only")
    drafts = [services.invoice_create_from_contract(actor=finance, contract=make_contract(start=DAY), issue_date=DAY)
              for _ in range(THREADS)]
    rollback = {invoice.pk for index, invoice in enumerate(drafts) if index % 4 == 0}
    barrier = threading.Barrier(THREADS)
    failures = []

    def work(invoice):
        try:
            barrier.wait(timeout=30)
            with transaction.atomic():
                services.invoice_post(actor=finance, invoice=invoice)
                if invoice.pk in rollback:
                    raise ForcedRollback
        except ForcedRollback:
            pass
        except Exception as exc:  # pragma: no cover - reported below
            failures.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(invoice,)) for invoice in drafts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures
    posted = Invoice.objects.filter(status=InvoiceStatus.POSTED)
    n = THREADS - len(rollback)
    assert posted.count() == n
    numbers = sorted(int(number.rsplit("-", 1)[1]) for number in posted.values_list("number", flat=True))
    assert numbers == list(range(1, n + 1))
    assert Invoice.objects.filter(pk__in=rollback, status=InvoiceStatus.DRAFT, number__isnull=True).count() == len(
        rollback)
    assert JournalEntry.objects.count() == n
