"""The revenue month close over N active contracts (3 performance obligations each): total time and journal
lines posted per second.

    .venv/bin/python bench/revenue_bench.py --db postgresql --n 100000
    .venv/bin/python bench/revenue_bench.py --db sqlite --n 2000
    .venv/bin/python bench/revenue_bench.py --db postgresql --n 10000 --profile   # + cProfile of the close

The database starts empty and freshly migrated (an SQLite file in a scratch folder, or the PostgreSQL database
`l2c_revenue_bench`, dropped and re-created; BENCH_PG_ADMIN / BENCH_PG_URL override the URLs). The data
(bench/revenue_data.py: N bundle contracts — license at a point in time, 12 months of support ratably,
implementation on milestones — over 1,000 customers, registered for revenue, with their orders, shipments,
milestones and an invoice posted upfront) is written with bulk inserts, then VACUUM ANALYZE; none of it is
timed. Then, timed:

  close                  `l2c.revenue.close.close_period(actor=None, period=...)`: every contract's recognition
                         computed, the REVENUE journal entries posted (a line per contract and account), a
                         RevenuePosting per contract, a Recognition per obligation, the month locked, audit
                         events sealed; with the time spent in its parts
  second close           the same call again: must post nothing
  reports                each report selector of l2c/revenue/selectors.py (the data of the revenue pages: the
                         overview page calls seven of them, summed as "overview_page"), twice, in ms
  reference: floor       as many rows as the close posted journal lines, with the journal line's columns,
                         streamed into a bare table without indexes in one transaction (COPY on PostgreSQL):
                         the database floor, as lines/s

Checked afterwards: one posting per contract, the revenue posted equals the revenue the data builder computed
on its own from the same dates and allocations, the trial balance is zero, the second close posts nothing.

Target (issue 6): the whole close of 100,000 contracts under 60 s on PostgreSQL, the report pages under 500 ms. Prints the figures and
appends a JSON line to bench/results.jsonl (not with --profile, whose overhead distorts the times).
"""
from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import json
import os
import platform
import pstats
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from django_db import fresh_database, setup  # noqa: E402

PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/l2c_revenue_bench")
TARGET_S = 60.0
TARGET_REPORT_MS = 500


def _fresh_database(db: str) -> str:
    return fresh_database(db, PG_URL, "l2c-revenue-bench-")


def _setup(url: str) -> None:
    setup(url)


def _month(text: str) -> tuple[dt.date, dt.date]:
    try:
        year, month = (int(part) for part in text.split("-"))
        first = dt.date(year, month, 1)
    except ValueError:
        raise SystemExit(f"--period: give the month as YYYY-MM, e.g. 2026-03 (got {text!r})") from None
    return first, (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)


def _analyze() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")


