"""On PostgreSQL: dunning runs started at the same moment send each customer's reminder once."""
import datetime as dt
import threading

import pytest
from django.db import connection, connections

from l2c.receivables import services
from l2c.receivables.models import DunningEvent

from .support import customer, posted_invoice

DAY = dt.date(2026, 1, 5)
THREADS = 4


@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_send_once(smtp, finance, rep):
    if connection.vendor != "postgresql":
        pytest.skip("row locks under real concurrency: PostgreSQL only")
    accounts = [customer(rep, email=f"ap{n}@c{n}.example") for n in range(3)]
    for account in accounts:
        posted_invoice(finance, account=account, issue_date=DAY)
        posted_invoice(finance, account=account, issue_date=DAY)
    barrier = threading.Barrier(THREADS)
    failures = []

    def work():
        try:
            barrier.wait(timeout=30)
            services.run_dunning(DAY + dt.timedelta(days=40))
        except Exception as exc:  # pragma: no cover - reported below
            failures.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures
    assert sorted(m["To"] for m in smtp.messages) == sorted(f"ap{n}@c{n}.example" for n in range(3))
    assert DunningEvent.objects.count() == 6
