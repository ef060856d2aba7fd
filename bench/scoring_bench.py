"""Lead scoring over N leads: a full re-score with rules, the model's training, and a re-score with the model.

    .venv/bin/python bench/scoring_bench.py --db postgresql --n 1000000
    .venv/bin/python bench/scoring_bench.py --db sqlite --n 20000

The database starts empty and freshly migrated (an SQLite file in a scratch folder, or the PostgreSQL database
`l2c_scoring_bench`, dropped and re-created; BENCH_PG_ADMIN / BENCH_PG_URL override the URLs). The data — N
leads over 8 countries, 6 industries and 5 company sizes, about 3 touches each (form fills, e-mail opens and
clicks, page visits over the last 180 days), a fifth of them converted or disqualified with odds that depend
on country and form fills — is written with bulk inserts and is not timed. Seven rules (four fit, three
engagement with half-lives and caps). Then, timed:

  rescore (rules)       `rescore_all()` with no model: every lead's rule score, Lead.score and LeadScore rows
  train                 `model.train()`: features of the outcomes, logistic regression, AUC, calibration
  rescore (model)       `rescore_all()` again with the model active (probability and factors per lead)
  reference: UPDATE     one bare `UPDATE leads_lead SET score = <expression>` of every lead: the floor of
                        writing one column of N rows

Each re-score's phases (`read_and_compute`, `write`) are summed over its id ranges; on PostgreSQL the writes
run on writer threads while the next range is computed, so the phases add up to more than the wall time.
`lead_table` (PostgreSQL): the lead table's fillfactor, heap size and how many of its row updates were HOT.

Target (issue 7): a full re-score of 1,000,000 leads under 60 s. Prints the figures and appends a JSON line to
bench/results.jsonl (not with --no-record).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from django_db import fresh_database, setup  # noqa: E402

PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/l2c_scoring_bench")
NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
TARGET_S = 60.0
COUNTRIES = {"CN": 1.2, "US": 0.6, "DE": 0.4, "GB": 0.2, "FR": 0.0, "IN": -0.3, "BR": -0.6, "": -1.0}
INDUSTRIES = ["Software", "Retail", "Energy", "Finance", "Health", ""]
SIZES = ["1-10", "11-50", "51-200", "201-1000", "1000+"]
TITLES = ["CEO", "CTO", "Head of Purchasing", "Sales Director", "Engineer", "Intern", ""]
KINDS = [("form_submission", 0.8), ("email_open", 1.6), ("email_click", 0.5), ("page_visit", 1.2)]
CHUNK = 50_000


def _rows(model, values: list[dict]):
    """Every concrete column (but the id) of `model` for each dict of `values`, the rest from the defaults."""
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    defaults = {}
    for field in fields:
        default = field.get_default()
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            default = NOW
        defaults[field.attname] = default
    columns = [field.attname for field in fields]
    return columns, [[{**defaults, **value}[c] for c in columns] for value in values]


def build(n: int, seed: int = 7) -> int:
    """N leads and their touches; returns the number of touches."""
    from django.db import transaction

    from l2c.core.bulk import insert_rows
    from l2c.leads.models import Lead, Touch

    rng = random.Random(seed)
    touches_total = 0
    for start in range(0, n, CHUNK):
        count = min(CHUNK, n - start)
        leads, counts = [], []
        for i in range(start, start + count):
            country = rng.choice(list(COUNTRIES))
            kinds = {kind: min(12, int(rng.expovariate(1 / mean))) for kind, mean in KINDS}
            status = "new"
            if rng.random() < 0.2:
                logit = -1.0 + COUNTRIES[country] + 0.7 * math.log1p(kinds["form_submission"])
                status = "converted" if rng.random() < 1 / (1 + math.exp(-logit)) else "disqualified"
            leads.append({"last_name": f"Lead {i}", "email": f"lead{i}@example.com", "country": country,
                          "industry": rng.choice(INDUSTRIES), "company_size": rng.choice(SIZES),
                          "title": rng.choice(TITLES), "status": status, "status_changed_at": NOW})
            counts.append(kinds)
        with transaction.atomic():
            columns, rows = _rows(Lead, leads)
            insert_rows(Lead, columns, rows)
            ids = list(Lead.objects.filter(email__in=[v["email"] for v in (leads[0], leads[-1])])
                       .order_by("pk").values_list("pk", flat=True))
            first_id = ids[0]
            touch_values = []
            for offset, kinds in enumerate(counts):
                for kind, how_many in kinds.items():
                    for _k in range(how_many):
                        touch_values.append({"lead_id": first_id + offset, "kind": kind,
                                             "occurred_at": NOW - dt.timedelta(days=rng.uniform(0, 180))})
            columns, rows = _rows(Touch, touch_values)
            insert_rows(Touch, columns, rows)
            touches_total += len(touch_values)
        print(f"  {start + count} leads", flush=True)
    return touches_total


def rules() -> None:
    from l2c.nurture.models import ScoringRule
    from l2c.nurture.scoring import services

    for values in (
        {"kind": "fit", "field": "country", "operator": "in", "value": "CN,US,DE", "points": 20},
        {"kind": "fit", "field": "industry", "operator": "equals", "value": "Software", "points": 15},
        {"kind": "fit", "field": "company_size", "operator": "gte", "value": "200", "points": 15},
        {"kind": "fit", "field": "title", "operator": "contains", "value": "intern", "points": -20},
        {"kind": "engagement", "touch_kind": "form_submission", "points": 10, "half_life_days": 30, "cap": 40},
        {"kind": "engagement", "touch_kind": "email_open", "points": 2, "half_life_days": 14},
        {"kind": "engagement", "touch_kind": "page_visit", "points": 3, "half_life_days": 7, "cap": 20},
    ):
        ScoringRule.objects.create(**services.clean_rule(values))  # checked, without queueing a re-score


def reference_update() -> float:
    from django.db import connection, transaction

    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE leads_lead SET score = (id % 101)")
    return time.perf_counter() - started


def lead_table_stats() -> dict:
    """PostgreSQL: the lead table's fillfactor, heap size and how many of its row updates were HOT (no index
    entries written), e.g. {"fillfactor": 50, "heap_mb": 402, "updates": 3000000, "hot_updates": 2999120}."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return {}
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")
        time.sleep(1.5)  # the statistics reach the shared view on the next flush of this session's counters
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT c.reloptions, pg_relation_size(c.oid), s.n_tup_upd, s.n_tup_hot_upd "
                       "FROM pg_class c JOIN pg_stat_user_tables s ON s.relid = c.oid WHERE c.relname = 'leads_lead'")
        options, size, updates, hot = cursor.fetchone()
    fillfactor = next((int(o.split("=")[1]) for o in options or [] if o.startswith("fillfactor=")), 100)
    return {"fillfactor": fillfactor, "heap_mb": round(size / 2**20), "updates": updates, "hot_updates": hot}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--no-record", action="store_true", help="do not append to bench/results.jsonl")
    args = parser.parse_args()
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    setup(fresh_database(args.db, PG_URL, "l2c-scoring-bench-"))
    from django.db import connection

    from l2c.nurture.models import LeadScore
    from l2c.nurture.scoring import model, services

    t0 = time.perf_counter()
    touches = build(args.n)
    rules()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ANALYZE")
    print(f"data: {args.n} leads, {touches} touches in {time.perf_counter() - t0:.1f} s", flush=True)

    phases = {"read_and_compute": 0.0, "write": 0.0}

    def timed(name, fn):
        def run(*a, **k):
            began = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                phases[name] += time.perf_counter() - began
        return run

    services.score_range = timed("read_and_compute", services.score_range)
    services._write = timed("write", services._write)
    started = time.perf_counter()
    scored = services.rescore_all(now=NOW)
    rules_s = time.perf_counter() - started
    rules_phases = {k: round(v, 2) for k, v in phases.items()}
    phases.update(read_and_compute=0.0, write=0.0)
    assert scored == args.n == LeadScore.objects.count()
    print(f"rescore (rules): {rules_s:.1f} s", flush=True)

    started = time.perf_counter()
    trained = model.train(now=NOW)
    train_s = time.perf_counter() - started
    print(f"train: {train_s:.1f} s, status {trained.status}, AUC {trained.metrics.get('auc')}", flush=True)

    started = time.perf_counter()
    services.rescore_all(now=NOW)
    model_s = time.perf_counter() - started
    model_phases = {k: round(v, 2) for k, v in phases.items()}
    assert LeadScore.objects.filter(probability__isnull=False).count() == args.n
    print(f"rescore (model): {model_s:.1f} s", flush=True)

    update_s = reference_update()
    result = {
        "bench": "lead_scoring", "db": connection.vendor, "n": args.n, "touches": touches,
        "rescore_rules_s": round(rules_s, 2), "rescore_rules_leads_per_s": round(args.n / rules_s, 1),
        "rescore_rules_phases_s": rules_phases,
        "train_s": round(train_s, 2), "train_outcomes": trained.metrics.get("outcomes"),
        "auc": trained.metrics.get("auc"),
        "rescore_model_s": round(model_s, 2), "rescore_model_leads_per_s": round(args.n / model_s, 1),
        "rescore_model_phases_s": model_phases,
        "reference_bare_update_s": round(update_s, 2), "reference_bare_update_rows_per_s": round(args.n / update_s, 1),
        "target_s_for_1m": TARGET_S,
        "load_average_at_start": load_at_start,
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "lead_table": lead_table_stats(),
        "projected_1m_rescore_model_s": round(model_s * 1_000_000 / args.n, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "at": dt.datetime.now().isoformat(timespec="seconds"),
    }
    print(json.dumps(result, indent=2))
    if not args.no_record:
        with open(ROOT / "bench" / "results.jsonl", "a") as out:
            out.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
