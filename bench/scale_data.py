"""Fill a PostgreSQL database with a large, realistic data set for the "views at scale" benchmark.

Default sizes (issue 3, benchmark 3): 1,000,000 leads, 100,000 accounts, 150,000 contacts,
200,000 opportunities with their stage history, 2,000,000 activities, 50 users in 5 teams.

    BENCH_SCALE_URL=postgres://postgres@127.0.0.1:5432/l2c_scale \\
        .venv/bin/python bench/scale_data.py --recreate

Steps: (re)create the database, `l2c migrate`, create teams, users and campaigns through the ORM,
then stream every big table with COPY (psycopg 3) from rows generated in Python with a seeded RNG
(same seed, same rows). While loading, the secondary indexes of the big tables are dropped and
rebuilt afterwards, and foreign-key triggers are off for the loading session
(`session_replication_role = replica`): the generator itself keeps every reference valid. At the
end: VACUUM ANALYZE. Takes a few minutes on 2 cores.

Known users (password "scale"): scale_admin, scale_mgr1..5 (one per team), scale_rep01..43 and
scale_finance. A few "heavy" opportunities owned by scale_rep01 (ids 1..HEAVY_OPPORTUNITIES) have
HEAVY_ACTIVITIES activities and HEAVY_STAGE_MOVES stage-history rows each, plus audit events, for the
opportunity-page benchmark. This is benchmark data, never commit it; the database is scratch.
"""
from __future__ import annotations

import argparse
import bisect
import datetime as dt
import itertools
import json
import os
import random
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/l2c_scale"
PASSWORD = "scale"
TEAM_NAMES = ("Shanghai", "Beijing", "Shenzhen", "Americas", "EMEA")
HEAVY_OPPORTUNITIES = 5
HEAVY_ACTIVITIES = 3_000
HEAVY_STAGE_MOVES = 150
HEAVY_AUDIT_EVENTS = 120

LEAD_STATUSES = ("new", "working", "nurturing", "qualified", "disqualified", "converted")
LEAD_STATUS_WEIGHTS = (18, 20, 14, 10, 20, 18)
LEAD_SOURCES = (("web_form", 24), ("manual", 10), ("import", 14), ("api", 6), ("referral", 8), ("cold_call", 8),
                ("partner", 6), ("email", 8), ("event", 6), ("advertising", 5), ("social", 3), ("other", 2))
# stage order index (0..5 = Prospecting, Qualification, Proposal, Negotiation, Won, Lost) and weight
STAGE_WEIGHTS = (25, 18, 14, 8, 20, 15)
FORECAST_BY_STAGE = ("pipeline", "pipeline", "best_case", "commit", "closed", "omitted")
ACTIVITY_KINDS = (("call", 25), ("email", 25), ("meeting", 12), ("task", 25), ("note", 13))
TARGET_WEIGHTS = (("lead", 40), ("opportunity", 35), ("contact", 15), ("account", 10))
YEARS_OF_HISTORY = 3


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def with_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def pg_url(url: str) -> str:
    """psycopg takes postgresql:// and postgres:// alike; dj-database-url needs one of them."""
    return url


