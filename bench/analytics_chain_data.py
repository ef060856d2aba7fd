"""Fill a PostgreSQL database with a linked lead-to-cash history for the issue-8 report benchmark
(bench/analytics_reports_bench.py): leads → opportunities → quotes → contracts → invoices → payments, touches with
campaigns, and revenue recognised on the contracts.

    .venv/bin/python bench/analytics_chain_data.py            # 1,000,000 leads, 200,000 opps, 100,000 contracts
    .venv/bin/python bench/analytics_chain_data.py --small    # 20,000 leads, 4,000 opps, 2,000 contracts

Steps (seeded, same seed, same rows):
1. bench/scale_data.py into the re-created database (leads over 3 years, accounts, contacts, opportunities with
   their stage history, 50 users in 5 teams, 30 campaigns; activities small, the reports do not read them). The
   stage mix is tilted to Won (`--stage-weights`, default 15,10,8,7,48,12): 100,000 contracts out of 200,000
   opportunities need about half of them won.
2. Links (Python matching, COPY into a temporary table, set-based UPDATEs): about 70 % of opportunities get a
   `lead` — a converted lead created 1–120 days before the opportunity, each such lead at most one opportunity
   (15 % of them two); the lead's `converted_at` just before its first opportunity's creation, its converted
   account/contact the opportunity's, its owner the opportunity's (5 % someone else), the opportunity's source
   the lead's. A lead's second opportunity is another deal with the same customer: it takes the first one's
   account, contact, owner and currency.
3. bench/analytics_performance_bench.py's quotes (one per opportunity past Prospecting, with its account, owner
   and currency; accepted when won), quote approvals and quarterly quotas; its unlinked invoices are not used
   (step 5 writes the invoices).
4. Touches (set-based SQL): 55 % of leads get 1–3 touches; the first at creation (form, import, API or manual by
   the lead's source, with the lead's campaign or, for half of the others, a campaign), later ones e-mail clicks
   or page visits, 70 % of them with a campaign (so first and last touch differ for many leads).
5. Contracts (set-based SQL): one per won opportunity, on its accepted quote (`--contracts` of them; when there
   are fewer won ones, Negotiation-stage opportunities whose quote the customer signed while the deal is still
   open make up the rest), with the opportunity's account, contact, owner, currency and amount (+10 % tax), 12 or
   24 months from the signature. Invoices: 1 per contract (30 %: 2 instalments), only those issued by today, plus
   `--unlinked-invoices` without a contract; ~60 % paid, ~7 % partly, a few bounced payments (reversed, their
   allocation kept as payment_reverse keeps it). Exchange rates (monthly, CNY and EUR to the company's USD) so
   invoices, cash and revenue are booked in company currency.
6. Revenue for 60 % of contracts: RevenueContract, one ratable obligation, schedule version 1 and its monthly
   lines (spread by days, cumulative rounding so they sum to the price), a PeriodClose per past month (one
   REVENUE journal entry each, no lines), a RevenuePosting + Recognition per contract and closed month, and the
   last close's remaining snapshot (revenue.snapshots.write_snapshot, as a close writes it).
7. setval is not needed (INSERT … SELECT uses the identity defaults; COPY tables are set by their loaders);
   VACUUM ANALYZE; `l2c.analytics.leadflow.rebuild_all()` when it exists (timed); checks: every foreign key of the
   written tables points at a row, the chain's dates are in order, a contract, invoice, payment and revenue
   contract open through the ORM.

Loading runs with session_replication_role = replica (no FK triggers): the checks at the end are what proves the
links. Database: postgres://postgres@127.0.0.1:5432/l2c_analytics_chain (scratch; never commit its data).
"""
from __future__ import annotations

import argparse
import bisect
import datetime as dt
import json
import os
import random
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/l2c_analytics_chain"
STAGE_WEIGHTS = "15,10,8,7,48,12"  # Prospecting, Qualification, Proposal, Negotiation, Won, Lost
SMALL = {"leads": 20_000, "opportunities": 4_000, "contracts": 2_000, "activities": 2_000, "accounts": 2_000,
         "contacts": 3_000, "unlinked_invoices": 200}
FULL = {"leads": 1_000_000, "opportunities": 200_000, "contracts": 100_000, "activities": 100_000,
        "accounts": 100_000, "contacts": 150_000, "unlinked_invoices": 10_000}
LINK_SHARE = 0.70
TWO_OPPORTUNITY_LEADS = 0.15
OTHER_OWNER = 0.05
# company currency USD (settings.L2C_COMPANY_CURRENCY); USD per unit of the deal currencies of demo.pools
RATES = {"CNY": Decimal("0.1400"), "EUR": Decimal("1.0800")}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def rnd(expr: str, salt: int) -> str:
    """SQL: a deterministic pseudo-random float in [0, 1) from an integer expression and a salt."""
    return f"((hashint8extended(({expr})::bigint, {salt}) & 2147483647)::float8 / 2147483648.0)"


