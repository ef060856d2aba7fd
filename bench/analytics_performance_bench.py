"""The bottleneck and sales performance reports (l2c/analytics/bottlenecks.py, performance.py) at scale: time per
report and role, in ms, on PostgreSQL.

    .venv/bin/python bench/analytics_performance_bench.py --build            # fill l2c_analytics_perf, then time
    .venv/bin/python bench/analytics_performance_bench.py                    # time again on the filled database
    .venv/bin/python bench/analytics_performance_bench.py --build --leads 1000 --activities 1000   # lighter fill

--build runs bench/scale_data.py (default 1,000,000 leads, 200,000 opportunities with their stage history, 50
users in 5 teams; leads and activities are not read by these reports, so they may be made smaller) into a
re-created database, then adds with COPY what these reports read beyond the pipeline: a quote for every
opportunity that got past Prospecting (half of them through a discount approval, the later ones sent and the won
ones accepted), 100,000 posted invoices over the last year (about 60 % paid, each with its payment and
allocation) and a quarterly quota per rep. Nothing of the fill is timed.

Timed (best of 3 after a warm-up): `bottlenecks` and `sales_performance` for the admin, a manager and a rep, over
the default range (the last 90 days) and over the last 365 days. Target (issue 8): each under 500 ms.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from django_db import best_ms  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/l2c_analytics_perf"
INVOICES = 100_000


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def build(url: str, args) -> None:
    import scale_data

    scale_data.main(["--url", url, "--recreate", "--leads", str(args.leads), "--activities", str(args.activities),
                     "--opportunities", str(args.opportunities), "--accounts", str(args.accounts),
                     "--contacts", str(args.contacts)])
    add_quotes_invoices_quotas(args.invoices)


def add_quotes_invoices_quotas(n_invoices: int) -> None:
    from django.db import connection

    rng = random.Random("analytics-performance")
    add_quotes(rng)
    add_invoices(rng, n_invoices)
    quotas = add_quotas()
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
    log(f"quotas: {quotas}; VACUUM ANALYZE done")


def _past_prospecting():
    from l2c.pipeline.models import Opportunity, Stage

    first = Stage.objects.order_by("order", "id").first()
    return Opportunity.objects.exclude(stage=first)


def _copy_tables(tables) -> None:
    """COPY each (Table, rows) with its secondary indexes dropped and rebuilt, then move its id sequence on."""
    from django.db import connection
    from scale_data import copy_rows, drop_secondary_indexes

    with connection.cursor() as django_cursor:
        cur = django_cursor.cursor
        cur.execute("SET session_replication_role = replica")
        for table, rows in tables:
            start = time.perf_counter()
            dropped = drop_secondary_indexes(cur, table.name)
            count = copy_rows(cur, table, rows)
            for definition in dropped:
                cur.execute(definition)
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), (SELECT max(id) FROM "
                        f'"{table.name}"))')
            log(f"{table.name}: {count:,} rows in {time.perf_counter() - start:.1f} s")
        cur.execute("SET session_replication_role = origin")


def add_quotes(rng: random.Random) -> None:
    """A quote for every opportunity past Prospecting (quote i: the i-th of them by id order), half through a
    discount approval; sent, and accepted when the opportunity is won."""
    from django.utils import timezone
    from scale_data import Table

    from l2c.pipeline.models import Stage
    from l2c.quoting.models import Quote, QuoteApproval

    won = set(Stage.objects.filter(is_won=True).values_list("pk", flat=True))
    opportunities = list(_past_prospecting().values_list("pk", "account_id", "owner_id", "currency", "created_at",
                                                         "stage_id", "closed_at"))
    quote_table, approval_table = Table(Quote), Table(QuoteApproval)
    now = timezone.now()
    quotes, approvals = [], []
    for i, (pk, account, owner, currency, created, stage, closed) in enumerate(opportunities, start=1):
        end = closed or now
        submitted = created + (end - created) * 0.3
        approved = submitted + dt.timedelta(hours=rng.randrange(1, 24 * 10))
        sent = approved + dt.timedelta(hours=rng.randrange(1, 48))
        accepted = sent + dt.timedelta(hours=rng.randrange(1, 24 * 20)) if stage in won else None
        status = "accepted" if accepted else "sent"
        quotes.append(quote_table.row(
            id=i, number=f"QUO-B-{i:07d}", version=1, opportunity_id=pk, account_id=account, owner_id=owner,
            status=status, currency=currency, quote_date=submitted.date(), valid_until=(sent + dt.timedelta(
                days=30)).date(), payment_terms="net_30", approved_at=approved, sent_at=sent,
            accepted_at=accepted, created_at=submitted, updated_at=accepted or sent, is_primary=True))
        if i % 2:
            approvals.append(approval_table.row(
                id=len(approvals) + 1, quote_id=i, rule_name="Discount over 15 %", level=1,
                approver_roles=json.dumps(["manager"]), reason="Overall discount 20 % is over 15 %",
                status="approved", requested_at=submitted, decided_at=approved))
    _copy_tables([(quote_table, quotes), (approval_table, approvals)])


def add_invoices(rng: random.Random, n_invoices: int) -> None:
    """`n_invoices` posted invoices over the last year (no contract), about 60 % paid with their payment and
    allocation."""
    from django.db.models import Max
    from django.utils import timezone
    from scale_data import Table

    from l2c.billing.models import Invoice, Payment, PaymentAllocation

    invoice_table, payment_table, allocation_table = Table(Invoice), Table(Payment), Table(PaymentAllocation)
    now = timezone.now()
    rows, payments, allocations = [], [], []
    n_accounts = _past_prospecting().aggregate(n=Max("account_id"))["n"]
    today = now.date()
    for i in range(1, n_invoices + 1):
        issued = today - dt.timedelta(days=rng.randrange(0, 365))
        gross = Decimal(rng.randrange(10, 5000) * 100)
        paid = rng.random() < 0.6
        account = rng.randrange(1, n_accounts + 1)
        rows.append(invoice_table.row(
            id=i, number=f"INV-B-{i:07d}", status="paid" if paid else "posted", account_id=account,
            currency="USD", issue_date=issued, due_date=issued + dt.timedelta(days=30), payment_terms="net_30",
            net_total=gross, gross_total=gross, amount_paid=gross if paid else 0, balance=0 if paid else gross,
            ar_base=gross, ar_open_base=0 if paid else gross, rate=1, created_at=now, updated_at=now))
        if paid:
            day = issued + dt.timedelta(days=rng.randrange(5, 60))
            payments.append(payment_table.row(
                id=len(payments) + 1, number=f"PAY-B-{i:07d}", account_id=account, date=day,
                method="bank_transfer", currency="USD", amount=gross, unapplied_amount=0, rate=1,
                amount_base=gross, unapplied_base=0, created_at=now, updated_at=now))
            allocations.append(allocation_table.row(
                id=len(allocations) + 1, payment_id=len(payments), invoice_id=i, date=day, amount=gross,
                ar_base=gross, created_at=now))
    _copy_tables([(invoice_table, rows), (payment_table, payments), (allocation_table, allocations)])


def add_quotas() -> int:
    """A quarterly quota of 500,000 USD per rep for this quarter and the three before it; how many."""
    from django.utils import timezone

    from l2c.identity.models import Quota, User

    today = timezone.now().date()
    quarter = dt.date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    quotas = []
    for rep in User.objects.filter(role="rep"):
        for back in range(4):
            month = quarter.month - 3 * back
            year = quarter.year + (month - 1) // 12
            start = dt.date(year, (month - 1) % 12 + 1, 1)
            end_month = start.month + 2
            end = (dt.date(start.year + (end_month // 12), end_month % 12 + 1, 1) - dt.timedelta(days=1))
            quotas.append(Quota(user=rep, period_start=start, period_end=end, amount=Decimal("500000.00"),
                                currency="USD"))
    Quota.objects.bulk_create(quotas)
    return len(quotas)


def run() -> dict:
    from django.db import connection
    from django.utils import timezone

    from l2c.analytics.bottlenecks import bottlenecks
    from l2c.analytics.performance import sales_performance
    from l2c.identity.models import User

    users = {"admin": User.objects.get(username="scale_admin"), "manager": User.objects.get(username="scale_mgr1"),
             "rep": User.objects.get(username="scale_rep01")}
    today = timezone.localdate()
    ranges = {"90 days": (today - dt.timedelta(days=90), today), "365 days": (today - dt.timedelta(days=365), today)}
    results = {}
    for range_name, (date_from, date_to) in ranges.items():
        for role, user in users.items():
            results[f"bottlenecks {role} {range_name}"] = best_ms(
                lambda u=user, a=date_from, b=date_to: bottlenecks(user=u, date_from=a, date_to=b))
            results[f"performance {role} {range_name}"] = best_ms(
                lambda u=user, a=date_from, b=date_to: sales_performance(user=u, date_from=a, date_to=b))
            log(f"{range_name} {role}: bottlenecks {results[f'bottlenecks {role} {range_name}']} ms, "
                f"performance {results[f'performance {role} {range_name}']} ms")
    with connection.cursor() as cur:
        counts = {}
        for table in ("pipeline_opportunity", "pipeline_stagehistory", "quoting_quote", "quoting_quoteapproval",
                      "billing_invoice", "billing_paymentallocation", "leads_lead"):
            cur.execute(f'SELECT count(*) FROM "{table}"')
            counts[table] = cur.fetchone()[0]
    return {"ms": results, "counts": counts}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("BENCH_ANALYTICS_URL", DEFAULT_URL))
    parser.add_argument("--build", action="store_true", help="re-create and fill the database first")
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--contacts", type=int, default=150_000)
    parser.add_argument("--opportunities", type=int, default=200_000)
    parser.add_argument("--activities", type=int, default=2_000_000)
    parser.add_argument("--invoices", type=int, default=INVOICES)
    args = parser.parse_args(argv)
    if args.build:
        build(args.url, args)
    else:
        os.environ["DATABASE_URL"] = args.url
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "l2c.settings")
        import django

        django.setup()
    report = run()
    print(json.dumps(report, indent=2))
    slow = {k: v for k, v in report["ms"].items() if v >= 500}
    if slow:
        log(f"over 500 ms: {slow}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
