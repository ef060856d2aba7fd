"""Quote pricing and PDF at 500 lines, on SQLite and PostgreSQL, with same-run references.

    .venv/bin/python bench/quote_bench.py                      # SQLite and PostgreSQL, 500 lines
    .venv/bin/python bench/quote_bench.py --dbs sqlite --lines 500 --runs 20 [--no-pdf]

Each database starts empty and freshly migrated (an SQLite file in a scratch folder, or the PostgreSQL
database `l2c_quote_bench`, dropped and re-created; BENCH_PG_ADMIN / BENCH_PG_URL override the URLs). A
child process then builds a catalogue (24 products: goods, services, subscriptions, zero-rated; flat,
volume and tiered prices) and one CNY quote for a Chinese customer (13 % goods, 6 % services) with N
lines of mixed quantities, discounts and optional lines, and times:

  recompute, all lines change   `pricing.recompute(quote)` after the header discount changed, so every
                                line is rewritten (the worst case; alternating 5 % / 7.5 %)
  recompute, nothing changed    `pricing.recompute(quote)` again (reads, computes, writes the quote only)
  reference: Decimal sum        summing the N line amounts (quantity × unit price, rounded) in plain
                                Decimal over values already in memory: the arithmetic floor
  reference: read lines         loading the N lines with their products (one query): the database floor
  PDF                           `l2c.quoting.pdf.render_quote_pdf(quote)` (3 runs), when that module exists

Targets (issue 4): recompute < 100 ms, PDF < 5 s. Prints a Markdown table and appends a JSON line to
bench/results.jsonl.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN", "postgres://postgres@127.0.0.1:5432/postgres")
PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/l2c_quote_bench")
TARGET_RECOMPUTE_MS = 100
TARGET_PDF_S = 5


def _timings(fn, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def _stats(ms: list[float]) -> dict:
    ordered = sorted(ms)
    p95 = ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]
    return {"runs": len(ms), "p50_ms": round(statistics.median(ordered), 2), "p95_ms": round(p95, 2),
            "max_ms": round(ordered[-1], 2)}


def build(lines: int):
    """A catalogue and a quote with `lines` lines (inserted in bulk: the set-up is not measured)."""
    import datetime as dt
    import random
    from decimal import Decimal

    from django.utils import timezone

    from l2c.customers.models import Account, Contact
    from l2c.identity.models import Team, User
    from l2c.pipeline.models import Opportunity
    from l2c.pipeline.services import ensure_default_stages
    from l2c.quoting import pricing
    from l2c.quoting.models import PriceBook, PriceBookEntry, PriceTier, Product, QuoteLine
    from l2c.quoting.services import quotes as quote_services

    rnd = random.Random(1)
    team = Team.objects.create(name="Bench")
    rep = User.objects.create_user(username="bench-rep", password="x", role="rep", team=team)
    account = Account.objects.create(name="上海示例科技有限公司", country="CN", segment="", owner=rep)
    contact = Contact.objects.create(account=account, first_name="伟", last_name="王", email="wei@example.cn",
                                     owner=rep)
    stage = ensure_default_stages()[0]
    opportunity = Opportunity.objects.create(name="Bench deal", account=account, contact=contact, owner=rep,
                                             currency="CNY", stage=stage, stage_entered_at=timezone.now())
    book = PriceBook.objects.create(name="Bench CNY", currency="CNY")
    kinds = [("good", "", "standard"), ("service", "", "services"), ("subscription", "year", "subscription"),
             ("good", "", "zero")]
    products, entries = [], {}
    for i in range(24):
        kind, period, category = kinds[i % len(kinds)]
        product = Product.objects.create(sku=f"BENCH-{i:03d}", name=f"产品 {i} / Product {i}", kind=kind,
                                         billing_period=period, tax_category=category,
                                         revenue_rule="ratable" if kind == "subscription" else "point_in_time")
        method = ["flat", "volume", "tiered"][i % 3]
        entry = PriceBookEntry.objects.create(price_book=book, product=product, pricing=method,
                                              list_price=Decimal(rnd.randint(100, 50000)) / 10)
        if method != "flat":
            for start, share in (("1", "1"), ("11", "0.9"), ("101", "0.8")):
                PriceTier.objects.create(entry=entry, min_quantity=Decimal(start),
                                         unit_price=(entry.list_price * Decimal(share)).quantize(Decimal("0.01")))
        products.append(product)
        entries[product.pk] = entry
    quote = quote_services.quote_create(actor=rep, opportunity=opportunity, price_book=book,
                                        header_discount_percent=Decimal("5"))
    rows = []
    for position in range(1, lines + 1):
        product = products[rnd.randrange(len(products))]
        quantity = Decimal(rnd.choice([1, 2, 3, 5, 10, 12, 25, 50, 120, 250])) + Decimal(rnd.randint(0, 3)) / 4
        entry = PriceBookEntry.objects.prefetch_related("tiers").get(pk=entries[product.pk].pk)
        start = dt.date(2026, 1, 1) if product.kind == "subscription" else None
        rows.append(QuoteLine(quote=quote, position=position, product=product, quantity=quantity, unit=product.unit,
                              list_price=pricing.list_price_for(entry, quantity),
                              discount_percent=Decimal(rnd.choice([0, 0, 0, 5, 10, 12.5, 20])).quantize(Decimal("0.01")),
                              optional=rnd.random() < 0.05, section=f"Section {position // 50 + 1}",
                              service_start=start, service_end=dt.date(2026, 12, 31) if start else None))
    QuoteLine.objects.bulk_create(rows, batch_size=500)
    return quote


def measure(lines: int, runs: int, *, pdf: bool = True) -> dict:
    """Run inside a child process whose DATABASE_URL points at an empty database."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "l2c.settings")
    django.setup()
    from decimal import Decimal

    from django.core.management import call_command
    from django.db import connection

    from l2c.core.money import round_money
    from l2c.quoting import pricing
    from l2c.quoting.models import Quote, QuoteLine

    call_command("migrate", verbosity=0)
    quote = build(lines)
    totals = pricing.recompute(quote)  # the first pricing of the lines (not timed)
    quote = Quote.objects.select_related("account").get(pk=quote.pk)
    discounts = [Decimal("7.5"), Decimal("5")]

    def recompute_changed():
        Quote.objects.filter(pk=quote.pk).update(header_discount_percent=discounts[0])
        quote.header_discount_percent = discounts[0]
        discounts.reverse()
        pricing.recompute(quote)

    changed = _timings(recompute_changed, runs)
    unchanged = _timings(lambda: pricing.recompute(quote), runs)
    in_memory = list(QuoteLine.objects.filter(quote=quote).values_list("quantity", "unit_price", "optional"))

    def decimal_sum():
        sum((round_money(q * p, "CNY") for q, p, optional in in_memory if not optional), Decimal(0))

    reference_sum = _timings(decimal_sum, runs)
    reference_read = _timings(lambda: list(QuoteLine.objects.filter(quote=quote).select_related("product")), runs)
    quote.refresh_from_db()
    result = {
        "bench": "quote", "db": connection.vendor, "lines": lines, "warnings": totals.warnings,
        "net_total": str(quote.net_total), "gross_total": str(quote.gross_total),
        "tax_breakdown": quote.tax_breakdown,
        "recompute_all_lines_changed": _stats(changed), "recompute_nothing_changed": _stats(unchanged),
        "reference_decimal_sum": _stats(reference_sum), "reference_read_lines": _stats(reference_read),
    }
    try:
        if not pdf:
            raise ImportError("--no-pdf")
        from l2c.quoting.pdf import render_quote_pdf
    except ImportError as exc:
        result["pdf"] = {"skipped": f"l2c.quoting.pdf not used ({exc})"}
    else:
        pdf_bytes = []
        pdf = _timings(lambda: pdf_bytes.append(len(render_quote_pdf(quote))), 3)
        result["pdf"] = {**_stats(pdf), "bytes": pdf_bytes[-1]}
    return result