class Loader:
    """The raw psycopg cursor of Django's connection, in replica mode, with INSERT … SELECT helpers that fill
    every column a statement does not name with the model field's default (NOT NULL still holds)."""

    def __init__(self, cur, seed: int):
        self.cur = cur
        self.seed = seed
        self.salt = seed * 1000
        self.counts: dict[str, int] = {}
        self.timings: dict[str, float] = {}

    def r(self, expr: str, k: int) -> str:
        return rnd(expr, self.salt + k)

    def insert_select(self, model, exprs: dict[str, str], from_sql: str, params=(), *, drop_indexes=True) -> int:
        from django.db import connection
        from scale_data import Table, drop_secondary_indexes

        table = Table(model)
        columns, values, args = [], [], []
        for f, column, base in zip(table.fields, table.columns, table.base, strict=True):
            if column == "id" and column not in exprs:
                continue
            columns.append(f'"{column}"')
            if column in exprs:
                values.append(exprs.pop(column))
            else:
                values.append(f"%s::{f.db_type(connection)}")
                args.append(base)
        if exprs:
            raise ValueError(f"{table.name}: no such columns {sorted(exprs)}")
        start = time.perf_counter()
        dropped = drop_secondary_indexes(self.cur, table.name) if drop_indexes else []
        self.cur.execute(f'INSERT INTO "{table.name}" ({", ".join(columns)}) SELECT {", ".join(values)} {from_sql}',
                         [*args, *params])
        n = self.cur.rowcount
        for definition in dropped:
            self.cur.execute(definition)
        self.counts[table.name] = self.counts.get(table.name, 0) + n
        self.timings[table.name] = self.timings.get(table.name, 0) + time.perf_counter() - start
        log(f"{table.name}: {n:,} rows in {time.perf_counter() - start:.1f} s")
        return n

    def execute(self, sql: str, params=()) -> int:
        self.cur.execute(sql, params)
        return self.cur.rowcount

    def scalar(self, sql: str, params=()):
        self.cur.execute(sql, params)
        return self.cur.fetchone()[0]


# --- 3. leads ↔ opportunities ---------------------------------------------------------------------------

def link_leads(ld: Loader, rng: random.Random) -> int:
    """Give ~70 % of opportunities a converted lead created before them (see the module docstring)."""
    cur = ld.cur
    cur.execute("SELECT id, created_at FROM leads_lead WHERE status = 'converted' ORDER BY created_at, id")
    leads = cur.fetchall()
    lead_times = [t for _id, t in leads]
    capacity = [2 if rng.random() < TWO_OPPORTUNITY_LEADS else 1 for _ in leads]
    parent = list(range(len(leads)))  # union-find: the nearest index at or before i with capacity left

    def find(i: int) -> int:
        root = i
        while root >= 0 and parent[root] != root:
            root = parent[root]
        while i >= 0 and parent[i] != i:  # path compression
            parent[i], i = root, parent[i]
        return root

    cur.execute("SELECT id, created_at, owner_id FROM pipeline_opportunity ORDER BY created_at, id")
    opportunities = cur.fetchall()
    cur.execute("SELECT id FROM identity_user WHERE role IN ('rep', 'manager') ORDER BY id")
    sellers = [row[0] for row in cur.fetchall()]
    links = []  # (opportunity, lead, converted_at, lead owner)
    first_link: dict[int, int] = {}
    for opp, created, owner in opportunities:
        if rng.random() >= LINK_SHARE:
            continue
        target = created - dt.timedelta(days=1 + rng.random() * 119)
        i = find(bisect.bisect_left(lead_times, target) - 1)
        if i < 0:
            i = find(bisect.bisect_left(lead_times, created - dt.timedelta(hours=6)) - 1)
            if i < 0:
                continue
        capacity[i] -= 1
        if not capacity[i]:
            parent[i] = i - 1
        lead = leads[i][0]
        if lead in first_link:  # a second deal of the same customer: the first one's account, contact, owner
            links.append((opp, lead, None, None, first_link[lead]))
            continue
        gap = min(dt.timedelta(minutes=rng.randrange(2, 180)), (created - lead_times[i]) / 2)
        lead_owner = owner
        if owner is None or rng.random() < OTHER_OWNER:
            lead_owner = rng.choice(sellers)
        first_link[lead] = opp
        links.append((opp, lead, created - gap, lead_owner, None))
    cur.execute("CREATE TEMP TABLE chain_link (opp bigint PRIMARY KEY, lead bigint NOT NULL, converted_at "
                "timestamptz, owner bigint, first_opp bigint)")
    with cur.copy("COPY chain_link (opp, lead, converted_at, owner, first_opp) FROM STDIN") as copy:
        for row in links:
            copy.write_row(row)
    cur.execute("ANALYZE chain_link")
    start = time.perf_counter()
    n = ld.execute("""UPDATE pipeline_opportunity o SET lead_id = k.lead, source = l.source
                      FROM chain_link k JOIN leads_lead l ON l.id = k.lead WHERE o.id = k.opp""")
    # a lead's second opportunity is another deal with the customer it converted into: same account, contact,
    # owner and currency (amounts in CNY are 7 × the others, as scale_data makes them)
    second = ld.execute("""UPDATE pipeline_opportunity o SET account_id = f.account_id, contact_id = f.contact_id,
                                  owner_id = f.owner_id, currency = f.currency,
                                  amount = CASE WHEN o.currency = f.currency THEN o.amount
                                                WHEN f.currency = 'CNY' THEN o.amount * 7
                                                WHEN o.currency = 'CNY' THEN round(o.amount / 7, -2)
                                                ELSE o.amount END
                           FROM chain_link k JOIN pipeline_opportunity f ON f.id = k.first_opp
                           WHERE o.id = k.opp""")
    ld.execute("""UPDATE pipeline_stagehistory h SET amount = o.amount, moved_by_id = o.owner_id
                  FROM chain_link k JOIN pipeline_opportunity o ON o.id = k.opp
                  WHERE h.opportunity_id = k.opp AND k.first_opp IS NOT NULL""")
    ld.counts["second opportunities of a lead"] = second
    ld.execute("""UPDATE leads_lead l SET converted_at = k.converted_at, status_changed_at = k.converted_at,
                         updated_at = greatest(l.updated_at, k.converted_at), owner_id = k.owner,
                         converted_account_id = o.account_id,
                         converted_contact_id = coalesce(o.contact_id, l.converted_contact_id)
                  FROM chain_link k JOIN pipeline_opportunity o ON o.id = k.opp
                  WHERE l.id = k.lead AND k.converted_at IS NOT NULL""")
    log(f"linked {n:,} of {len(opportunities):,} opportunities to {len(first_link):,} converted leads "
        f"(of {len(leads):,}) in {time.perf_counter() - start:.1f} s")
    ld.counts["opportunities with a lead"] = n
    ld.counts["leads with an opportunity"] = len(first_link)
    return n


