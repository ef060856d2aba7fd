"""Benchmark `l2c demo` at several sizes on SQLite and PostgreSQL, with a same-run reference.

    .venv/bin/python bench/demo_bench.py                       # 10k, 100k, 1M on both databases
    .venv/bin/python bench/demo_bench.py --sizes 10000 --dbs sqlite

Each measurement starts from an empty, freshly migrated database (an SQLite file in a scratch folder,
or the PostgreSQL database `l2c_bench`, dropped and re-created), then times in one process:

  demo       `generate(leads=N, seed=1)`: everything `l2c demo --leads N` writes, audit included
  reference  a plain INSERT of N rows (6 columns) into a scratch table with the DB-API's executemany,
             2,000 rows per statement batch, in one transaction: what the disk and driver can do
  count      `SELECT count(*) FROM leads_lead`
  verify     `audit.verify_chain()` (what `l2c verify-audit` does)

Results are printed as a Markdown table and appended as JSON lines to bench/results.jsonl.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN", "postgres://postgres@127.0.0.1:5432/postgres")
PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/l2c_bench")


def measure(leads: int) -> dict:
    """Run inside a child process whose DATABASE_URL points at an empty database."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "l2c.settings")
    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    from l2c.core import audit
    from l2c.demo import generate

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    result = generate(leads=leads, seed=1)
    demo_seconds = time.perf_counter() - started
    rows = sum(result.counts.values())

    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_scratch")
        cursor.execute("CREATE TABLE bench_scratch (id bigint PRIMARY KEY, name varchar(100), email varchar(254), "
                       "company varchar(200), status varchar(20), created_at timestamp)")
    sample = [(i, f"Name {i}", f"person{i}@example.com", f"Company {i % 997}", "new", "2025-01-01 10:00:00")
              for i in range(leads)]
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        for start in range(0, leads, 2000):
            cursor.executemany("INSERT INTO bench_scratch VALUES (%s, %s, %s, %s, %s, %s)", sample[start:start + 2000])
    reference_seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_scratch")

    with connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute("SELECT count(*) FROM leads_lead")
        cursor.fetchone()
        count_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    events, problem = audit.verify_chain()
    verify_seconds = time.perf_counter() - started
    assert problem is None, problem

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_database_size(current_database())")
            size = cursor.fetchone()[0]
    else:
        connection.close()
        name = Path(connection.settings_dict["NAME"])
        size = sum(p.stat().st_size for p in name.parent.glob(name.name + "*"))
    return {
        "db": connection.vendor, "leads": leads, "rows": rows, "counts": result.counts,
        "audit_events": events, "audit_mode": result.audit_mode, "demo_s": round(demo_seconds, 2),
        "rows_per_s": round(rows / demo_seconds), "reference_insert_s": round(reference_seconds, 3),
        "reference_rows_per_s": round(leads / reference_seconds) if reference_seconds else None,
        "count_ms": round(count_ms, 1), "verify_s": round(verify_seconds, 2), "db_bytes": size,
    }


def reset_postgres() -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS l2c_bench")
        conn.execute("CREATE DATABASE l2c_bench")


def run_one(db: str, leads: int) -> dict:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "l2c.settings"}
    scratch = None
    if db == "postgres":
        reset_postgres()
        env["DATABASE_URL"] = PG_URL
    else:
        scratch = tempfile.mkdtemp(prefix="l2c-bench-")
        env["L2C_VAR_DIR"] = scratch
        env.pop("DATABASE_URL", None)
    env.setdefault("L2C_VAR_DIR", tempfile.mkdtemp(prefix="l2c-bench-var-"))
    try:
        out = subprocess.run([sys.executable, __file__, "--measure", str(leads)], env=env, cwd=ROOT,
                             check=True, capture_output=True, text=True)
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--dbs", default="sqlite,postgres")
    parser.add_argument("--measure", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure is not None:
        print(json.dumps(measure(args.measure)))
        return 0
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    print(f"| database | leads | rows written | demo (s) | rows/s | reference insert of N rows (s) | "
          f"count(*) (ms) | verify-audit (s) | size (MB) |   <!-- {machine} -->")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for leads in (int(s) for s in args.sizes.split(",")):
        for db in args.dbs.split(","):
            r = run_one(db, leads)
            r["machine"] = machine
            with open(ROOT / "bench" / "results.jsonl", "a") as fh:
                fh.write(json.dumps(r) + "\n")
            print(f"| {r['db']} | {leads:,} | {r['rows']:,} | {r['demo_s']} | {r['rows_per_s']:,} | "
                  f"{r['reference_insert_s']} | {r['count_ms']} | {r['verify_s']} | {r['db_bytes'] / 1e6:.0f} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
