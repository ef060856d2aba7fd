"""Benchmark 2: lead capture under load (wrk on loopback, gunicorn with 2 workers, PostgreSQL).

    .venv/bin/python bench/capture_bench.py                  # 15 s per endpoint, 2 threads, 16 connections
    .venv/bin/python bench/capture_bench.py --duration 30 --connections 32

What it does, in order:
  1. drops and re-creates the PostgreSQL database `l2c_wf_bench` (BENCH_PG_URL / BENCH_PG_ADMIN), migrates it,
     and creates an admin, an API token and an active web form (fixed owner, no consent required);
  2. starts gunicorn exactly as `l2c serve` does (2 workers, gthread, 4 threads each), access log off,
     with the web-form rate limit raised through the environment (L2C_WEBFORM_RATE_PER_MINUTE and
     L2C_WEBFORM_RATE_PER_HOUR = 1,000,000,000: every request still counts in the shared cache, none
     is refused) and the embedded default cache (the `l2c_cache` table in the same PostgreSQL);
  3. runs wrk (2 threads, 16 connections, --latency) against, in turn:
       reference  GET  /healthz               (the same app: middleware, URL routing, one SELECT 1)
       api        POST /api/v1/leads          (bearer token, a unique lead as JSON per request)
       form       POST /f/<key>               (JSON, a unique lead per request, no log-in)
     each after a 3 s warm-up, and reports req/s, p50 and p99, and the ratio to the reference;
     and two floors (bench/capture/floor.py, served only by this benchmark's settings module):
       floor      POST /bench/floor/bare   parse the JSON, one INSERT into a bare table, commit
       floor      POST /bench/floor/lead   parse the JSON, one INSERT into leads_lead, commit
     the least any synchronous capture through this stack can cost (no auth, validation or audit);
  4. checks in the database that every 2xx answer left its lead, touch and audit event behind, and
     that the audit chain still verifies; stops gunicorn.

Results: printed as Markdown and appended as a JSON line to bench/results.jsonl. Needs `wrk`
(apt-get install -y wrk). Not part of the test suite.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LUA = ROOT / "bench" / "capture" / "post_lead.lua"
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN", "postgres://postgres@127.0.0.1:5432/postgres")
PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/l2c_wf_bench")
HUGE = "1000000000"

SETUP = r"""
import json
from l2c.identity import services as ids
from l2c.identity.models import User
from l2c.leads.webforms import services as wf
admin = User.objects.create_user(username="bench-admin", password="x-bench-admin-x", role="admin",
                                 first_name="Bench", is_staff=True, is_superuser=True)
_, token = ids.token_create(user=admin, name="bench", actor=None)
form = wf.webform_create(actor=admin, name="Bench form", owner=admin, thank_you_text="Thanks!", fields=[
    {"name": "first_name", "label": "", "required": False}, {"name": "last_name", "label": "", "required": True},
    {"name": "email", "label": "", "required": True}, {"name": "company", "label": "", "required": False},
    {"name": "country", "label": "", "required": False}])
from django.db import connection
with connection.cursor() as cursor:  # the floor endpoint's bare table (bench/capture/floor.py)
    cursor.execute("CREATE TABLE bench_floor (id bigserial PRIMARY KEY, email text, last_name text, company text)")
print("BENCH_SETUP " + json.dumps({"token": token, "key": form.key}))
"""

VERIFY = r"""
import json
from l2c.core import audit
from l2c.core.models import AuditEvent
from l2c.leads.models import Lead, Touch
problem = audit.verify_chain()[1]
print("BENCH_VERIFY " + json.dumps({
    "leads": Lead.objects.count(), "touches": Touch.objects.count(),
    "api_leads": Lead.objects.filter(touches__kind="api").count(),
    "form_leads": Lead.objects.filter(touches__kind="form_submission").count(),
    "lead_events": AuditEvent.objects.filter(object_type="leads.lead", action="create").count(),
    "chain_ok": problem is None, "problem": str(problem) if problem else None}))
