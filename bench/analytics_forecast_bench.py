"""The forecast, its snapshots and their accuracy (l2c/analytics/forecast.py) at scale: time per report and role,
in ms, on PostgreSQL.

    .venv/bin/python bench/analytics_forecast_bench.py --build            # fill l2c_forecast_bench, then time
    .venv/bin/python bench/analytics_forecast_bench.py                    # time again on the filled database
    .venv/bin/python bench/analytics_forecast_bench.py --build --leads 10000 --activities 10000 --contracts 20000

--build runs bench/scale_data.py (default 1,000,000 leads, 200,000 opportunities, 50 users in 5 teams; the
forecast reads neither leads nor activities, so they may be made smaller) into a re-created database, then
bench/revenue_data.py (`--contracts` signed, registered contracts with their recognition schedules, for the
contracted revenue an admin sees), an override per manager's team and per rep for this month's commit, and
`--weeks` weekly snapshots (taken through `snapshot_take` with past dates, so accuracy has history to read).

Timed (best of 3 after a warm-up): `forecast_report` (this month and the five after it) for the admin (with
contracted revenue), a manager and a rep; `forecast_accuracy` over the last 180 days for the same roles; taking
a snapshot (rolled back); the snapshot list's totals (26 snapshots). Target (issue 8): each under 500 ms.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from django_db import best_ms  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/l2c_forecast_bench"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def build(url: str, args) -> None:
    import scale_data

    scale_data.main(["--url", url, "--recreate", "--leads", str(args.leads), "--activities", str(args.activities),
                     "--opportunities", str(args.opportunities), "--accounts", str(args.accounts),
                     "--contacts", str(args.contacts)])
    if args.contracts:
        import revenue_data
        from django.utils import timezone

        today = timezone.localdate()
        last = today.replace(day=1) - dt.timedelta(days=1)
        first = (last - dt.timedelta(days=364))
        start = time.perf_counter()
        revenue_data.build(args.contracts, first, last, progress=lambda text: None)
        log(f"{args.contracts:,} contracts with schedules in {time.perf_counter() - start:.1f} s")
    add_overrides_and_snapshots(args.weeks)


def add_overrides_and_snapshots(weeks: int) -> None:
    from django.db import connection
    from django.utils import timezone

    from l2c.analytics import forecast
    from l2c.analytics.models import ForecastSnapshot
    from l2c.identity.models import User

    admin = User.objects.get(username="scale_admin")
    month = timezone.localdate().replace(day=1)
    for manager in User.objects.filter(role="manager").exclude(team=None):
        forecast.override_create(actor=manager, team=manager.team_id, month=month, category="best_case",
                                 amount=Decimal("1000000.00"), note="bench")
    for rep in User.objects.filter(role="rep").order_by("pk")[:20]:
        forecast.override_create(actor=admin, owner=rep.pk, month=month, category="commit",
                                 amount=Decimal("250000.00"), note="bench")
    now = timezone.now()
    start = time.perf_counter()
    for week in range(weeks, 0, -1):
        forecast.snapshot_take(actor=None, kind=ForecastSnapshot.Kind.SCHEDULED, now=now - dt.timedelta(weeks=week))
    log(f"{weeks} weekly snapshots in {time.perf_counter() - start:.1f} s")
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")


def run() -> dict:
    from django.db import connection, transaction
    from django.utils import timezone

    from l2c.analytics import forecast
    from l2c.analytics.api_forecast import _snapshots_out
    from l2c.identity.models import User

    users = {"admin": User.objects.get(username="scale_admin"), "manager": User.objects.get(username="scale_mgr1"),
             "rep": User.objects.get(username="scale_rep01")}
    today = timezone.localdate()
    results = {}
    for role, user in users.items():
        results[f"forecast {role}"] = best_ms(lambda u=user: forecast.forecast_report(user=u))
        results[f"accuracy {role} 180 days"] = best_ms(lambda u=user: forecast.forecast_accuracy(
            user=u, date_from=today - dt.timedelta(days=180), date_to=today))
        results[f"snapshot list {role}"] = best_ms(
            lambda u=user: _snapshots_out(u, list(forecast.snapshot_list(user=u, limit=26))))
        log(f"{role}: forecast {results[f'forecast {role}']} ms, accuracy {results[f'accuracy {role} 180 days']} "
            f"ms, snapshot list {results[f'snapshot list {role}']} ms")

    def snapshot():
        with transaction.atomic():
            forecast.snapshot_take(actor=users["admin"])
            transaction.set_rollback(True)

    results["take snapshot"] = best_ms(snapshot)
    log(f"take snapshot {results['take snapshot']} ms")
    with connection.cursor() as cur:
        counts = {}
        for table in ("pipeline_opportunity", "leads_lead", "contracts_contract", "revenue_scheduleline",
                      "analytics_forecastsnapshot", "analytics_forecastsnapshotline", "analytics_forecastoverride"):
            cur.execute(f'SELECT count(*) FROM "{table}"')
            counts[table] = cur.fetchone()[0]
    return {"ms": results, "counts": counts}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("BENCH_FORECAST_URL", DEFAULT_URL))
    parser.add_argument("--build", action="store_true", help="re-create and fill the database first")
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--contacts", type=int, default=150_000)
    parser.add_argument("--opportunities", type=int, default=200_000)
    parser.add_argument("--activities", type=int, default=2_000_000)
    parser.add_argument("--contracts", type=int, default=100_000)
    parser.add_argument("--weeks", type=int, default=26, help="weekly snapshots to take in the past")
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