class _Timers:
    """Time spent inside a few functions the close calls (module attributes swapped for the timed call)."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self._undo = []

    def wrap(self, module, name: str, label: str) -> None:
        original = getattr(module, name)

        def timed(*args, **kwargs):
            began = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[label] = self.seconds.get(label, 0.0) + time.perf_counter() - began

        setattr(module, name, timed)
        self._undo.append((module, name, original))

    def restore(self) -> None:
        for module, name, original in reversed(self._undo):
            setattr(module, name, original)
        self._undo.clear()


def reference_copy(lines: int) -> float:
    """The database floor: `lines` rows with the columns of a journal line streamed into a bare table
    without indexes or constraints (COPY on PostgreSQL, executemany INSERT on SQLite), in one transaction."""
    from django.db import connection, transaction

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_bare_lines (entry_id integer, line_no smallint, account_id integer, "
                       "debit numeric(20,2), credit numeric(20,2), currency varchar(3), amount numeric(24,4), "
                       "rate numeric(24,10), customer_id integer, description varchar(300))")
    rows = ((1 + i // 1000, 1 + i % 1000, 1 + i % 2, Decimal("164.01") if i % 2 else Decimal(0),
             Decimal(0) if i % 2 else Decimal("164.01"), "USD", Decimal("164.01"), Decimal(1), 1 + i % 1000,
             f"CTR-R-{i // 2:07d}") for i in range(lines))
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy("COPY bench_bare_lines FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            cursor.executemany("INSERT INTO bench_bare_lines VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                               list(rows))
    return time.perf_counter() - started


def time_reports(first: dt.date, last: dt.date) -> dict:
    """Milliseconds of each report selector of `l2c.revenue.selectors` (the data behind the revenue pages) over
    the twelve months ending with the closed month, each called twice: {name: [first call, second call]},
    and "overview_page": the selectors the overview page calls, summed (second calls). Empty when the module
    is not there."""
    import importlib.util

    if importlib.util.find_spec("l2c.revenue.selectors") is None:
        return {}
    from l2c.revenue import selectors
    from l2c.revenue.models import RevenueContract

    start = (first - dt.timedelta(days=334)).replace(day=1)
    one = RevenueContract.objects.order_by("pk").values_list("pk", "contract_id").first()
    calls = {
        "revenue_by_month": lambda: selectors.revenue_by_month(start, last),
        "revenue_by_month_by_customer": lambda: selectors.revenue_by_month(start, last, "customer"),
        "revenue_by_month_by_product": lambda: selectors.revenue_by_month(start, last, "product"),
        "recognised_billed_collected": lambda: selectors.recognised_billed_collected(start, last),
        "deferred_waterfall": lambda: selectors.deferred_waterfall(start, last),
        "future_recognition": lambda: selectors.future_recognition(last),
        "remaining_performance_obligations": lambda: selectors.remaining_performance_obligations(last),
        # what the overview page reads (per customer; the per-contract list is the CSV export and the API's)
        "remaining_performance_obligations_customers": lambda: selectors.remaining_performance_obligations(
            last, per_contract=False),
        "mrr": lambda: selectors.mrr(start, last),
        "contract_detail": lambda: selectors.contract_detail(
            selectors.revenue_contract_get(user=None, contract_id=one[1])),
        "period_closes": lambda: selectors.period_closes(user=None),
    }
    times: dict = {}
    for name, call in calls.items():
        runs = []
        for _run in range(2):
            began = time.perf_counter()
            call()
            runs.append(round((time.perf_counter() - began) * 1000, 1))
        times[name] = runs
    overview = ("revenue_by_month", "revenue_by_month_by_customer", "recognised_billed_collected",
                "deferred_waterfall", "future_recognition", "remaining_performance_obligations_customers", "mrr")
    times["overview_page"] = round(sum(times[name][1] for name in overview), 1)
    return times


def time_pages(first: dt.date, last: dt.date, runs: int = 3) -> dict:
    """Milliseconds of whole requests through Django's test client, signed in as a finance user, each `runs`
    times (the first call is cold): the revenue pages over the twelve months ending with the closed month, a
    contract's page, the close page, and the report API routes. {address: [ms, …]}"""
    from django.conf import settings
    from django.test import Client, override_settings

    from l2c.identity.models import User
    from l2c.revenue.models import RevenueContract

    user = User.objects.filter(username="bench-finance").first() or User.objects.create_user(
        username="bench-finance", password="pw-bench-finance", role="finance")
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    start = (first - dt.timedelta(days=334)).replace(day=1)
    window = f"from={start:%Y-%m}&to={last:%Y-%m}"
    contract_id = RevenueContract.objects.order_by("pk").values_list("contract_id", flat=True).first()
    addresses = [
        f"/revenue/?{window}", f"/revenue/?{window}&by=customer", f"/revenue/?{window}&by=product",
        f"/revenue/mrr/?{window}",
        f"/revenue/contracts/{contract_id}/", "/revenue/close/",
        f"/api/v1/reports/revenue?{window}", f"/api/v1/reports/revenue?{window}&by=product",
        f"/api/v1/reports/revenue-billed-collected?{window}", f"/api/v1/reports/deferred-revenue?{window}",
        f"/api/v1/reports/remaining-obligations?as_of={last:%Y-%m-%d}", f"/api/v1/reports/mrr?{window}",
        f"/api/v1/revenue/contracts/{contract_id}",
    ]
    times: dict = {}
    # the static files as they are in the source tree (no `collectstatic` manifest needed, as in the tests)
    plain = {**settings.STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    with override_settings(STORAGES=plain):
        _request_all(client, addresses, runs, times)
    return times


def _request_all(client, addresses: list[str], runs: int, times: dict) -> None:
    for address in addresses:
        runs_ms = []
        for _run in range(runs):
            began = time.perf_counter()
            response = client.get(address)
            runs_ms.append(round((time.perf_counter() - began) * 1000, 1))
            assert response.status_code == 200, (address, response.status_code, response.content[:300])
        times[address] = runs_ms


def reports_only(args) -> None:
    """Time the reports and pages on the database an earlier run left (no rebuild, no close)."""
    from django.db import connection

    first, last = _month(args.period)
    _setup(PG_URL if args.db == "postgresql" else args.reports_only)
    result = {"bench": "revenue_reports", "db": connection.vendor, "period": args.period,
              "report_selectors_ms": time_reports(first, last), "pages_ms": time_pages(first, last),
              "target_report_ms": TARGET_REPORT_MS, "load_average": os.getloadavg(),
              "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
              "at": dt.datetime.now().isoformat(timespec="seconds")}
    print(json.dumps(result, indent=2))
    with open(ROOT / "bench" / "results.jsonl", "a") as out:
        out.write(json.dumps(result) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--n", type=int, default=100_000, help="contracts (default 100,000)")
    parser.add_argument("--period", default="2026-03", help="the month closed, YYYY-MM (default 2026-03)")
    parser.add_argument("--profile", action="store_true",
                        help="run the close under cProfile and print the top 25 by cumulative time")
    parser.add_argument("--reports-only", nargs="?", const="yes", metavar="SQLITE_FILE",
                        help="only time the reports and pages on the database a full run left (PostgreSQL: "
                             "l2c_revenue_bench; SQLite: give its file)")
    args = parser.parse_args()
    if args.reports_only:
        return reports_only(args)
    if args.n < 1:
        raise SystemExit("--n: give at least 1 contract")
    first, last = _month(args.period)
    _setup(_fresh_database(args.db))
    import revenue_data
    from django.db import connection

    from l2c.core import audit
    from l2c.ledger import selectors as ledger_selectors
    from l2c.ledger import services as ledger_services
    from l2c.ledger.models import JournalEntry, JournalLine
    from l2c.revenue import close, services
    from l2c.revenue.models import PeriodClose, Recognition, RevenuePosting

    t0 = time.perf_counter()
    expected = revenue_data.build(args.n, first, last, progress=lambda text: print(text, flush=True))
    build_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    _analyze()
    print(f"data: {args.n} contracts, {expected.obligations} obligations, {expected.schedule_lines} schedule lines "
          f"in {build_s:.1f} s (+ {time.perf_counter() - t1:.1f} s VACUUM ANALYZE)", flush=True)

    timers = _Timers()
    timers.wrap(services, "register_missing", "register_missing")
    timers.wrap(close, "_compute", "compute")
    timers.wrap(ledger_services, "post_entries", "post_entries")
    timers.wrap(audit, "seal_pending", "audit_sealing")
    profiler = cProfile.Profile() if args.profile else None
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    summary = close.close_period(actor=None, period=args.period)
    if profiler:
        profiler.disable()
    close_s = time.perf_counter() - started
    timers.restore()

    started = time.perf_counter()
    again = close.close_period(actor=None, period=args.period)
    second_s = time.perf_counter() - started

    # checks
    assert not summary.already_closed and summary.registered == 0, summary.as_dict()
    assert summary.contracts == args.n == RevenuePosting.objects.count(), (summary.contracts, args.n)
    assert Recognition.objects.count() == expected.earning_obligations, "one Recognition per obligation that earned"
    revenue_lines = JournalLine.objects.filter(entry__source_type="revenue.close").count()
    assert revenue_lines == summary.lines, (revenue_lines, summary.lines)
    assert summary.revenue_base == expected.revenue, (summary.revenue_base, expected.revenue)
    trial = ledger_selectors.trial_balance(last)
    assert trial.is_balanced and trial.debit > 0, (trial.debit, trial.credit)
    assert again.already_closed and again.entries == 0 and again.lines == 0, again.as_dict()
    assert JournalEntry.objects.filter(source_type="revenue.close").count() == summary.entries
    assert PeriodClose.objects.filter(period=first).count() == 1
    assert audit.unsealed_count() == 0

    reports = time_reports(first, last)
    pages = time_pages(first, last)
    copy_s = reference_copy(summary.lines)
    parts = {name: round(seconds, 2) for name, seconds in timers.seconds.items()}
    result = {
        "bench": "revenue_close", "db": connection.vendor, "n": args.n, "period": args.period,
        "obligations": expected.obligations, "data_build_s": round(build_s, 1),
        "close_s": round(close_s, 2), "contracts": summary.contracts, "entries": summary.entries,
        "journal_lines": summary.lines, "journal_lines_per_s": round(summary.lines / close_s, 1),
        "contracts_per_s": round(summary.contracts / close_s, 1),
        "of_which_s": {**parts, "other": round(close_s - sum(timers.seconds.values()), 2)},
        "revenue": str(summary.revenue_base),
        "licenses_shipped_in_month": expected.licenses_shipped_in_month,
        "milestones_completed_in_month": expected.milestones_completed_in_month,
        "second_close_s": round(second_s, 3), "second_close_posted": again.lines,
        "trial_balance_zero": trial.is_balanced,
        "reference_floor_lines_per_s": round(summary.lines / copy_s, 1),
        "report_selectors_ms": reports or "l2c/revenue/selectors.py missing", "pages_ms": pages,
        "target_report_ms": TARGET_REPORT_MS,
        "reports_meet_target": bool(reports) and max(
            reports["overview_page"], reports["contract_detail"][1], reports["period_closes"][1]) < TARGET_REPORT_MS,
        "target_close_s": TARGET_S, "meets_target": close_s < TARGET_S, "profiled": bool(profiler),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "at": dt.datetime.now().isoformat(timespec="seconds"),
    }
    print(json.dumps(result, indent=2))
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
        print(out.getvalue())
        return
    with open(ROOT / "bench" / "results.jsonl", "a") as out:
        out.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