# --- 4. touches -------------------------------------------------------------------------------------------

def add_touches(ld: Loader, campaign_ids: list[int]) -> None:
    from l2c.leads.models import Touch

    r = ld.r
    campaigns = "ARRAY[" + ",".join(str(c) for c in campaign_ids) + "]::bigint[]"
    pick = f"({campaigns})[1 + floor({r('l.id * 3 + g.n', 43)} * {len(campaign_ids)})::int]"
    first_kind = ("CASE l.source WHEN 'web_form' THEN 'form_submission' WHEN 'import' THEN 'import' "
                  "WHEN 'api' THEN 'api' ELSE 'manual' END")
    ld.insert_select(Touch, {
        "lead_id": "l.id",
        "kind": f"CASE WHEN g.n = 1 THEN {first_kind} WHEN {r('l.id * 3 + g.n', 41)} < 0.6 THEN 'email_click' "
                "ELSE 'page_visit' END",
        "occurred_at": f"least(now(), CASE WHEN g.n = 1 THEN l.created_at ELSE l.created_at + "
                       f"({r('l.id * 3 + g.n', 42)} * 40 * (g.n - 1) + 0.01) * interval '1 day' END)",
        "source": "CASE WHEN g.n = 1 THEN l.source ELSE '' END",
        "campaign_id": f"CASE WHEN g.n = 1 THEN coalesce(l.campaign_id, CASE WHEN {r('l.id', 44)} < 0.5 "
                       f"THEN {pick} END) WHEN {r('l.id * 3 + g.n', 45)} < 0.7 THEN {pick} END",
        "utm_source": "CASE WHEN g.n > 1 THEN 'newsletter' ELSE '' END",
        "utm_medium": "CASE WHEN g.n > 1 THEN 'email' ELSE '' END",
    }, f"""FROM leads_lead l CROSS JOIN LATERAL generate_series(1, 1 + floor({r('l.id', 40)} * 3)::int) AS g(n)
           WHERE {r('l.id', 39)} < 0.55""")


# --- 5. contracts, invoices, payments -------------------------------------------------------------------

def add_rates(first: dt.date, today: dt.date) -> None:
    from l2c.ledger.models import ExchangeRate

    rows = []
    month = first.replace(day=1)
    i = 0
    while month <= today:
        for currency, base in RATES.items():
            wobble = Decimal(1) + Decimal(((i * 37) % 11) - 5) / Decimal(200)  # ±2.5 %
            rows.append(ExchangeRate(currency=currency, date=month, rate=(base * wobble).quantize(Decimal("0.0001"))))
        month = (month + dt.timedelta(days=32)).replace(day=1)
        i += 1
    ExchangeRate.objects.bulk_create(rows)
    log(f"ledger_exchangerate: {len(rows)} rows")


def rate_at(currency: str, day: str) -> str:
    """SQL: USD per unit of `currency` (an SQL expression) on `day` (an SQL date expression)."""
    return (f"coalesce((SELECT x.rate FROM ledger_exchangerate x WHERE x.currency = {currency} AND x.date <= {day} "
            f"ORDER BY x.date DESC LIMIT 1), 1)")


