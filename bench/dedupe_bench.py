"""Duplicate finder at scale: the matcher (l2c.leads.dedupe.matching.find_groups) over N generated people.

    .venv/bin/python bench/dedupe_bench.py --n 1000000 [--seed 1] [--threshold 90]

The records are generated in memory (no database: this measures the matching, which is what a scan
spends its time on; reading a million rows with values_list is a few seconds more). 1 in 100 people
gets a planted duplicate (typo in the last name, the company written differently, another e-mail);
the recall of those (both in one group) is printed.

Reference, in the same run: one linear pass that computes every record's keys (email_key,
company_key, name_tokens) and groups by exact e-mail, the least any matcher must do. The ratio says
what blocking plus rapidfuzz costs on top of that.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import string
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "l2c.settings")

import django  # noqa: E402

django.setup()

from l2c.leads.dedupe.keys import company_key, email_key, name_tokens  # noqa: E402
from l2c.leads.dedupe.matching import LEAD, Candidate, find_groups  # noqa: E402

FIRST = ["James", "Mary", "Wei", "Fang", "Ahmed", "Sofia", "Lukas", "Emma", "Hiroshi", "Olga", "Carlos", "Priya",
         "伟", "芳", "娜", "敏", "静", "强", "磊", "军"]
FAMILY_CN = ["王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周"]
COUNTRIES = ["US", "CN", "DE", "GB", "FR", "IN", "JP", "BR", "CA", "AU"]
SUFFIXES = ["Inc", "GmbH", "Ltd", "SA", "LLC", "", "有限公司"]


def generate(n: int, seed: int) -> tuple[list[Candidate], list[tuple]]:
    rnd = random.Random(seed)

    def word(k):
        return "".join(rnd.choice(string.ascii_lowercase) for _ in range(k)).capitalize()

    companies = [f"{word(rnd.randint(4, 10))} {rnd.choice(SUFFIXES)}".strip() for _ in range(max(10, n // 8))]
    records, planted = [], []
    for i in range(n):
        first = rnd.choice(FIRST)
        last = rnd.choice(FAMILY_CN) if first in FIRST[12:] else word(rnd.randint(5, 9))
        rec = Candidate(LEAD, i, first, last, email=f"{word(7).lower()}{i}@{word(6).lower()}.example",
                        phones=(f"+1{rnd.randrange(2 * 10**9, 10**10)}",), company=rnd.choice(companies),
                        country=rnd.choice(COUNTRIES))
        records.append(rec)
        if i % 100 == 0:
            twin_last = rec.last_name if len(rec.last_name) == 1 else rec.last_name[:-1] + "e"
            twin = Candidate(LEAD, n + i, rec.first_name, twin_last, email="", phones=(),
                             company=rec.company.upper().replace(" ", ", "), country=rec.country)
            records.append(twin)
            planted.append((rec.ref, twin.ref))
    return records, planted


def reference(records) -> float:
    start = time.perf_counter()
    by_email = defaultdict(list)
    for r in records:
        company_key(r.company)
        name_tokens(r.first_name, r.last_name)
        by_email[email_key(r.email)].append(r.id)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threshold", type=int, default=90)
    args = parser.parse_args()
    t0 = time.perf_counter()
    records, planted = generate(args.n, args.seed)
    gen = time.perf_counter() - t0
    ref = reference(records)
    t0 = time.perf_counter()
    groups = find_groups(records, threshold=args.threshold)
    took = time.perf_counter() - t0
    group_of = {ref: n for n, g in enumerate(groups) for ref in g.members}
    recall = sum(a in group_of and group_of.get(a) == group_of.get(b) for a, b in planted) / max(1, len(planted))
    result = {
        "bench": "dedupe", "records": len(records), "threshold": args.threshold, "generate_s": round(gen, 2),
        "reference_keys_s": round(ref, 2), "find_groups_s": round(took, 2), "ratio": round(took / ref, 1),
        "records_per_s": int(len(records) / took), "groups": len(groups),
        "pairs": sum(len(g.pairs) for g in groups), "planted": len(planted), "recall": round(recall, 4),
        "python": platform.python_version(), "cpus": os.cpu_count(),
    }
    print(json.dumps(result))
    with open(Path(__file__).with_name("results.jsonl"), "a", encoding="utf-8") as fh:
        fh.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
