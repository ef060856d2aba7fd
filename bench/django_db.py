"""A fresh, migrated database for a benchmark: an SQLite file in a scratch folder, or a PostgreSQL database
dropped and re-created (BENCH_PG_ADMIN is the server's admin URL)."""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN", "postgres://postgres@127.0.0.1:5432/postgres")


def fresh_database(db: str, pg_url: str, prefix: str) -> str:
    """The URL of an empty database: SQLite (`db` "sqlite") in a new temporary folder, else `pg_url`, dropped
    and created again."""
    if db == "sqlite":
        return f"sqlite:///{tempfile.mkdtemp(prefix=prefix)}/bench.sqlite3"
    import psycopg

    name = pg_url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN_URL.replace("postgres://", "postgresql://"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return pg_url


def setup(url: str) -> None:
    """Point Django at `url`, set it up and migrate."""
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "l2c.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def best_ms(call, repeat: int = 3) -> float:
    """Milliseconds of the fastest of `repeat` calls of `call`, after one warm-up call."""
    import time

    call()
    best = None
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        elapsed = (time.perf_counter() - start) * 1000
        best = elapsed if best is None else min(best, elapsed)
    return round(best, 1)