def add_contracts(ld: Loader, n_contracts: int) -> int:
    from l2c.contracts.models import Contract

    r = ld.r
    cur = ld.cur
    cur.execute("SELECT id FROM pipeline_stage ORDER BY \"order\", id")
    stages = [row[0] for row in cur.fetchall()]
    won, negotiation = stages[4], stages[3]
    cur.execute("""CREATE TEMP TABLE chain_chosen AS
                   SELECT o.id AS opp, q.id AS quote FROM pipeline_opportunity o
                   JOIN quoting_quote q ON q.opportunity_id = o.id
                   WHERE o.stage_id = %s ORDER BY o.id LIMIT %s""", [won, n_contracts])
    chosen = cur.rowcount
    if chosen < n_contracts:  # signed while the deal is still open in Negotiation: the quote is accepted
        cur.execute("""INSERT INTO chain_chosen SELECT o.id, q.id FROM pipeline_opportunity o
                       JOIN quoting_quote q ON q.opportunity_id = o.id
                       WHERE o.stage_id = %s AND q.sent_at < now() - interval '3 days' ORDER BY o.id LIMIT %s""",
                    [negotiation, n_contracts - chosen])
        cur.execute("""UPDATE quoting_quote q SET status = 'accepted',
                              accepted_at = least(now() - interval '1 hour', q.sent_at + interval '2 days'),
                              updated_at = least(now() - interval '1 hour', q.sent_at + interval '2 days')
                       FROM chain_chosen c JOIN pipeline_opportunity o ON o.id = c.opp
                       WHERE q.id = c.quote AND o.stage_id = %s""", [negotiation])
        ld.counts["signed but open (Negotiation) contracts"] = cur.rowcount
    return ld.insert_select(Contract, {
        "number": "'CTR-C-' || lpad(c.n::text, 7, '0')", "account_id": "c.account_id", "contact_id": "c.contact_id",
        "opportunity_id": "c.opp", "quote_id": "c.quote", "owner_id": "c.owner_id",
        "status": "CASE WHEN c.ends < current_date THEN 'expired' ELSE 'active' END",
        "status_changed_at": "CASE WHEN c.ends < current_date THEN (c.ends + 1)::timestamptz END",
        "currency": "c.currency", "start_date": "c.starts", "end_date": "c.ends", "term_months": "c.term",
        "payment_terms": "'net_30'", "signed_at": "c.signed", "net_total": "c.amount",
        "tax_total": "round(c.amount * 0.1, 2)", "gross_total": "c.amount + round(c.amount * 0.1, 2)",
        "created_at": "c.signed", "updated_at": "c.signed",
    }, f"""FROM (SELECT s.*, (s.signed AT TIME ZONE 'UTC')::date AS starts,
                        ((s.signed AT TIME ZONE 'UTC')::date + s.term * interval '1 month' - interval '1 day')::date
                            AS ends
                 FROM (SELECT o.id AS opp, q.id AS quote, o.account_id, o.contact_id, o.owner_id, o.currency,
                              o.amount, row_number() OVER (ORDER BY o.id) AS n,
                              least(coalesce(q.accepted_at, o.closed_at), coalesce(o.closed_at, now()), now())
                                  AS signed,
                              CASE WHEN {r('o.id', 50)} < 0.2 THEN 24 ELSE 12 END AS term
                       FROM chain_chosen ch JOIN pipeline_opportunity o ON o.id = ch.opp
                       JOIN quoting_quote q ON q.id = ch.quote) s) c""")


