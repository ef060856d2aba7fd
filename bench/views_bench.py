"""Views at scale: server-side latency and SQL query count of the heavy pages on a big database.

Fill the database first with bench/scale_data.py (1M leads, 200k opportunities, 2M activities), then:

    BENCH_SCALE_URL=postgres://postgres@127.0.0.1:5432/l2c_scale .venv/bin/python bench/views_bench.py

Each page is requested N times (default 50, after 3 warm-up requests) through Django's test Client
in this process, logged in as the user in the table (scale_rep01, scale_mgr1, scale_admin). The
time is measured around `Client.get` (URL resolution, every middleware, the view, its queries and
the template), so it is the server-side time without the network and HTTP parsing. The query
count comes from one extra, separately captured request; "app CPU" is the CPU time of this process
per request (Python: middleware, view, ORM, template; not PostgreSQL's), which a busy machine
inflates less than the wall-clock time. References measured in the same run:
`/healthz` (a trivial view through the same middleware) and a bare `SELECT 1` round trip.

Prints a Markdown table; --json FILE also writes the raw figures.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/l2c_scale"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def pages(heavy_opportunity: int, search_term: str) -> list[tuple[str, str, str]]:
    """(label, user, url) for every measured page."""
    lead_filtered = "/leads/?status=working&ordering=company&page=200"
    return [
        ("lead list: status=working, by company, page 200", "scale_rep01", lead_filtered),
        ("lead list: status=working, by company, page 200", "scale_mgr1", lead_filtered),
        ("lead list: status=working, by company, page 200", "scale_admin", lead_filtered),
        ("lead list: status=working, by last name, page 200", "scale_mgr1",
         "/leads/?status=working&ordering=last_name&page=200"),
        ("lead list: status=working, by last name, page 200", "scale_admin",
         "/leads/?status=working&ordering=last_name&page=200"),
        ("lead list: unfiltered, newest first, page 1", "scale_admin", "/leads/"),
        (f"lead list: search “{search_term}”", "scale_mgr1", f"/leads/?q={search_term}"),
        (f"lead list: search “{search_term}”", "scale_admin", f"/leads/?q={search_term}"),
        ("opportunity list: open, by amount, page 50", "scale_admin",
         "/opportunities/?status=open&ordering=-amount&page=50"),
        ("Kanban board", "scale_rep01", "/pipeline/"),
        ("Kanban board", "scale_mgr1", "/pipeline/"),
        ("Kanban board", "scale_admin", "/pipeline/"),
        ("opportunity page", "scale_rep01", f"/opportunities/{heavy_opportunity}/"),
        ("opportunity page: activities panel", "scale_rep01",
         f"/activities/panel/?opportunity={heavy_opportunity}"),
        ("opportunity page", "scale_admin", f"/opportunities/{heavy_opportunity}/"),
        ("opportunity page: activities panel", "scale_admin",
         f"/activities/panel/?opportunity={heavy_opportunity}"),
    ]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("BENCH_SCALE_URL", DEFAULT_URL))
    parser.add_argument("-n", type=int, default=50, help="timed requests per page")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--opportunity", type=int, default=1, help="the heavy opportunity's id")
    parser.add_argument("--search", default="zhang")
    parser.add_argument("--only", default="", help="run only pages whose label contains this text")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    os.environ["DATABASE_URL"] = args.url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "l2c.settings")
    import django

    django.setup()
    from django.db import connection
    from django.test import Client, override_settings

    # Static files are served by WhiteNoise from collectstatic's manifest in production; the
    # benchmark needs no collected files, only their URLs (a dict look-up either way).
    override_settings(STORAGES={
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }).enable()
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from l2c.customers.models import Account, Contact
    from l2c.identity.models import User
    from l2c.leads.models import Lead
    from l2c.pipeline.models import Activity, Opportunity, StageHistory

    def p_ms(samples):
        return {"p50": round(percentile(samples, 0.5) * 1000, 2), "p95": round(percentile(samples, 0.95) * 1000, 2)}

    sizes = {m._meta.db_table: m.objects.count() for m in (Lead, Account, Contact, Opportunity, StageHistory, Activity)}
    print("data:", ", ".join(f"{k} {v:,}" for k, v in sizes.items()), file=sys.stderr)
    clients: dict[str, Client] = {}

    def client_for(username: str) -> Client:
        if username not in clients:
            client = Client(SERVER_NAME="localhost")
            client.force_login(User.objects.get(username=username))
            clients[username] = client
        return clients[username]

    def measure(label, username, url) -> dict:
        client = client_for(username) if username else Client(SERVER_NAME="localhost")
        for _ in range(args.warmup):
            response = client.get(url)
            if response.status_code != 200:
                raise SystemExit(f"{url} as {username}: HTTP {response.status_code}")
        samples, cpu = [], []
        for _ in range(args.n):
            start, start_cpu = time.perf_counter(), time.process_time()
            client.get(url)
            samples.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url)
        size = len(response.content)
        return {"page": label, "user": username or "anonymous", "url": url, **p_ms(samples),
                "cpu_p50": round(percentile(cpu, 0.5) * 1000, 2), "queries": len(ctx.captured_queries), "bytes": size}

    results = []
    load_before = os.getloadavg()
    # references: a bare SELECT 1 and the trivial view, same process, same database
    with connection.cursor() as cur:
        for _ in range(args.warmup):
            cur.execute("SELECT 1")
            cur.fetchone()
        samples = []
        for _ in range(args.n * 4):
            start = time.perf_counter()
            cur.execute("SELECT 1")
            cur.fetchone()
            samples.append(time.perf_counter() - start)
    results.append({"page": "reference: SELECT 1 round trip", "user": "—", "url": "", **p_ms(samples),
                    "cpu_p50": None, "queries": 1, "bytes": 0})
    results.append(measure("reference: /healthz", "", reverse("healthz") if _has_url("healthz") else "/healthz"))
    for label, username, url in pages(args.opportunity, args.search):
        if args.only and args.only not in label:
            continue
        results.append(measure(label, username, url))
        r = results[-1]
        print(f"  {r['page']} [{r['user']}]: p50 {r['p50']} ms, p95 {r['p95']} ms, {r['queries']} queries",
              file=sys.stderr)

    load_after = os.getloadavg()
    print(f"\nN = {args.n} requests per page (+{args.warmup} warm-up); load average before "
          f"{load_before[0]:.1f}, after {load_after[0]:.1f} on {os.cpu_count()} CPUs\n")
    print("| page | user | p50 (ms) | p95 (ms) | app CPU p50 (ms) | SQL queries |")
    print("|---|---|---:|---:|---:|---:|")
    for r in results:
        cpu_ms = "—" if r["cpu_p50"] is None else f"{r['cpu_p50']:.1f}"
        print(f"| {r['page']} | {r['user']} | {r['p50']:.1f} | {r['p95']:.1f} | {cpu_ms} | {r['queries']} |")
    if args.json:
        args.json.write_text(json.dumps({"sizes": sizes, "n": args.n, "load": [load_before[0], load_after[0]],
                                         "results": results}, indent=2))
    return 0


def _has_url(name: str) -> bool:
    from django.urls import NoReverseMatch, reverse

    try:
        reverse(name)
    except NoReverseMatch:
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