def reset_postgres() -> None:
    import psycopg

    name = PG_URL.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def run_one(db: str, lines: int, runs: int, *, pdf: bool = True) -> dict:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "l2c.settings"}
    scratch = tempfile.mkdtemp(prefix="l2c-quote-bench-")
    env["L2C_VAR_DIR"] = scratch
    if db == "postgres":
        reset_postgres()
        env["DATABASE_URL"] = PG_URL
    else:
        env.pop("DATABASE_URL", None)
    try:
        flags = [] if pdf else ["--no-pdf"]
        out = subprocess.run([sys.executable, __file__, "--measure", str(lines), "--runs", str(runs), *flags], env=env,
                             cwd=ROOT, check=True, capture_output=True, text=True)
    except subprocess.CalledProcessError as exc:
        sys.stderr.write(exc.stderr)
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dbs", default="sqlite,postgres")
    parser.add_argument("--lines", type=int, default=500)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--no-pdf", action="store_true", help="skip the PDF render")
    parser.add_argument("--measure", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure is not None:
        print(json.dumps(measure(args.measure, args.runs, pdf=not args.no_pdf)))
        return 0
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    print(f"| database | lines | what | runs | p50 (ms) | p95 (ms) | target |   <!-- {machine} -->")
    print("|---|---:|---|---:|---:|---:|---|")
    ok = True
    for db in args.dbs.split(","):
        r = run_one(db, args.lines, args.runs, pdf=not args.no_pdf)
        r["machine"] = machine
        r["at"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        with open(ROOT / "bench" / "results.jsonl", "a") as fh:
            fh.write(json.dumps(r) + "\n")
        rows = [
            ("recompute, all lines change", r["recompute_all_lines_changed"], TARGET_RECOMPUTE_MS),
            ("recompute, nothing changed", r["recompute_nothing_changed"], TARGET_RECOMPUTE_MS),
            ("reference: Decimal sum of the line amounts", r["reference_decimal_sum"], None),
            ("reference: read the lines (one query)", r["reference_read_lines"], None),
        ]
        if "skipped" not in r["pdf"]:
            rows.append(("PDF render", r["pdf"], TARGET_PDF_S * 1000))
        for what, s, target in rows:
            verdict = ""
            if target is not None:
                met = s["p95_ms"] < target
                ok = ok and met
                verdict = f"< {target:,} ms: {'met' if met else 'MISSED'}"
            print(f"| {r['db']} | {args.lines} | {what} | {s['runs']} | {s['p50_ms']} | {s['p95_ms']} | {verdict} |",
                  flush=True)
        if "skipped" in r["pdf"]:
            print(f"| {r['db']} | {args.lines} | PDF render | – | – | – | skipped: {r['pdf']['skipped']} |")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