def add_invoices_and_payments(ld: Loader, n_unlinked: int) -> None:
    from l2c.billing.models import Invoice, Payment, PaymentAllocation

    r = ld.r
    n_accounts = ld.scalar("SELECT max(id) FROM customers_account")
    status = ("CASE WHEN u < p THEN 'paid' WHEN u < p + 0.07 THEN 'partially_paid' ELSE 'posted' END")
    paid_share = ("CASE WHEN current_date - issued > 75 THEN 0.68 WHEN current_date - issued > 30 THEN 0.45 "
                  "ELSE 0.12 END")
    columns = {
        "number": "i.number", "status": "i.status", "account_id": "i.account_id", "contract_id": "i.contract_id",
        "currency": "i.currency", "issue_date": "i.issued", "due_date": "i.issued + 30", "payment_terms": "'net_30'",
        "net_total": "i.net", "tax_total": "i.gross - i.net", "gross_total": "i.gross", "amount_paid": "i.paid",
        "balance": "i.gross - i.paid", "rate": "i.rate", "ar_base": "round(i.gross * i.rate, 2)",
        "ar_open_base": "round((i.gross - i.paid) * i.rate, 2)",
        "posted_at": "(i.issued + time '09:00') AT TIME ZONE 'UTC'", "created_at": "(i.issued + time '09:00') "
                     "AT TIME ZONE 'UTC'", "updated_at": "(i.issued + time '09:00') AT TIME ZONE 'UTC'",
    }

    def invoice_select(inner: str) -> str:
        return f"""FROM (SELECT b.*, {status} AS status,
                                CASE WHEN u < p THEN gross WHEN u < p + 0.07
                                     THEN round(gross * (0.2 + 0.6 * u2)::numeric, 2) ELSE 0 END AS paid,
                                {rate_at('b.currency', 'b.issued')} AS rate
                         FROM (SELECT a.*, {paid_share} AS p FROM ({inner}) a) b) i"""

    linked = f"""SELECT 'INV-C-' || lpad(c.id::text, 7, '0') || '-' || k AS number, c.account_id, c.id AS contract_id,
                        c.currency, (c.start_date + (k - 1) * (c.term_months / m.m) * interval '1 month')::date
                            AS issued,
                        round(c.net_total / m.m, 2) AS net, round(c.gross_total / m.m, 2) AS gross,
                        {r('c.id * 4 + k', 61)} AS u, {r('c.id * 4 + k', 62)} AS u2
                 FROM contracts_contract c
                 CROSS JOIN LATERAL (SELECT CASE WHEN {r('c.id', 60)} < 0.3 THEN 2 ELSE 1 END AS m) m
                 CROSS JOIN LATERAL generate_series(1, m.m) AS k
                 WHERE (c.start_date + (k - 1) * (c.term_months / m.m) * interval '1 month')::date <= current_date"""
    ld.insert_select(Invoice, dict(columns), invoice_select(linked))
    unlinked = f"""SELECT 'INV-U-' || lpad(g::text, 7, '0') AS number,
                          1 + floor({r('g', 63)} * {n_accounts})::bigint AS account_id, NULL::bigint AS contract_id,
                          'USD'::varchar AS currency, current_date - floor({r('g', 64)} * 365)::int AS issued,
                          (100 * (10 + floor({r('g', 65)} * 4990)))::numeric AS net,
                          (110 * (10 + floor({r('g', 65)} * 4990)))::numeric AS gross,
                          {r('g', 66)} AS u, {r('g', 67)} AS u2
                   FROM generate_series(1, {int(n_unlinked)}) AS g"""
    ld.insert_select(Invoice, dict(columns), invoice_select(unlinked))
    payment = {
        "account_id": "i.account_id", "method": f"CASE WHEN {r('i.id', 70)} < 0.85 THEN 'bank_transfer' ELSE 'card' "
                                                "END",
        "currency": "i.currency", "unapplied_amount": "0", "rate": "i.rate", "unapplied_base": "0",
    }
    day = f"least(current_date, i.issue_date + 5 + floor({r('i.id', 71)} * 55)::int)"
    ld.insert_select(Payment, {
        **payment, "number": "'PAY-C-' || i.id", "date": day, "amount": "i.amount_paid",
        "amount_base": "round(i.amount_paid * i.rate, 2)", "reference": "i.number",
        "created_at": f"{day}::timestamptz", "updated_at": f"{day}::timestamptz",
    }, "FROM billing_invoice i WHERE i.amount_paid > 0 AND (i.number LIKE 'INV-C-%%' OR i.number LIKE 'INV-U-%%')")
    # bounced: a payment for the whole invoice, reversed a few days later; its allocation stays (as
    # billing.reversals.payment_reverse leaves it) and the invoice is open again
    ld.insert_select(Payment, {
        **payment, "number": "'PAY-R-' || i.id", "date": day, "amount": "i.gross_total",
        "amount_base": "round(i.gross_total * i.rate, 2)", "reference": "i.number",
        "reversed_at": f"({day} + 4)::timestamptz", "reversal_date": f"{day} + 4",
        "reversal_reason": "'Bounced: insufficient funds'",
        "created_at": f"{day}::timestamptz", "updated_at": f"({day} + 4)::timestamptz",
    }, f"""FROM billing_invoice i WHERE i.status = 'posted' AND i.contract_id IS NOT NULL
           AND i.issue_date < current_date - 45 AND {r('i.id', 72)} < 0.03""")
    ld.insert_select(PaymentAllocation, {
        "payment_id": "p.id", "invoice_id": "i.id", "date": "p.date", "amount": "p.amount",
        "ar_base": "round(p.amount * i.rate, 2)", "created_at": "p.created_at",
    }, """FROM billing_payment p JOIN billing_invoice i ON i.id = substr(p.number, 7)::bigint
          WHERE p.number LIKE 'PAY-C-%%' OR p.number LIKE 'PAY-R-%%'""")


# --- 6. revenue -------------------------------------------------------------------------------------------

