"""Benchmark 1: import a 1,000,000-lead CSV with validation and dedupe, beside a raw reference.

    .venv/bin/python bench/import_bench.py --rows 1000000 --db postgres://postgres@127.0.0.1:5432/l2c_imp1_bench
    .venv/bin/python bench/import_bench.py --rows 1000000 --db sqlite:////tmp/l2c_import_bench.sqlite3

What one run does, in one process, on one machine:
1. Generates (once, cached under /tmp) a realistic CSV: names in English and Chinese, e-mails, phone
   numbers in mixed formats (+86 138 ..., 13812345678, (415) 555-..., 0044 ...), companies, titles,
   sources and countries written as codes or names in both languages; ~2 % of the rows repeat an
   earlier person (other case, other phone format) and ~1 % are invalid (bad e-mail, bad phone, no name).
2. Re-creates the database (PostgreSQL: DROP/CREATE DATABASE; SQLite: a new file), migrates, and
   imports --existing leads (default 100,000, another file) so dedupe has something to match against.
3. Times `run_import` of the big file end to end (open, detect, validate, dedupe against the
   existing leads and within the file, write leads + touches + audit, commit).
4. Times the reference on the same database in the same run: the same file into a bare table with
   one text column per CSV column and no index — PostgreSQL: `COPY ... FROM STDIN (FORMAT csv)`
   fed the file's bytes (the server parses the CSV); SQLite: csv.reader + `executemany` in one transaction.
Prints a Markdown table row and appends a JSON line to bench/results.jsonl. --profile FILE writes a
cProfile of step 3.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import sys
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

EN_FIRST = ("James Mary John Patricia Robert Jennifer Michael Linda William Elizabeth David Barbara Richard Susan "
            "Joseph Jessica Thomas Sarah Charles Karen Chris Nancy Daniel Lisa Matthew Betty Anthony Margaret Mark "
            "Sandra Paul Ashley Steven Emily Andrew Donna Joshua Michelle Kenneth Carol Kevin Amanda Brian Melissa "
            "George Deborah Timothy Stephanie Ronald Rebecca Jason Sharon Edward Laura Jeffrey Cynthia Ryan Amy "
            "Jacob Kathleen Gary Angela Nicholas Shirley Eric Anna Jonathan Brenda Stephen Pamela Larry Emma").split()
EN_LAST = ("Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez "
           "Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark "
           "Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams "
           "Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Gomez Phillips Evans Turner Diaz Parker "
           "Cruz Edwards Collins Reyes Stewart Morris Morales Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper").split()
ZH_LAST = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈") + [
    "欧阳", "司马", "诸葛", "上官"]
ZH_FIRST = ["伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超",
            "秀兰", "霞", "平", "刚", "桂英", "小明", "建国", "志强", "海燕", "晓东", "文博", "子轩", "雨涵", "浩然"]
EN_WORDS = ("Acme Globex Initech Umbrella Stark Wayne Hooli Vandelay Soylent Tyrell Cyberdyne Wonka Aperture "
            "Massive Dynamic Oscorp Gringotts Nakatomi Virtucon Monarch Prestige Sterling Cooper Pied Piper "
            "Blue Sun Red Rock Northwind Contoso Fabrikam Tailspin Litware Adatum Proseware Wingtip Alpine "
            "Summit Harbor Granite Cedar Maple Falcon Eagle Orion Nova Vertex Quantum Apex Zenith Atlas").split()
EN_KINDS = ("Systems Labs Logistics Analytics Foods Energy Robotics Software Consulting Partners Holdings "
            "Industries Networks Capital Media Health Motors Solutions Technologies Ventures").split()
EN_SUFFIX = ("Inc", "Ltd", "LLC", "GmbH", "Corp", "Co.", "", "")
ZH_WORDS = list("华腾阿里百度京东美团小米字节网易新浪搜狐海康大华比亚迪格力美的联想中兴长城吉利蔚来理想宁德顺丰")
ZH_KINDS = ["科技", "信息技术", "电子", "物流", "软件", "网络", "医疗", "新能源", "智能", "数据"]
ZH_SUFFIX = ["有限公司", "股份有限公司", "集团", ""]
TITLES = ["CEO", "CTO", "Head of Sales", "Procurement Manager", "IT Director", "Engineer", "经理", "总监", "采购经理",
          "技术总监", "销售总监", "工程师", "VP Marketing", ""]
SOURCES = ["Web form", "web_form", "Event", "展会", "推荐", "Referral", "advertising", "广告", "", "", "Partner"]
CN_MOBILE = ["130", "131", "132", "135", "136", "137", "138", "139", "150", "151", "152", "155", "158", "159",
             "177", "180", "181", "186", "187", "188", "189", "199"]
US_AREA = ["212", "213", "312", "415", "617", "646", "702", "713", "206", "305", "404", "503", "512", "602"]
HEADER = ["姓名", "Email", "手机", "公司", "Job title", "来源", "Country", "City"]


def _company(rng: random.Random, chinese: bool) -> str:
    if chinese:
        return rng.choice(ZH_WORDS) + rng.choice(ZH_WORDS) + rng.choice(ZH_KINDS) + rng.choice(ZH_SUFFIX)
    name = f"{rng.choice(EN_WORDS)} {rng.choice(EN_KINDS)}"
    suffix = rng.choice(EN_SUFFIX)
    return f"{name} {suffix}".strip()


def _phone(rng: random.Random, chinese: bool) -> tuple[str, str]:
    """(text as people type it, country)."""
    if chinese:
        digits = rng.choice(CN_MOBILE) + f"{rng.randrange(10**8):08d}"
        style = rng.random()
        if style < 0.5:
            return digits, rng.choice(["CN", "中国", "China", ""])
        if style < 0.8:
            return f"+86 {digits[:3]} {digits[3:7]} {digits[7:]}", rng.choice(["CN", "中国", ""])
        return f"+86{digits}", "CN"
    area = rng.choice(US_AREA)
    line = f"{rng.randrange(200, 1000)}{rng.randrange(10000):04d}"
    style = rng.random()
    if style < 0.4:
        return f"({area}) {line[:3]}-{line[3:]}", rng.choice(["US", "USA", "United States", "美国"])
    if style < 0.8:
        return f"+1 {area} {line[:3]} {line[3:]}", rng.choice(["US", "us", ""])
    return f"+1-{area}-{line[:3]}-{line[3:]}", "US"


def generate(path: Path, rows: int, seed: int) -> dict:
    """Write the CSV; returns how many rows of each kind it holds."""
    rng = random.Random(seed)
    companies = [(_company(rng, i % 5 < 2), i % 5 < 2) for i in range(max(rows // 5, 50))]
    kept: list[list[str]] = []
    counts = {"rows": rows, "duplicates": 0, "invalid": 0}
    tmp = path.with_suffix(".part")
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        for i in range(rows):
            roll = rng.random()
            if roll < 0.02 and kept:
                row = list(rng.choice(kept))
                row[1] = row[1].upper() if rng.random() < 0.5 else row[1]
                if rng.random() < 0.5:
                    row[1] = ""  # matched by phone (or name + company) instead
                counts["duplicates"] += 1
                writer.writerow(row)
                continue
            company, chinese = rng.choice(companies)
            if chinese:
                name = rng.choice(ZH_LAST) + rng.choice(ZH_FIRST)
                local = f"u{seed}x{i}"
                domain = f"corp{zlib.crc32(company.encode()) % 99991}.cn"
            else:
                first, last = rng.choice(EN_FIRST), rng.choice(EN_LAST)
                name = f"{first} {last}"
                local = f"{first}.{last}{i}".lower()
                domain = f"{company.split()[0].lower()}{zlib.crc32(company.encode()) % 9973}.com"
            phone, country = _phone(rng, chinese)
            email = f"{local}@{domain}"
            if roll > 0.99:
                counts["invalid"] += 1
                kind = rng.randrange(3)
                if kind == 0:
                    email = email.replace("@", " at ")
                elif kind == 1:
                    phone = phone[:5]
                else:
                    name = ""
            row = [name, email, phone, company, rng.choice(TITLES), rng.choice(SOURCES), country,
                   rng.choice(["Shanghai", "北京", "深圳", "New York", "Austin", "London", ""])]
            if len(kept) < 50_000 and rng.random() < 0.1:
                kept.append(row)
            writer.writerow(row)
    tmp.rename(path)
    return counts


def data_file(rows: int, seed: int) -> Path:
    path = Path(f"/tmp/l2c_import_bench_{rows}_{seed}.csv")
    meta = path.with_suffix(".json")
    if not path.exists() or not meta.exists():
        started = time.perf_counter()
        counts = generate(path, rows, seed)
        meta.write_text(json.dumps(counts))
        print(f"generated {path} ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - started:.1f} s",
              file=sys.stderr)
    return path


def reset_database(url: str) -> None:
    if url.startswith("postgres"):
        import psycopg

        name = url.rsplit("/", 1)[1]
        admin = url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
    else:
        path = Path(url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)


def reference(path: Path) -> float:
    """Seconds for the raw load of the same file into a bare table."""
    from django.db import connection, transaction

    columns = ", ".join(f"c{i} text" for i in range(len(HEADER)))
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_raw")
        cursor.execute(f"CREATE TABLE bench_raw ({columns})")
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy("COPY bench_raw FROM STDIN (FORMAT csv, HEADER true)") as copy, \
                    path.open("rb") as fh:
                while block := fh.read(1 << 20):
                    copy.write(block)
        else:
            with path.open(encoding="utf-8", newline="") as fh:
                reader = csv.reader(fh)
                next(reader)
                placeholders = ", ".join("?" for _h in HEADER)
                connection.ensure_connection()
                batch = []
                for row in reader:
                    batch.append(row)
                    if len(batch) == 10_000:
                        connection.connection.executemany(f"INSERT INTO bench_raw VALUES ({placeholders})", batch)
                        batch.clear()
                connection.connection.executemany(f"INSERT INTO bench_raw VALUES ({placeholders})", batch)
    seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM bench_raw")
        assert cursor.fetchone()[0] > 0
        cursor.execute("DROP TABLE bench_raw")
    return seconds


def reference_indexed() -> tuple[float, int]:
    """PostgreSQL only: (seconds, rows) to COPY the leads the import created, exported beforehand, into
    an empty copy of leads_lead with all its indexes — the database's share of the import's cost."""
    from django.db import connection, transaction

    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_lead")
        cursor.execute("CREATE TABLE bench_lead (LIKE leads_lead INCLUDING ALL)")
        data = bytearray()
        with cursor.cursor.copy("COPY (SELECT * FROM leads_lead WHERE source <> 'manual' ORDER BY id DESC) "
                                "TO STDOUT") as copy:
            for block in copy:
                data += block
    rows = data.count(b"\n")
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL gin_pending_list_limit = '256MB'")  # as the import does
        with cursor.cursor.copy("COPY bench_lead FROM STDIN") as copy:
            view = memoryview(data)
            for start in range(0, len(view), 1 << 20):
                copy.write(view[start:start + (1 << 20)])
    seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_lead")
    return seconds, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--existing", type=int, default=100_000, help="leads in the database before the import")
    parser.add_argument("--db", default="postgres://postgres@127.0.0.1:5432/l2c_imp1_bench")
    parser.add_argument("--profile", help="write a cProfile of the import to this file")
    parser.add_argument("--no-touches", action="store_true", help="do not record a touch per created lead")
    parser.add_argument("--keep-db", action="store_true", help="do not drop the benchmark database afterwards")
    args = parser.parse_args()

    big = data_file(args.rows, seed=1)
    seed_file = data_file(args.existing, seed=2) if args.existing else None
    reset_database(args.db)
    os.environ["DATABASE_URL"] = args.db
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "l2c.settings")
    os.environ.setdefault("L2C_VAR_DIR", "/tmp/l2c_import_bench_var")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from l2c.leads.imports.engine import ImportOptions, run_import
    from l2c.leads.models import Lead

    settings.L2C_IMPORT_MAX_BYTES = 2 * 1024**3
    call_command("migrate", verbosity=0)
    if seed_file:
        started = time.perf_counter()
        run_import(seed_file, ImportOptions(default_region="CN", on_duplicate="create"), actor=None)
        print(f"seeded {Lead.objects.count():,} existing leads in {time.perf_counter() - started:.1f} s",
              file=sys.stderr)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
    existing = Lead.objects.count()

    options = ImportOptions(default_region="CN", touch_new_leads=not args.no_touches)
    # the Python side alone: a dry run does everything (read, validate, dedupe) but write
    started = time.perf_counter()
    dry = run_import(big, ImportOptions(default_region="CN", dry_run=True), actor=None)
    dry_seconds = time.perf_counter() - started
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    started = time.perf_counter()
    result = run_import(big, options, actor=None)
    seconds = time.perf_counter() - started
    if profiler:
        profiler.disable()
        profiler.dump_stats(args.profile)
    ref_seconds = reference(big)
    indexed = reference_indexed() if connection.vendor == "postgresql" else None

    rate = result.rows_total / seconds
    ref_rate = result.rows_total / ref_seconds
    record = {
        "bench": "import", "db": connection.vendor, "rows": result.rows_total, "existing": existing,
        "created": result.created, "skipped": result.skipped, "rejected": result.rejected,
        "touches": result.touches, "seconds": round(seconds, 2), "rows_per_s": round(rate),
        "reference_seconds": round(ref_seconds, 2), "reference_rows_per_s": round(ref_rate),
        "ratio": round(rate / ref_rate, 3),
        "dry_run_seconds": round(dry_seconds, 2), "dry_run_rows_per_s": round(dry.rows_total / dry_seconds),
        "indexed_copy_seconds": round(indexed[0], 2) if indexed else None,
        "indexed_copy_rows": indexed[1] if indexed else None, "python": platform.python_version(), "cpus": os.cpu_count(),
        "at": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    with (ROOT / "bench" / "results.jsonl").open("a") as fh:
        fh.write(json.dumps(record) + "\n")
    print("| database | rows | existing leads | created | skipped | rejected | import (s) | rows/s "
          "| reference (s) | reference rows/s | ratio |")
    print(f"| {connection.vendor} | {result.rows_total:,} | {existing:,} | {result.created:,} | {result.skipped:,} "
          f"| {result.rejected:,} | {seconds:.1f} | {rate:,.0f} | {ref_seconds:.1f} | {ref_rate:,.0f} "
          f"| {rate / ref_rate:.2f} |")
    print(f"dry run (read, validate, dedupe; no write): {dry_seconds:.1f} s ({dry.rows_total / dry_seconds:,.0f} rows/s)")
    if indexed:
        print(f"COPY of the {indexed[1]:,} leads in the table into an empty copy of leads_lead with all its indexes: "
              f"{indexed[0]:.1f} s ({indexed[1] / indexed[0]:,.0f} rows/s)")
    connection.close()
    if not args.keep_db:
        reset_database(args.db)
        if args.db.startswith("postgres"):
            import psycopg

            name = args.db.rsplit("/", 1)[1]
            with psycopg.connect(args.db.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


if __name__ == "__main__":
    main()