def recreate_database(url: str) -> None:
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(with_db(url, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    log(f"database {name} re-created")


def migrate(url: str) -> None:
    env = {**os.environ, "DATABASE_URL": url}
    subprocess.run([str(ROOT / ".venv/bin/l2c"), "migrate", "--verbosity", "0"], check=True, env=env, cwd=ROOT)
    log("migrated")


# --- small tables through the ORM -------------------------------------------------------------------

def setup_django(url: str):
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "l2c.settings")
    import django

    django.setup()


def create_people_and_campaigns(rng: random.Random, pools) -> dict:
    from django.contrib.auth.hashers import make_password

    from l2c.identity.models import Team, User
    from l2c.leads.models import Campaign

    password = make_password(PASSWORD)
    teams = [Team.objects.create(name=n, description=f"{n} sales team") for n in TEAM_NAMES]
    users = [User(username="scale_admin", first_name="Ada", last_name="Admin", role="admin", is_staff=True,
                  is_superuser=True, password=password, email="admin@scale.example")]
    reps_per_team = [9, 9, 9, 8, 8]  # 43 reps
    n = 0
    for t, team in enumerate(teams):
        users.append(User(username=f"scale_mgr{t + 1}", first_name=rng.choice(pools.en_first),
                          last_name=rng.choice(pools.en_last), role="manager", team=team, password=password))
        for _ in range(reps_per_team[t]):
            n += 1
            if t < 3:
                sur, _py = rng.choice(_zh_surnames())
                given, _gpy = rng.choice(_zh_given())
                first, last = given, sur
            else:
                first, last = rng.choice(pools.en_first), rng.choice(pools.en_last)
            users.append(User(username=f"scale_rep{n:02d}", first_name=first, last_name=last, role="rep", team=team,
                              password=password))
    users.append(User(username="scale_finance", first_name="Fiona", last_name="Finance", role="finance",
                      password=password))
    User.objects.bulk_create(users)
    users = list(User.objects.filter(username__startswith="scale_").order_by("id"))
    today = dt.date.today()
    campaigns = []
    kinds = ("webinar", "advertising", "social", "email", "event", "partner", "content", "referral")
    for i in range(30):
        start = today - dt.timedelta(days=rng.randrange(30, 365 * YEARS_OF_HISTORY))
        kind = kinds[i % len(kinds)]
        campaigns.append(Campaign(name=f"{kind.capitalize()} {start:%Y-%m} #{i + 1}", type=kind,
                                  status="completed" if start < today - dt.timedelta(days=120) else "active",
                                  start_date=start, end_date=start + dt.timedelta(days=60), budget=Decimal(20_000),
                                  cost=Decimal(rng.randrange(2_000, 20_000)), owner=users[0]))
    Campaign.objects.bulk_create(campaigns)
    log(f"{len(teams)} teams, {len(users)} users, {len(campaigns)} campaigns")
    return {"users": users, "campaign_ids": list(Campaign.objects.values_list("id", flat=True))}


def _zh_surnames():
    from l2c.demo.pools import ZH_SURNAMES

    return ZH_SURNAMES


def _zh_given():
    from l2c.demo.pools import ZH_GIVEN

    return ZH_GIVEN


# --- COPY helpers ---------------------------------------------------------------------------------

class Table:
    """Column order and defaults of one model's table, so a generator only fills what it knows."""

    def __init__(self, model):
        self.model = model
        self.name = model._meta.db_table
        self.fields = [f for f in model._meta.concrete_fields]
        self.columns = [f.column for f in self.fields]
        self.index = {f.column: i for i, f in enumerate(self.fields)}
        base = []
        for f in self.fields:
            value = f.get_default() if f.has_default() else ("" if not f.null and f.get_internal_type()
                                                              in ("CharField", "TextField", "EmailField") else None)
            if isinstance(value, (dict, list)):
                value = json.dumps(value)
            base.append(value)
        self.base = base

    def row(self, **values):
        row = self.base.copy()
        for key, value in values.items():
            row[self.index[key]] = value
        return row


def drop_secondary_indexes(cur, table: str) -> list[str]:
    cur.execute("""SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = %s
                   AND indexname NOT IN (SELECT conname FROM pg_constraint)""", [table])
    rows = cur.fetchall()
    for name, _definition in rows:
        cur.execute(f'DROP INDEX "{name}"')
    return [definition for _name, definition in rows]


def copy_rows(cur, table: Table, rows) -> int:
    n = 0
    columns = ", ".join(f'"{c}"' for c in table.columns)
    with cur.copy(f'COPY "{table.name}" ({columns}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row(row)
            n += 1
    return n


# --- the generator -----------------------------------------------------------------------------------

class Generator:
    def __init__(self, *, seed: int, leads: int, accounts: int, contacts: int, opportunities: int,
                 activities: int, people: dict, pools):
        from l2c.demo.pools import COUNTRIES

        self.seed = seed
        self.n_leads, self.n_accounts, self.n_contacts = leads, accounts, contacts
        self.n_opps, self.n_activities = opportunities, activities
        self.pools = pools
        self.countries = COUNTRIES
        self.country_cum = list(itertools.accumulate(c.weight for c in COUNTRIES))
        users = people["users"]
        self.admin = users[0]
        self.managers = [u for u in users if u.role == "manager"]
        self.reps = [u for u in users if u.role == "rep"]
        self.campaign_ids = people["campaign_ids"]
        # Who owns leads: reps mostly (some sell more than others), managers a little, 4 % unassigned.
        owners = [(r.pk, 1.0 + (i % 7) * 0.25) for i, r in enumerate(self.reps)] + [(m.pk, 0.4) for m in self.managers]
        self.owner_ids = [pk for pk, _w in owners]
        self.owner_cum = list(itertools.accumulate(w for _pk, w in owners))
        self.now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        self.start = self.now - dt.timedelta(days=365 * YEARS_OF_HISTORY)
        self.span = (self.now - self.start).total_seconds()
        self.account_owner: list[int] = []
        self.account_country: list[int] = []
        self.stages: list = []
        self.stage_weights = STAGE_WEIGHTS

    def pick_owner(self, rng, unassigned=0.04):
        if rng.random() < unassigned:
            return None
        return self.owner_ids[bisect.bisect(self.owner_cum, rng.random() * self.owner_cum[-1])]

    def pick_country(self, rng):
        return self.countries[bisect.bisect(self.country_cum, rng.random() * self.country_cum[-1])]

    def created(self, i: int, n: int, rng) -> dt.datetime:
        """Ids follow time: row i of n was created at about i/n of the way through the history."""
        return self.start + dt.timedelta(seconds=self.span * (i + rng.random()) / n)

    def person(self, rng, country):
        from l2c.demo.pools import ZH_GIVEN, ZH_SURNAMES

        if rng.random() < country.chinese_names:
            sur, sur_py = rng.choice(ZH_SURNAMES)
            given, given_py = rng.choice(ZH_GIVEN)
            return given, sur, f"{given_py}.{sur_py}", True
        first, last = rng.choice(self.pools.en_first), rng.choice(self.pools.en_last)
        return first, last, f"{first}.{last}".lower().replace(" ", "").replace("'", ""), False

    def company(self, rng, zh: bool):
        return rng.choice(self.pools.zh_companies if zh else self.pools.en_companies)

    # accounts -------------------------------------------------------------------------------------
    def accounts(self, table: Table):
        from l2c.demo.pools import INDUSTRIES, phone_number

        rng = random.Random(f"{self.seed}-accounts")
        sizes = ("1-10", "11-50", "51-200", "201-1000", "1001-5000", "5000+")
        for i in range(self.n_accounts):
            country = self.pick_country(rng)
            zh = country.code in ("CN", "HK") or rng.random() < country.chinese_names * 0.5
            name, domain = self.company(rng, zh)
            city, region, postal = rng.choice(country.cities)
            owner = self.pick_owner(rng, unassigned=0.02)
            self.account_owner.append(owner)
            self.account_country.append(self.countries.index(country))
            created = self.created(i, self.n_accounts, rng)
            yield table.row(id=i + 1, name=f"{name} {city}" if i >= len(self.pools.en_companies) else name,
                            domain=domain, website=f"https://www.{domain}", industry=rng.choice(INDUSTRIES),
                            size=rng.choice(sizes), phone=phone_number(rng, country.phone), city=city, region=region,
                            postal_code=postal + str(rng.randrange(100, 999)), country=country.code,
                            owner_id=owner, created_at=created, updated_at=created)

    # contacts: contact c belongs to account ((c - 1) % accounts) + 1 ------------------------------
    def contacts(self, table: Table):
        from l2c.demo.pools import TITLES_EN, TITLES_ZH, phone_number

        rng = random.Random(f"{self.seed}-contacts")
        for i in range(self.n_contacts):
            account = i % self.n_accounts
            country = self.countries[self.account_country[account]]
            first, last, local, zh = self.person(rng, country)
            created = self.created(i, self.n_contacts, rng)
            yield table.row(id=i + 1, account_id=account + 1, first_name=first, last_name=last,
                            title=rng.choice(TITLES_ZH if zh else TITLES_EN),
                            email=f"{local}{i % 97}@acct{account + 1}.example.com",
                            phone=phone_number(rng, country.phone), country=country.code,
                            owner_id=self.account_owner[account], created_at=created, updated_at=created)

    # leads ----------------------------------------------------------------------------------------
    def leads(self, table: Table):
        from l2c.demo.pools import TITLES_EN, TITLES_ZH, phone_number

        rng = random.Random(f"{self.seed}-leads")
        status_cum = list(itertools.accumulate(LEAD_STATUS_WEIGHTS))
        source_cum = list(itertools.accumulate(w for _s, w in LEAD_SOURCES))
        for i in range(self.n_leads):
            country = self.pick_country(rng)
            first, last, local, zh = self.person(rng, country)
            company, domain = self.company(rng, zh or country.code in ("CN", "HK"))
            status = LEAD_STATUSES[bisect.bisect(status_cum, rng.random() * status_cum[-1])]
            source = LEAD_SOURCES[bisect.bisect(source_cum, rng.random() * source_cum[-1])][0]
            created = self.created(i, self.n_leads, rng)
            changed = created + dt.timedelta(days=rng.randrange(0, 60)) if status != "new" else None
            if changed and changed > self.now:
                changed = self.now
            city = rng.choice(country.cities)[0]
            converted = status == "converted"
            yield table.row(
                id=i + 1, first_name=first, last_name=last, title=rng.choice(TITLES_ZH if zh else TITLES_EN),
                email=f"{local}{i % 1000}@{rng.choice(country.free_mail) if rng.random() < 0.2 else domain}",
                phone=phone_number(rng, country.phone), company=company, website=f"https://{domain}",
                city=city, country=country.code, source=source,
                campaign_id=rng.choice(self.campaign_ids) if rng.random() < 0.3 else None,
                owner_id=self.pick_owner(rng), status=status, status_changed_at=changed,
                disqualified_reason="No budget this year" if status == "disqualified" else "",
                score=rng.randrange(0, 101) if rng.random() < 0.7 else None,
                converted_at=changed if converted else None,
                converted_account_id=(i % self.n_accounts) + 1 if converted else None,
                converted_contact_id=(i % self.n_contacts) + 1 if converted else None,
                created_at=created, updated_at=changed or created,
            )

    # opportunities and stage history -------------------------------------------------------------
    def opportunities(self, table: Table, history: list):
        from l2c.demo.pools import COMPETITORS, DEAL_NAMES_EN, DEAL_NAMES_ZH, LOST_REASONS, NEXT_STEPS

        rng = random.Random(f"{self.seed}-opportunities")
        stage_cum = list(itertools.accumulate(self.stage_weights))
        recent = self.now - dt.timedelta(days=30)
        heavy_owner = self.reps[0].pk
        for i in range(self.n_opps):
            pk = i + 1
            account = rng.randrange(self.n_accounts)
            country = self.countries[self.account_country[account]]
            k = bisect.bisect(stage_cum, rng.random() * stage_cum[-1])
            heavy = pk <= HEAVY_OPPORTUNITIES
            if heavy:
                k = 3
            stage = self.stages[k]
            created = self.created(i, self.n_opps, rng)
            # closed deals: 6 % of them closed in the last 30 days (the board's won/lost columns)
            closed_at = None
            if stage.is_closed:
                if rng.random() < 0.06:
                    closed_at = recent + dt.timedelta(seconds=rng.random() * 30 * 86400)
                    created = min(created, closed_at - dt.timedelta(days=rng.randrange(10, 120)))
                else:
                    closed_at = min(created + dt.timedelta(days=rng.randrange(10, 200)), recent)
                    created = min(created, closed_at - dt.timedelta(days=5))
            path = list(range(k + 1)) if k < 4 else list(range(rng.randrange(1, 5))) + [k]
            if heavy:
                path = [j % 4 for j in range(HEAVY_STAGE_MOVES)] + [3]
            end = closed_at or self.now
            step = (end - created) / (len(path) + 1)
            entered = [created + step * j for j in range(len(path))]
            owner = heavy_owner if heavy else (self.account_owner[account] or self.pick_owner(rng, 0.02))
            zh = country.code in ("CN", "HK")
            seats = rng.choice((5, 10, 20, 50, 100, 250))
            name = rng.choice(DEAL_NAMES_ZH if zh else DEAL_NAMES_EN).format(n=seats)
            amount = Decimal(rng.randrange(20, 5_000) * 100) * (7 if country.currency == "CNY" else 1)
            for j, s in enumerate(path):
                history.append((pk, self.stages[s].pk, self.stages[path[j - 1]].pk if j else None, entered[j],
                                entered[j + 1] if j + 1 < len(path) else None, owner, amount,
                                self.stages[s].probability))
            yield table.row(
                id=pk, name=name, account_id=account + 1,
                contact_id=account + 1 if account < self.n_contacts else None, owner_id=owner, amount=amount,
                currency=country.currency, expected_close_date=(end + dt.timedelta(days=rng.randrange(0, 90))).date(),
                stage_id=stage.pk, stage_entered_at=entered[-1], probability=stage.probability,
                forecast_category=FORECAST_BY_STAGE[k], next_step=rng.choice(NEXT_STEPS) if k < 4 else "",
                budget="Approved" if k >= 1 else "", need="Replace spreadsheets" if k >= 1 else "",
                competitor=rng.choice(COMPETITORS) if rng.random() < 0.4 else "",
                lost_reason=rng.choice(LOST_REASONS) if k == 5 else "", source=rng.choice(LEAD_SOURCES)[0],
                closed_at=closed_at, created_at=created, updated_at=closed_at or entered[-1],
            )

    def stage_history_rows(self, table: Table, history: list):
        for pk, (opp, stage, from_stage, entered, left, owner, amount, probability) in enumerate(history, start=1):
            yield table.row(id=pk, opportunity_id=opp, stage_id=stage, from_stage_id=from_stage, entered_at=entered,
                            left_at=left, moved_by_id=owner, amount=amount, probability=probability)

    # activities -------------------------------------------------------------------------------------
    def activities(self, table: Table):
        from l2c.demo.pools import ACTIVITY_SUBJECTS

        rng = random.Random(f"{self.seed}-activities")
        kind_cum = list(itertools.accumulate(w for _k, w in ACTIVITY_KINDS))
        target_cum = list(itertools.accumulate(w for _t, w in TARGET_WEIGHTS))
        heavy_total = HEAVY_OPPORTUNITIES * HEAVY_ACTIVITIES
        heavy_owner = self.reps[0].pk
        for i in range(self.n_activities):
            kind = ACTIVITY_KINDS[bisect.bisect(kind_cum, rng.random() * kind_cum[-1])][0]
            created = self.created(i, self.n_activities, rng)
            values = {"lead_id": None, "account_id": None, "contact_id": None, "opportunity_id": None}
            if i < heavy_total:
                values["opportunity_id"] = i // HEAVY_ACTIVITIES + 1
                owner = heavy_owner
            else:
                target = TARGET_WEIGHTS[bisect.bisect(target_cum, rng.random() * target_cum[-1])][0]
                n = {"lead": self.n_leads, "opportunity": self.n_opps, "contact": self.n_contacts,
                     "account": self.n_accounts}[target]
                ref = rng.randrange(n) + 1
                values[f"{target}_id"] = ref
                if target == "account":
                    owner = self.account_owner[ref - 1]
                elif target == "contact":
                    owner = self.account_owner[(ref - 1) % self.n_accounts]
                else:
                    owner = self.pick_owner(rng, 0.0)
            open_kind = kind in ("call", "task", "meeting")
            done = not open_kind or rng.random() < 0.8
            due = created + dt.timedelta(days=rng.randrange(0, 21)) if open_kind else None
            done_at = (due or created) if done else None
            yield table.row(id=i + 1, kind=kind, subject=rng.choice(ACTIVITY_SUBJECTS[kind]), body="",
                            due_at=due, done_at=done_at, owner_id=owner, created_at=created,
                            updated_at=done_at or created, **values)


def heavy_audit_events(users) -> int:
    """Audit events on the heavy opportunities (through the audit chain, so verify-audit holds)."""
    from l2c.core import audit
    from l2c.pipeline.models import Opportunity

    pending = []
    for opp in Opportunity.objects.filter(pk__lte=HEAVY_OPPORTUNITIES).order_by("pk"):
        for j in range(HEAVY_AUDIT_EVENTS):
            pending.append(audit.PendingEvent(
                action=audit.Action.UPDATE, object_type=audit.object_type_of(opp), object_id=str(opp.pk),
                object_repr=str(opp)[:200],
                changes={"next_step": [f"Step {j}", f"Step {j + 1}"], "probability": [70, 75]},
            ))
    audit.record_many(pending, actor=users[1])
    return len(pending)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("BENCH_SCALE_URL", DEFAULT_URL))
    parser.add_argument("--recreate", action="store_true", help="drop and create the database first")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--contacts", type=int, default=150_000)
    parser.add_argument("--opportunities", type=int, default=200_000)
    parser.add_argument("--activities", type=int, default=2_000_000)
    parser.add_argument("--stage-weights", default=",".join(map(str, STAGE_WEIGHTS)),
                        help="relative share of opportunities in each of the 6 stages (Prospecting … Won, Lost)")
    args = parser.parse_args(argv)
    stage_weights = tuple(int(w) for w in args.stage_weights.split(","))
    if len(stage_weights) != 6 or min(stage_weights) < 0 or not sum(stage_weights):
        parser.error("--stage-weights: give 6 non-negative integers, not all zero")
    url = pg_url(args.url)
    if not url.startswith(("postgres://", "postgresql://")):
        parser.error("--url must be a PostgreSQL URL")
    t0 = time.perf_counter()
    if args.recreate:
        recreate_database(url)
    migrate(url)
    setup_django(url)

    from django.db import connection

    from l2c.customers.models import Account, Contact
    from l2c.demo.pools import build_pools
    from l2c.leads.models import Lead
    from l2c.pipeline.models import Activity, Opportunity, Stage, StageHistory

    if Lead.objects.exists():
        parser.error("the database already has leads; use --recreate")
    rng = random.Random(args.seed)
    pools = build_pools(args.seed, size=1500)
    people = create_people_and_campaigns(rng, pools)
    gen = Generator(seed=args.seed, leads=args.leads, accounts=args.accounts, contacts=args.contacts,
                    opportunities=args.opportunities, activities=args.activities, people=people, pools=pools)
    gen.stages = list(Stage.objects.order_by("order", "id"))
    gen.stage_weights = stage_weights
    if len(gen.stages) != 6:
        parser.error("expected the 6 default stages of a freshly migrated database")

    counts: dict[str, int] = {}
    timings: dict[str, float] = {}
    with connection.cursor() as django_cursor:
        cur = django_cursor.cursor  # the psycopg 3 cursor
        cur.execute("SET session_replication_role = replica")
        cur.execute("SET maintenance_work_mem = '1GB'")
        tables = [(Account, gen.accounts), (Contact, gen.contacts), (Lead, gen.leads)]
        history: list = []
        tables.append((Opportunity, lambda t: gen.opportunities(t, history)))
        tables.append((StageHistory, lambda t: gen.stage_history_rows(t, history)))
        tables.append((Activity, gen.activities))
        for model, rows in tables:
            table = Table(model)
            start = time.perf_counter()
            dropped = drop_secondary_indexes(cur, table.name)
            counts[table.name] = copy_rows(cur, table, rows(table))
            loaded = time.perf_counter()
            for definition in dropped:
                cur.execute(definition)
            timings[table.name] = time.perf_counter() - start
            log(f"{table.name}: {counts[table.name]:,} rows in {loaded - start:.1f} s, "
                f"{len(dropped)} indexes rebuilt in {time.perf_counter() - loaded:.1f} s")
        for model in (Account, Contact, Lead, Opportunity, StageHistory, Activity):
            cur.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), (SELECT max(id) FROM " + model._meta.db_table
                        + "))", [model._meta.db_table])
        cur.execute("SET session_replication_role = origin")
    connection.commit() if not connection.get_autocommit() else None
    counts["core_auditevent (heavy opportunities)"] = heavy_audit_events(people["users"])
    start = time.perf_counter()
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
    log(f"VACUUM ANALYZE in {time.perf_counter() - start:.1f} s")
    with connection.cursor() as cur:
        cur.execute("SELECT pg_database_size(current_database())")
        size = cur.fetchone()[0]
    total = time.perf_counter() - t0
    log(f"done in {total:.0f} s; database size {size / 2**20:,.0f} MB")
    print(json.dumps({"counts": counts, "seconds": round(total, 1), "size_mb": round(size / 2**20)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
