"""Every issue-8 report at scale on the linked lead-to-cash data of bench/analytics_chain_data.py: time per report,
role and range, in ms, on PostgreSQL.

    .venv/bin/python bench/analytics_chain_data.py           # fill l2c_analytics_chain once (several minutes)
    .venv/bin/python bench/analytics_reports_bench.py        # time (a few minutes)
    .venv/bin/python bench/analytics_reports_bench.py --only funnel,cycle   # a subset (names start with these)

Timed with bench/django_db.best_ms (best of 3 after a warm-up) for scale_admin, scale_mgr1 and scale_rep01:
- over the default range (the last 90 days) and the last 365 days: funnel (no `by`, by source, by campaign),
  cycle time (no `by`, by source), attribution (first and last touch), bottlenecks, sales performance; the
  funnel, cycle time and attribution also over all time (the 3 years of history);
- the forecast (forecast_report: this month and the five after; the admin's includes contracted revenue);
- when l2c.analytics.dashboards exists: each section function the role sees (sales, team, finance) and their
  parts.
References in the same run: a bare `SELECT 1` round trip and `SELECT count(*) FROM leads_lead`; the load average
(os.getloadavg) before and after. Prints a table (figures ≥ 500 ms marked) and appends a JSON line to
bench/results.jsonl. Target (issue 8): each report under 500 ms with 1,000,000 leads, 200,000 opportunities
and 100,000 contracts.
"""
from __future__ import annotations

import argparse
import datetime as dt
import inspect
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from django_db import best_ms  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/l2c_analytics_chain"
TARGET_MS = 500
ROLES = {"admin": "scale_admin", "manager": "scale_mgr1", "rep": "scale_rep01"}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _call(fn, **kwargs):
    """Call `fn` with those of `kwargs` it takes (the dashboard functions differ in what they need)."""
    accepted = inspect.signature(fn).parameters
    return fn(**{k: v for k, v in kwargs.items() if k in accepted})


def cases(users: dict, today: dt.date, now: dt.datetime) -> list[tuple[str, str, str, object]]:
    """(report, role, range, call) for every timing."""
    from l2c.analytics.attribution import attribution
    from l2c.analytics.bottlenecks import bottlenecks
    from l2c.analytics.cycle_time import cycle_time
    from l2c.analytics.forecast import forecast_report
    from l2c.analytics.funnel import ReportParams, funnel
    from l2c.analytics.performance import sales_performance

    ranges = {"90 days": today - dt.timedelta(days=90), "365 days": today - dt.timedelta(days=365),
              "all time": today - dt.timedelta(days=365 * 3 + 31)}
    out = []
    for role, user in users.items():
        for range_name, date_from in ranges.items():
            def lead_report(fn, by=None, u=user, a=date_from, **extra):
                p = ReportParams(date_from=a, date_to=today, by=by)
                return lambda: fn(user=u, params=p, **extra)

            out += [
                ("funnel", role, range_name, lead_report(funnel)),
                ("funnel by source", role, range_name, lead_report(funnel, "source")),
                ("funnel by campaign", role, range_name, lead_report(funnel, "campaign")),
                ("cycle time", role, range_name, lead_report(cycle_time)),
                ("cycle time by source", role, range_name, lead_report(cycle_time, "source")),
                ("attribution first", role, range_name, lead_report(attribution, model="first")),
                ("attribution last", role, range_name, lead_report(attribution, model="last")),
            ]
            if range_name != "all time":
                out += [
                    ("bottlenecks", role, range_name,
                     lambda u=user, a=date_from: bottlenecks(user=u, date_from=a, date_to=today)),
                    ("sales performance", role, range_name,
                     lambda u=user, a=date_from: sales_performance(user=u, date_from=a, date_to=today)),
                ]
        out.append(("forecast", role, "6 months", lambda u=user: forecast_report(user=u)))
    try:
        from l2c.analytics import dashboards
    except ImportError:
        dashboards = None
    if dashboards is not None:
        parts = {"sales": ("hot_leads", "my_quarter"), "team": ("team_forecast", "stuck_deals"),
                 "finance": ("receivables", "cash_received", "deferred_revenue")}
        for role, user in users.items():
            # the whole home page's data, as the page and GET /api/v1/reports/dashboard ask for it
            out.append(("dashboard (home page)", role, "today",
                        lambda u=user: dashboards.dashboard(user=u, today=today, now=now)))
            for section in dashboards.section_names(user):
                fn = getattr(dashboards, f"{section}_section")
                out.append((f"dashboard {section}", role, "today",
                            lambda f=fn, u=user: _call(f, user=u, today=today, now=now)))
                for part in parts.get(section, ()):
                    fn = getattr(dashboards, part, None)
                    if fn is not None:
                        out.append((f"dashboard {section}: {part}", role, "today",
                                    lambda f=fn, u=user: _call(f, user=u, today=today, now=now)))
    return out