"""


def _env(var_dir: Path) -> dict:
    env = dict(os.environ)
    env.update({
        "DJANGO_SETTINGS_MODULE": "bench.capture.floor_settings", "DATABASE_URL": PG_URL, "SECRET_KEY": "bench-" + "x" * 50,
        "ALLOWED_HOSTS": "127.0.0.1,localhost", "L2C_VAR_DIR": str(var_dir), "DB_CONN_MAX_AGE": "600",
        "L2C_WEBFORM_RATE_PER_MINUTE": HUGE, "L2C_WEBFORM_RATE_PER_HOUR": HUGE, "LOG_LEVEL": "WARNING",
    })
    env.pop("CACHE_URL", None)  # the embedded default: the cache table in the application database
    return env


def _manage(env: dict, *args: str, code: str | None = None) -> str:
    argv = [sys.executable, str(ROOT / "manage.py"), *args]
    if code is not None:
        argv += ["-c", code]
    done = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def _tagged(output: str, tag: str) -> dict:
    for line in output.splitlines():
        if line.startswith(tag + " "):
            return json.loads(line[len(tag) + 1:])
    raise SystemExit(f"no {tag} line in:\n{output}")


def recreate_database(*, async_commit: bool) -> None:
    import psycopg

    name = PG_URL.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
        if async_commit:
            conn.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')


def drop_database() -> None:
    import psycopg

    name = PG_URL.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit("gunicorn exited during start-up")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within {timeout} s")


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(number) * _UNITS[unit]


def parse_wrk(output: str) -> dict:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1))
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    return {"rps": rps, "requests": requests, "p50_ms": p50, "p99_ms": p99,
            "non_2xx": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": socket_errors.group(1) if socket_errors else ""}


def run_wrk(url: str, *, seconds: int, threads: int, connections: int, script: Path | None = None,
            env: dict | None = None) -> dict:
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    if script is not None:
        argv += ["-s", str(script)]
    done = subprocess.run([*argv, url], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"wrk failed: {done.stderr}")
    return {**parse_wrk(done.stdout), "raw": done.stdout}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=15, help="seconds per measured endpoint (default 15)")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up before each (default 3)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (default 2)")
    parser.add_argument("--async-commit", action="store_true",
                        help="for comparison: the bench database with synchronous_commit=off (a commit does not "
                             "wait for the WAL flush; a PostgreSQL crash may lose the last ~0.6 s of commits)")
    parser.add_argument("--keep-db", action="store_true", help="keep the bench database afterwards")
    args = parser.parse_args()
    if subprocess.run(["which", "wrk"], capture_output=True).returncode != 0:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")

    var_dir = Path(tempfile.mkdtemp(prefix="l2c-capture-bench-"))
    env = _env(var_dir)
    print(f"database {PG_URL}: re-creating and migrating …", flush=True)
    recreate_database(async_commit=args.async_commit)
    _manage(env, "migrate", "--verbosity", "0")
    setup = _tagged(_manage(env, "shell", code=SETUP), "BENCH_SETUP")

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    gunicorn = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "l2c.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", str(args.workers), "--worker-class", "gthread", "--threads", "4",
         "--graceful-timeout", "10", "--timeout", "60", "--error-logfile", "-", "--log-level", "warning"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=open(var_dir / "gunicorn.log", "w"),
        start_new_session=True)
    results = {}
    try:
        wait_ready(base + "/healthz", gunicorn)
        targets = [
            ("reference: GET /healthz", base + "/healthz", None, {}),
            ("POST /api/v1/leads", base + "/api/v1/leads", LUA, {"BENCH_TOKEN": setup["token"]}),
            ("POST /f/<key> (JSON)", f"{base}/f/{setup['key']}", LUA, {"BENCH_TOKEN": ""}),
            ("floor: one INSERT into a bare table", base + "/bench/floor/bare", LUA, {"BENCH_TOKEN": ""}),
            ("floor: one INSERT into leads_lead", base + "/bench/floor/lead", LUA, {"BENCH_TOKEN": ""}),
        ]
        for run, (label, url, script, extra) in enumerate(targets):
            wrk_env = {**os.environ, **extra}
            print(f"{label}: warm-up {args.warmup} s, then {args.duration} s …", flush=True)
            run_wrk(url, seconds=args.warmup, threads=args.threads, connections=args.connections, script=script,
                    env={**wrk_env, "BENCH_NONCE": f"w{run}"})
            results[label] = run_wrk(url, seconds=args.duration, threads=args.threads,
                                     connections=args.connections, script=script,
                                     env={**wrk_env, "BENCH_NONCE": f"m{run}"})
    finally:
        os.killpg(gunicorn.pid, signal.SIGTERM)
        try:
            gunicorn.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(gunicorn.pid, signal.SIGKILL)
            gunicorn.wait()
    verify = _tagged(_manage(env, "shell", code=VERIFY), "BENCH_VERIFY")
    if not args.keep_db:
        drop_database()
    shutil.rmtree(var_dir, ignore_errors=True)

    reference = results["reference: GET /healthz"]
    print()
    print(f"wrk {args.threads} threads, {args.connections} connections, {args.duration} s each; gunicorn "
          f"{args.workers} workers × 4 threads; PostgreSQL (synchronous_commit="
          f"{'off' if args.async_commit else 'on'}); {os.cpu_count()} CPUs")
    print()
    print("| endpoint | req/s | p50 (ms) | p99 (ms) | non-2xx | ratio to /healthz |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, r in results.items():
        print(f"| {label} | {r['rps']:,.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['non_2xx']} | "
              f"{r['rps'] / reference['rps']:.2f} |")
    print()
    print("database after the run:", json.dumps(verify))
    record = {
        "bench": "capture", "at": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": platform.machine(),
        "cpus": os.cpu_count(), "python": platform.python_version(), "duration_s": args.duration,
        "threads": args.threads, "connections": args.connections, "workers": args.workers,
        "synchronous_commit": "off" if args.async_commit else "on",
        "results": {k: {kk: vv for kk, vv in v.items() if kk != "raw"} for k, v in results.items()},
        "verify": verify,
    }
    with open(ROOT / "bench" / "results.jsonl", "a") as fh:
        fh.write(json.dumps(record) + "\n")
    ok = all(r["non_2xx"] == 0 for r in results.values()) and verify["chain_ok"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