def add_revenue(ld: Loader, admin_id: int, share: float = 0.6) -> None:
    from django.db import connection, transaction

    from l2c.ledger.models import Journal, JournalEntry
    from l2c.quoting.models import Product
    from l2c.revenue.models import (
        PerformanceObligation,
        PeriodClose,
        Recognition,
        RevenueContract,
        RevenuePosting,
        ScheduleLine,
        ScheduleVersion,
    )

    r = ld.r
    product, _created = Product.objects.get_or_create(
        sku="BENCH-SUBSCRIPTION", defaults={"name": "Platform subscription", "kind": "subscription",
                                            "billing_period": "year", "revenue_rule": "ratable"})
    ld.insert_select(RevenueContract, {
        "contract_id": "c.id", "account_id": "c.account_id", "currency": "c.currency",
        "inception_date": "c.start_date", "transaction_price": "c.net_total", "version": "1",
        "created_at": "c.signed_at", "updated_at": "c.signed_at",
    }, f"FROM contracts_contract c WHERE {r('c.id', 80)} < {share}")
    ld.insert_select(PerformanceObligation, {
        "revenue_contract_id": "rc.id", "position": "1", "name": "'Platform subscription'",
        "product_id": str(product.pk), "method": "'ratable'", "quantity": "1", "ssp_amount": "rc.transaction_price",
        "allocated_amount": "rc.transaction_price", "start_date": "c.start_date", "end_date": "c.end_date",
    }, "FROM revenue_revenuecontract rc JOIN contracts_contract c ON c.id = rc.contract_id")
    ld.insert_select(ScheduleVersion, {
        "revenue_contract_id": "rc.id", "number": "1", "kind": "'inception'", "effective_date": "rc.inception_date",
        "transaction_price": "rc.transaction_price", "created_at": "rc.created_at",
        "allocations": """jsonb_build_array(jsonb_build_object('obligation', o.id, 'name', o.name, 'method', o.method,
                          'ssp', o.ssp_amount::text, 'ssp_from_list_price', false, 'allocated',
                          o.allocated_amount::text, 'earned_before', '0', 'start', o.start_date,
                          'end', o.end_date, 'ended_on', NULL))""",
    }, "FROM revenue_revenuecontract rc JOIN revenue_performanceobligation o ON o.revenue_contract_id = rc.id")
    # months of [start, end]; cumulative rounding: the lines add up to the allocated price exactly
    ld.insert_select(ScheduleLine, {
        "version_id": "v.id", "obligation_id": "o.id", "period": "m.month::date",
        "amount": """round(o.allocated_amount * (least(o.end_date, (m.month + interval '1 month - 1 day')::date)
                                                 - o.start_date + 1) / (o.end_date - o.start_date + 1), 2)
                     - round(o.allocated_amount * (greatest(o.start_date, m.month::date) - o.start_date)
                             / (o.end_date - o.start_date + 1), 2)""",
    }, """FROM revenue_performanceobligation o JOIN revenue_scheduleversion v ON v.revenue_contract_id =
          o.revenue_contract_id CROSS JOIN LATERAL generate_series(date_trunc('month', o.start_date),
          date_trunc('month', o.end_date), interval '1 month') AS m(month)""")
    this_month = ld.scalar("SELECT date_trunc('month', current_date)::date")
    first_month = ld.scalar("SELECT min(period) FROM revenue_scheduleline")
    closes = []
    month = first_month
    while month < this_month:
        nxt = (month + dt.timedelta(days=32)).replace(day=1)
        closes.append(PeriodClose(period=month, status="closed", closed_by_id=admin_id,
                                  closed_at=dt.datetime.combine(nxt + dt.timedelta(days=3), dt.time(18),
                                                                tzinfo=dt.UTC)))
        month = nxt
    PeriodClose.objects.bulk_create(closes)
    journal = Journal.objects.get(code="REVENUE").pk
    ld.insert_select(JournalEntry, {
        "number": "'JE-REV-B-' || to_char(pc.period, 'YYYY-MM')", "journal_id": str(journal),
        "date": "(pc.period + interval '1 month - 1 day')::date", "memo": "'Revenue ' || to_char(pc.period, 'YYYY-MM')",
        "source_type": "'revenue.close'", "source_id": "pc.id", "source_label": "'REV ' || to_char(pc.period, 'YYYY-MM')",
        "posted_at": "pc.closed_at",
    }, "FROM revenue_periodclose pc", drop_indexes=False)
    ld.insert_select(RevenuePosting, {
        "revenue_contract_id": "o.revenue_contract_id", "close_id": "pc.id", "period": "l.period",
        "revenue_amount": "l.amount", "revenue_base": f"round(l.amount * {rate_at('rc.currency', 'l.period')}, 2)",
        "deferred_amount": "l.amount", "deferred_base": f"round(l.amount * {rate_at('rc.currency', 'l.period')}, 2)",
        "asset_amount": "0", "asset_base": "0", "journal_entry_id": "je.id", "reversed": "false",
    }, """FROM revenue_scheduleline l JOIN revenue_performanceobligation o ON o.id = l.obligation_id
          JOIN revenue_revenuecontract rc ON rc.id = o.revenue_contract_id
          JOIN revenue_periodclose pc ON pc.period = l.period
          JOIN ledger_journalentry je ON je.source_type = 'revenue.close' AND je.source_id = pc.id
          ORDER BY l.period, o.revenue_contract_id""")
    ld.insert_select(Recognition, {
        "obligation_id": "o.id", "posting_id": "p.id", "period": "p.period", "amount": "p.revenue_amount",
    }, """FROM revenue_revenueposting p JOIN revenue_performanceobligation o
          ON o.revenue_contract_id = p.revenue_contract_id""")
    ld.execute("""UPDATE revenue_periodclose pc SET contracts = s.n, entries = 1, lines = s.n,
                         revenue_base = s.revenue FROM (SELECT close_id, count(*) AS n, sum(revenue_base) AS revenue
                                                        FROM revenue_revenueposting GROUP BY close_id) s
                  WHERE s.close_id = pc.id""")
    ld.cur.execute("SET session_replication_role = origin")
    connection.commit() if not connection.get_autocommit() else None
    from l2c.revenue import snapshots

    last = PeriodClose.objects.order_by("-period").first()
    start = time.perf_counter()
    with transaction.atomic():
        written = snapshots.write_snapshot(last)
    ld.counts["revenue_remainingsnapshot"] = written
    log(f"remaining snapshot of {last}: {written:,} rows in {time.perf_counter() - start:.1f} s")


# --- 7. checks ------------------------------------------------------------------------------------------

def check_foreign_keys(cur, models) -> dict[str, int]:
    """Rows whose foreign key points at nothing, per table.column (all should be 0)."""
    broken = {}
    for model in models:
        for f in model._meta.concrete_fields:
            if not f.is_relation or not getattr(f, "db_constraint", True):
                continue
            target = f.related_model._meta
            column = target.get_field(f.target_field.name).column
            cur.execute(f'SELECT count(*) FROM "{model._meta.db_table}" t WHERE t."{f.column}" IS NOT NULL AND NOT '
                        f'EXISTS (SELECT 1 FROM "{target.db_table}" x WHERE x."{column}" = t."{f.column}")')
            n = cur.fetchone()[0]
            if n:
                broken[f"{model._meta.db_table}.{f.column}"] = n
    return broken