def references() -> dict:
    from django.db import connection

    def one():
        with connection.cursor() as cur:
            cur.execute("SELECT 1")
            cur.fetchone()

    def count_leads():
        with connection.cursor() as cur:
            cur.execute("SELECT count(*) FROM leads_lead")
            cur.fetchone()

    return {"SELECT 1": best_ms(one), "SELECT count(*) FROM leads_lead": best_ms(count_leads)}


def counts() -> dict:
    from django.db import connection

    out = {}
    with connection.cursor() as cur:
        for table in ("leads_lead", "leads_touch", "pipeline_opportunity", "pipeline_stagehistory", "quoting_quote",
                      "contracts_contract", "billing_invoice", "billing_paymentallocation", "revenue_revenueposting",
                      "revenue_scheduleline"):
            cur.execute(f'SELECT count(*) FROM "{table}"')
            out[table] = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM pipeline_opportunity WHERE lead_id IS NOT NULL")
        out["opportunities with a lead"] = cur.fetchone()[0]
        cur.execute("SELECT to_regclass('analytics_leadflow') IS NOT NULL")
        if cur.fetchone()[0]:
            cur.execute("SELECT count(*) FROM analytics_leadflow")
            out["analytics_leadflow"] = cur.fetchone()[0]
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("BENCH_CHAIN_URL", DEFAULT_URL))
    parser.add_argument("--only", default="", help="comma-separated prefixes of report names to time")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-save", action="store_true", help="do not append to bench/results.jsonl")
    args = parser.parse_args(argv)
    os.environ["DATABASE_URL"] = args.url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "l2c.settings")
    import django

    django.setup()
    from django.utils import timezone

    from l2c.identity.models import User

    users = {role: User.objects.get(username=name) for role, name in ROLES.items()}
    today, now = timezone.localdate(), timezone.now()
    only = [p.strip() for p in args.only.split(",") if p.strip()]
    load_before = [round(x, 2) for x in os.getloadavg()]
    started = time.perf_counter()
    refs_before = references()
    log(f"load {load_before}; references {refs_before}")
    results = []
    for report, role, range_name, call in cases(users, today, now):
        if only and not any(report.startswith(p) for p in only):
            continue
        try:
            ms = best_ms(call, repeat=args.repeat)
            error = None
        except Exception as exc:  # a report that fails is reported, not hidden
            ms, error = None, f"{type(exc).__name__}: {exc}"[:300]
        results.append({"report": report, "role": role, "range": range_name, "ms": ms, "error": error})
        flag = " ≥500" if ms is not None and ms >= TARGET_MS else ""
        log(f"{report:<36} {role:<8} {range_name:<9} {ms if ms is not None else error}{flag}")
    refs_after = references()
    load_after = [round(x, 2) for x in os.getloadavg()]
    data_counts = counts()

    print(f"\nload average before {load_before}, after {load_after}; "
          f"SELECT 1: {refs_before['SELECT 1']} / {refs_after['SELECT 1']} ms, "
          f"count(*) leads: {refs_before['SELECT count(*) FROM leads_lead']} / "
          f"{refs_after['SELECT count(*) FROM leads_lead']} ms (before / after)\n")
    ranges = []
    for r in results:
        if r["range"] not in ranges:
            ranges.append(r["range"])
    table: dict = {}
    for r in results:
        cell = "error" if r["error"] else f"{r['ms']:.0f}" + (" **≥500**" if r["ms"] >= TARGET_MS else "")
        table.setdefault((r["report"], r["role"]), {})[r["range"]] = cell
    print("| report | role | " + " | ".join(ranges) + " |")
    print("|---|---|" + "---:|" * len(ranges))
    reports = list(dict.fromkeys(r["report"] for r in results))
    for (report, role), cells in sorted(table.items(), key=lambda kv: (reports.index(kv[0][0]),
                                                                        list(ROLES).index(kv[0][1]))):
        print(f"| {report} | {role} | " + " | ".join(cells.get(c, "") for c in ranges) + " |")
    slow = [r for r in results if r["ms"] is not None and r["ms"] >= TARGET_MS]
    errors = [r for r in results if r["error"]]
    print(f"\n{len(results)} timings, {len(slow)} at or over {TARGET_MS} ms, {len(errors)} errors")
    for r in errors:
        print(f"ERROR {r['report']} {r['role']} {r['range']}: {r['error']}")
    record = {
        "bench": "analytics_reports", "db": "postgresql", "counts": data_counts,
        "ms": {f"{r['report']} | {r['role']} | {r['range']}": r["ms"] for r in results},
        "errors": {f"{r['report']} | {r['role']} | {r['range']}": r["error"] for r in errors},
        "over_target": len(slow), "target_ms": TARGET_MS,
        "reference_ms": {"before": refs_before, "after": refs_after},
        "load_average_at_start": load_before, "load_average_at_end": load_after,
        "seconds": round(time.perf_counter() - started, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "at": dt.datetime.now().isoformat(timespec="seconds"),
    }
    if not args.no_save:
        with open(ROOT / "bench" / "results.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
