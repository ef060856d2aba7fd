"""The billing run over N active monthly subscriptions: invoices created and posted (with ledger entries) per second.

    .venv/bin/python bench/billing_bench.py --db postgresql --n 100000
    .venv/bin/python bench/billing_bench.py --db sqlite --n 2000

The database starts empty and freshly migrated (an SQLite file in a scratch folder, or the PostgreSQL database
`l2c_billing_bench`, dropped and re-created; BENCH_PG_ADMIN / BENCH_PG_URL override the URLs). The data (N
contracts of one subscription line each, over 1,000 customers, each with its billing schedule item due today)
is written with bulk inserts and is not timed. Then, timed:

  billing run            `l2c.billing.schedules.billing_run(today=...)`: N invoices with their lines, numbers,
                         journal entries (3 lines each: AR, deferred revenue, tax), audit events, items marked
  reference: floor      N × 10 rows (what a run writes per invoice) streamed into a bare table without indexes
                         in one transaction (COPY on PostgreSQL): the database floor, as invoices/s
  reference: N entries   N journal entries through `ledger.post_entry` alone (what posting costs without
                         billing), in batches of 200 per transaction

Target (issue 5): 2,000 invoices/s on PostgreSQL. Prints the figures and appends a JSON line to
bench/results.jsonl.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from django_db import fresh_database, setup  # noqa: E402

PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/l2c_billing_bench")
TODAY = dt.date(2026, 3, 1)
TARGET = 2000


def _fresh_database(db: str) -> str:
    return fresh_database(db, PG_URL, "l2c-billing-bench-")


def _setup(url: str) -> None:
    setup(url)


def build(n: int) -> None:
    """N subscription contracts (one line, 29.00/month + 20 % tax) with one schedule item due TODAY."""
    from django.db import transaction

    from l2c.billing.models import BillingSchedule, BillingScheduleItem
    from l2c.contracts.models import Contract, ContractLine
    from l2c.customers.tests.factories import AccountFactory
    from l2c.pipeline.tests.factories import OpportunityFactory
    from l2c.quoting.models import Quote, QuoteLine, QuoteStatus
    from l2c.quoting.tests.factories import ProductFactory

    product = ProductFactory(kind="subscription", billing_period="month")
    customers = [AccountFactory(country="GB") for _ in range(min(1000, n))]
    opportunities = [OpportunityFactory(account=a, currency="USD") for a in customers]
    net, tax = Decimal("348.00"), Decimal("69.60")
    chunk = 5000
    for start in range(0, n, chunk):
        ids = range(start, min(n, start + chunk))
        with transaction.atomic():
            quotes = Quote.objects.bulk_create([
                Quote(number=f"QUO-B-{i:07d}", opportunity=opportunities[i % len(opportunities)],
                      account=customers[i % len(customers)], status=QuoteStatus.ACCEPTED, currency="USD",
                      quote_date=TODAY, valid_until=TODAY, payment_terms="net_30") for i in ids])
            qlines = QuoteLine.objects.bulk_create([
                QuoteLine(quote=q, position=1, product=product, quantity=1, list_price=net, unit_price=net,
                          tax_rate=20, net_amount=net, tax_amount=tax, gross_amount=net + tax) for q in quotes])
            contracts = Contract.objects.bulk_create([
                Contract(number=f"CTR-B-{i:07d}", account=q.account, opportunity=q.opportunity, quote=q,
                         currency="USD", start_date=TODAY, end_date=TODAY + dt.timedelta(days=364), term_months=12,
                         payment_terms="net_30", net_total=net, tax_total=tax, gross_total=net + tax)
                for i, q in zip(ids, quotes, strict=True)])
            clines = ContractLine.objects.bulk_create([
                ContractLine(contract=c, quote_line=ql, product=product, position=1, description="Seats",
                             quantity=1, list_price=net, unit_price=net, discount_percent=0, tax_rate=20,
                             net_amount=net, tax_amount=tax, gross_amount=net + tax, service_start=TODAY,
                             service_end=c.end_date) for c, ql in zip(contracts, qlines, strict=True)])
            plans = BillingSchedule.objects.bulk_create([BillingSchedule(contract=c) for c in contracts])
            BillingScheduleItem.objects.bulk_create([
                BillingScheduleItem(schedule=p, contract=c, contract_line=cl, kind="recurring", due_date=TODAY,
                                    period_start=TODAY, period_end=TODAY + dt.timedelta(days=30),
                                    quantity=Decimal("0.0833"), net_amount=Decimal("29.00"),
                                    tax_amount=Decimal("5.80"))
                for p, c, cl in zip(plans, contracts, clines, strict=True)])


ROWS_PER_INVOICE = 10  # invoice, invoice line, journal entry, 3 journal lines, 2 audit events, item, 2 seals


def reference_insert(n: int) -> float:
    """The database floor: N × ROWS_PER_INVOICE rows of (id, number, amount, at) streamed into a bare table
    without indexes (COPY on PostgreSQL, executemany INSERT on SQLite), in one transaction."""
    from django.db import connection, transaction
    from django.utils import timezone

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_bare (id integer PRIMARY KEY, number varchar(30), amount numeric(20,4), "
                       "at timestamp)")
    now = timezone.now().replace(tzinfo=None)
    rows = ((i, f"INV-2026-{i:06d}", Decimal("34.80"), now) for i in range(1, n * ROWS_PER_INVOICE + 1))
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy("COPY bench_bare (id, number, amount, at) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            cursor.executemany("INSERT INTO bench_bare (id, number, amount, at) VALUES (%s, %s, %s, %s)", list(rows))
    return time.perf_counter() - started


def reference_entries(n: int) -> float:
    from django.db import transaction

    from l2c.ledger import services as ledger

    started = time.perf_counter()
    for start in range(0, n, 200):
        with transaction.atomic():
            for _ in range(start, min(n, start + 200)):
                ledger.post_entry(actor=None, date=TODAY, journal="general", memo="bench", source_type="bench",
                                  lines=[ledger.Line(account="1000", debit=Decimal("34.80")),
                                         ledger.Line(account="6100", credit=Decimal("34.80"))])
    return time.perf_counter() - started


class _DatabaseClock:
    """Time the run spends waiting for the database: every statement, COPY (with its rows formatted by psycopg)
    and commit (the deferred foreign-key checks run there). N divided by it is what the run could reach if all
    of its Python took no time at all, on one connection."""

    def __init__(self):
        self.seconds = 0.0

    def install(self) -> None:
        from contextlib import contextmanager

        import psycopg
        from django.db import connection

        clock = self
        self._copy, self._commit = psycopg.Cursor.copy, psycopg.Connection.commit
        real_copy, real_commit = self._copy, self._commit

        @contextmanager
        def copy(cursor, statement, *args, **kwargs):
            began = time.perf_counter()
            try:
                with real_copy(cursor, statement, *args, **kwargs) as handle:
                    yield handle
            finally:
                clock.seconds += time.perf_counter() - began

        def commit(conn):
            began = time.perf_counter()
            try:
                real_commit(conn)
            finally:
                clock.seconds += time.perf_counter() - began

        def execute(run, sql, params, many, context):
            began = time.perf_counter()
            try:
                return run(sql, params, many, context)
            finally:
                clock.seconds += time.perf_counter() - began

        psycopg.Cursor.copy, psycopg.Connection.commit = copy, commit
        self._wrapper = connection.execute_wrappers
        connection.execute_wrappers.append(execute)

    def remove(self) -> None:
        import psycopg

        psycopg.Cursor.copy, psycopg.Connection.commit = self._copy, self._commit
        self._wrapper.pop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--reference-n", type=int, default=None, help="N of the post_entry reference (default N)")
    parser.add_argument("--profile", metavar="FILE", help="also write a cProfile of the run to FILE")
    args = parser.parse_args()
    _setup(_fresh_database(args.db))
    from django.db import connection

    from l2c.billing import schedules
    from l2c.billing.models import Invoice
    from l2c.ledger.models import JournalEntry

    t0 = time.perf_counter()
    build(args.n)
    print(f"data: {args.n} contracts in {time.perf_counter() - t0:.1f} s", flush=True)
    from l2c.core import audit

    sealing = [0.0]
    seal_pending = audit.seal_pending

    def timed_seal(*args, **kwargs):  # the run seals its audit events after each batch commits
        began = time.perf_counter()
        try:
            return seal_pending(*args, **kwargs)
        finally:
            sealing[0] += time.perf_counter() - began

    audit.seal_pending = timed_seal
    started = time.perf_counter()
    database = _DatabaseClock()
    database.install()
    if args.profile:
        import cProfile

        with cProfile.Profile() as profile:
            summary = schedules.billing_run(today=TODAY)
        profile.dump_stats(args.profile)
    else:
        summary = schedules.billing_run(today=TODAY)
    run_s = time.perf_counter() - started
    database.remove()
    audit.seal_pending = seal_pending
    assert audit.unsealed_count() == 0
    assert summary.errors == [], summary.errors[:3]
    assert summary.invoices == args.n == Invoice.objects.filter(status="posted").count()
    assert JournalEntry.objects.filter(source_type="billing.invoice").count() == args.n
    insert_s = reference_insert(args.n)
    ref_n = args.reference_n or args.n
    entries_s = reference_entries(ref_n)
    result = {
        "bench": "billing_run", "db": connection.vendor, "n": args.n,
        "run_s": round(run_s, 2), "invoices_per_s": round(args.n / run_s, 1),
        "of_which_audit_sealing_s": round(sealing[0], 2),
        "of_which_waiting_for_the_database_s": round(database.seconds, 2),
        "database_bound_invoices_per_s": round(args.n / database.seconds, 1),
        "reference_floor_invoices_per_s": round(args.n / insert_s, 1),
        "reference_floor_rows_per_s": round(args.n * ROWS_PER_INVOICE / insert_s, 1),
        "reference_post_entry_n": ref_n, "reference_post_entry_per_s": round(ref_n / entries_s, 1),
        "target_invoices_per_s": TARGET, "meets_target": args.n / run_s >= TARGET,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "at": dt.datetime.now().isoformat(timespec="seconds"),
    }
    print(json.dumps(result, indent=2))
    with open(ROOT / "bench" / "results.jsonl", "a") as out:
        out.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