CHAIN_CHECKS = {
    "lead created after its converted_at": """SELECT count(*) FROM leads_lead WHERE converted_at < created_at""",
    "opportunity created before its lead's conversion": """SELECT count(*) FROM pipeline_opportunity o
        JOIN leads_lead l ON l.id = o.lead_id WHERE l.converted_at IS NULL OR o.created_at < l.converted_at""",
    "contract not of its opportunity's account": """SELECT count(*) FROM contracts_contract c
        JOIN pipeline_opportunity o ON o.id = c.opportunity_id WHERE o.account_id <> c.account_id""",
    "contract on a quote of another opportunity": """SELECT count(*) FROM contracts_contract c
        JOIN quoting_quote q ON q.id = c.quote_id WHERE q.opportunity_id <> c.opportunity_id""",
    "invoice paid more than its total": """SELECT count(*) FROM billing_invoice
        WHERE amount_paid > gross_total OR balance <> gross_total - amount_paid""",
    "invoice whose allocations differ from amount_paid": """SELECT count(*) FROM billing_invoice i
        WHERE i.amount_paid <> coalesce((SELECT sum(a.amount) FROM billing_paymentallocation a
        JOIN billing_payment p ON p.id = a.payment_id WHERE a.invoice_id = i.id AND p.reversed_at IS NULL), 0)""",
    "schedule not adding up to the price": """SELECT count(*) FROM revenue_performanceobligation o
        WHERE o.allocated_amount <> (SELECT sum(l.amount) FROM revenue_scheduleline l WHERE l.obligation_id = o.id)""",
}


def check(admin_id: int) -> dict:
    from django.db import connection

    from l2c.billing.models import Invoice, Payment, PaymentAllocation
    from l2c.contracts.models import Contract
    from l2c.leads.models import Lead, Touch
    from l2c.ledger.models import JournalEntry
    from l2c.pipeline.models import Opportunity
    from l2c.quoting.models import Quote
    from l2c.revenue.models import (
        PerformanceObligation,
        PeriodClose,
        Recognition,
        RemainingSnapshot,
        RevenueContract,
        RevenuePosting,
        ScheduleLine,
        ScheduleVersion,
    )

    with connection.cursor() as cur:
        broken = check_foreign_keys(cur, [Lead, Touch, Opportunity, Quote, Contract, Invoice, Payment,
                                          PaymentAllocation, RevenueContract, PerformanceObligation, ScheduleVersion,
                                          ScheduleLine, PeriodClose, JournalEntry, RevenuePosting, Recognition,
                                          RemainingSnapshot])
        chain = {}
        for name, sql in CHAIN_CHECKS.items():
            cur.execute(sql)
            chain[name] = cur.fetchone()[0]
    contract = Contract.objects.select_related("opportunity__lead", "quote", "account", "owner").filter(
        opportunity__lead__isnull=False, revenue__isnull=False).order_by("pk").first()
    invoice = contract.invoices.order_by("pk").first() if contract else None
    allocation = PaymentAllocation.objects.select_related("payment", "invoice__contract").order_by("pk").first()
    seen = {
        "contract": str(contract), "opportunity": str(contract.opportunity) if contract else None,
        "lead": str(contract.opportunity.lead) if contract else None,
        "lead converted / opportunity created / signed": [str(contract.opportunity.lead.converted_at),
                                                          str(contract.opportunity.created_at),
                                                          str(contract.signed_at)] if contract else None,
        "invoice": f"{invoice} {invoice.status} {invoice.gross_total} {invoice.currency}" if invoice else None,
        "allocation": str(allocation),
        "revenue": f"{contract.revenue.obligations.count()} obligation, {contract.revenue.postings.count()} postings"
        if contract else None,
        "touches of the lead": contract.opportunity.lead.touches.count() if contract else None,
    }
    return {"broken_foreign_keys": broken, "chain_errors": {k: v for k, v in chain.items() if v}, "orm": seen}


def counts_of(tables) -> dict[str, int]:
    from django.db import connection

    out = {}
    with connection.cursor() as cur:
        for table in tables:
            cur.execute(f'SELECT count(*) FROM "{table}"')
            out[table] = cur.fetchone()[0]
    return out


TABLES = ("leads_lead", "leads_touch", "customers_account", "customers_contact", "pipeline_opportunity",
          "pipeline_stagehistory", "pipeline_activity", "quoting_quote", "quoting_quoteapproval", "contracts_contract",
          "billing_invoice", "billing_payment", "billing_paymentallocation", "revenue_revenuecontract",
          "revenue_performanceobligation", "revenue_scheduleversion", "revenue_scheduleline", "revenue_periodclose",
          "revenue_revenueposting", "revenue_recognition", "revenue_remainingsnapshot", "ledger_exchangerate",
          "identity_quota")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("BENCH_CHAIN_URL", DEFAULT_URL))
    parser.add_argument("--small", action="store_true", help="20k leads, 4k opportunities, 2k contracts")
    parser.add_argument("--seed", type=int, default=1)
    for name in FULL:
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=None)
    parser.add_argument("--stage-weights", default=STAGE_WEIGHTS)
    args = parser.parse_args(argv)
    sizes = dict(SMALL if args.small else FULL)
    for name in FULL:
        if getattr(args, name) is not None:
            sizes[name] = getattr(args, name)
    t0 = time.perf_counter()
    phases: dict[str, float] = {}

    import scale_data

    scale_data.main(["--url", args.url, "--recreate", "--seed", str(args.seed), "--leads", str(sizes["leads"]),
                     "--accounts", str(sizes["accounts"]), "--contacts", str(sizes["contacts"]),
                     "--opportunities", str(sizes["opportunities"]), "--activities", str(sizes["activities"]),
                     "--stage-weights", args.stage_weights])
    phases["scale_data"] = time.perf_counter() - t0

    import analytics_performance_bench as perf
    from django.db import connection
    from django.utils import timezone

    from l2c.identity.models import User
    from l2c.leads.models import Campaign

    rng = random.Random(f"analytics-chain-links-{args.seed}")
    mark = time.perf_counter()
    with connection.cursor() as django_cursor:  # before the quotes: they copy the opportunity's account and owner
        django_cursor.cursor.execute("SET session_replication_role = replica")
        ld = Loader(django_cursor.cursor, args.seed)
        link_leads(ld, rng)
        django_cursor.cursor.execute("SET session_replication_role = origin")
    phases["links"] = time.perf_counter() - mark
    mark = time.perf_counter()
    perf.add_quotes(random.Random(f"analytics-chain-{args.seed}"))
    quotas = perf.add_quotas()
    phases["quotes, quotas"] = time.perf_counter() - mark
    log(f"quotas: {quotas}")
    today = timezone.localdate()
    add_rates(today - dt.timedelta(days=365 * scale_data.YEARS_OF_HISTORY + 31), today)
    admin_id = User.objects.get(username="scale_admin").pk
    campaign_ids = sorted(Campaign.objects.values_list("pk", flat=True))
    with connection.cursor() as django_cursor:
        cur = django_cursor.cursor
        cur.execute("SET session_replication_role = replica")
        cur.execute("SET maintenance_work_mem = '512MB'")
        cur.execute("SET work_mem = '64MB'")
        ld.cur = cur
        for name, step in (("touches", lambda: add_touches(ld, campaign_ids)),
                           ("contracts", lambda: add_contracts(ld, sizes["contracts"])),
                           ("invoices, payments", lambda: add_invoices_and_payments(ld, sizes["unlinked_invoices"])),
                           ("revenue", lambda: add_revenue(ld, admin_id))):
            mark = time.perf_counter()
            step()
            phases[name] = time.perf_counter() - mark
    connection.commit() if not connection.get_autocommit() else None
    mark = time.perf_counter()
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
    phases["vacuum analyze"] = time.perf_counter() - mark
    log(f"VACUUM ANALYZE in {phases['vacuum analyze']:.1f} s")
    try:
        from l2c.analytics import leadflow
    except ImportError:
        leadflow = None
    if leadflow is not None and hasattr(leadflow, "rebuild_all"):
        mark = time.perf_counter()
        try:
            result = leadflow.rebuild_all()
        except Exception as exc:  # the aggregate is being written alongside: report, do not lose the fill
            result = f"FAILED: {type(exc).__name__}: {exc}"
        phases["leadflow.rebuild_all"] = time.perf_counter() - mark
        log(f"leadflow.rebuild_all() in {phases['leadflow.rebuild_all']:.1f} s: {result}")
        with connection.cursor() as cur:
            cur.execute("VACUUM ANALYZE")
    else:
        log("l2c.analytics.leadflow.rebuild_all does not exist (yet): skipped")
    mark = time.perf_counter()
    checks = check(admin_id)
    phases["checks"] = time.perf_counter() - mark
    counts = counts_of(TABLES)
    counts.update({k: v for k, v in ld.counts.items() if " " in k})
    with connection.cursor() as cur:
        cur.execute("SELECT pg_database_size(current_database())")
        size = cur.fetchone()[0]
        cur.execute("SELECT status, count(*) FROM billing_invoice GROUP BY status ORDER BY status")
        invoice_status = dict(cur.fetchall())
        cur.execute("SELECT count(*) FILTER (WHERE contract_id IS NOT NULL), count(*) FROM billing_invoice")
        linked, total = cur.fetchone()
        cur.execute("SELECT count(*) FROM billing_payment WHERE reversed_at IS NOT NULL")
        reversed_payments = cur.fetchone()[0]
    summary = {"sizes": sizes, "counts": counts, "invoice_status": invoice_status,
               "invoices_with_contract": linked, "invoices": total, "reversed_payments": reversed_payments,
               "phases_s": {k: round(v, 1) for k, v in phases.items()},
               "seconds": round(time.perf_counter() - t0, 1), "size_mb": round(size / 2**20), **checks}
    print(json.dumps(summary, indent=2, default=str))
    if checks["broken_foreign_keys"] or checks["chain_errors"]:
        log("CHECKS FAILED")
        return 1
    log(f"done in {summary['seconds']:.0f} s; database {summary['size_mb']:,} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
