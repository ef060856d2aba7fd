"""Bulk data for bench/revenue_bench.py: N signed, registered, invoiced contracts ready for a revenue close.

Each contract (over 1,000 customers, in the company currency) sells a bundle of three lines, each its own
performance obligation, for less than their standalone selling prices (so the bundle discount is allocated):

    license          good, point in time   list 8,000 (SSP 10,000) × 1–3; shipped a few days after the start
                                            (not yet, when that falls after the closed month)
    support          service, ratable      list 2,000 (SSP 2,400) × 1–5 seats; 12 months from the start
    implementation   milestone             list 4,000 (SSP 5,000); Design 40 % and Go-live 60 %, completed
                                            about 3 and 11 weeks after the start (when on or before the month end)

The contracts start on every day of the 365 days that end with the closed month (a scrambled order, so
neighbouring rows differ): ~1/12 of licenses ship in the closed month, some milestones complete in it.

Rows written per contract, as the services would have written them: Quote + 3 QuoteLines, Contract + 3
ContractLines, Order + 3 OrderLines (+ Shipment and ShipmentLine when shipped, + 2 Milestones),
RevenueContract + 3 PerformanceObligations + 3 ObligationLines + ScheduleVersion 1 + its ScheduleLines (the
arithmetic of `revenue.services.register_contract`: `engine.allocate` by relative SSP, `engine.spread_daily`
for the ratable one), a posted Invoice (billed upfront on the start day) + 3 InvoiceLines + its JournalEntry
(SALES journal, source "billing.invoice": Dr AR gross, Cr deferred revenue per line, Cr tax payable), with
gapless INV and JE-SALES numbers taken from their series. Written with `core.bulk` (COPY on PostgreSQL) in
chunks of 5,000 contracts per transaction. No audit events are written for the data (they are not read by
the close).

`build` returns what the close must find: contracts, and the revenue earned through the month end, computed
here from the same dates and allocations (the close recomputes it from the database).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

CHUNK = 5000
CUSTOMERS = 1000
TAX_RATE = Decimal(20)
# (kind, list price per unit, SSP per unit, quantity of contract i, description)
LICENSE = ("good", Decimal("8000.00"), Decimal("10000.00"), lambda i: 1 + i % 3, "Platform license")
# sold as a subscription product, so the MRR report has 100,000 subscriptions to follow
SUPPORT = ("subscription", Decimal("2000.00"), Decimal("2400.00"), lambda i: 1 + i % 5, "Support subscription, 12 months")
IMPLEMENTATION = ("milestone", Decimal("4000.00"), Decimal("5000.00"), lambda i: 1, "Implementation")
BUNDLE = (LICENSE, SUPPORT, IMPLEMENTATION)
PERIODIC = ("service", "subscription")  # sold with a service period
MILESTONES = (("Design", Decimal(40)), ("Go-live", Decimal(60)))


@dataclass
class Expected:
    contracts: int = 0
    obligations: int = 0
    schedule_lines: int = 0
    journal_lines: int = 0  # the invoices' lines
    revenue: Decimal = Decimal(0)  # earned through the month end, company currency
    earning_obligations: int = 0  # obligations that earned something through the month end
    licenses_shipped_in_month: int = 0
    milestones_completed_in_month: int = 0


def _plus_year_minus_day(day: dt.date) -> dt.date:
    try:
        return day.replace(year=day.year + 1) - dt.timedelta(days=1)
    except ValueError:  # 29 February
        return day.replace(year=day.year + 1, day=28)


def _contract_dates(i: int, last: dt.date):
    """(start, support end, license ship day or None, [milestone completion day or None], [due days])."""
    start = last - dt.timedelta(days=(i * 7919) % 365)  # 7919 is prime to 365: each day once per 365
    end = _plus_year_minus_day(start)
    ship = start + dt.timedelta(days=i % 10)
    due = [start + dt.timedelta(days=20 + i % 15), start + dt.timedelta(days=75 + i % 30)]
    return start, end, (ship if ship <= last else None), [d if d <= last else None for d in due], due


def _setup_catalogue(currency: str):
    from l2c.customers.tests.factories import AccountFactory
    from l2c.pipeline.tests.factories import OpportunityFactory
    from l2c.quoting.models import StandaloneSellingPrice
    from l2c.quoting.tests.factories import ProductFactory

    products = []
    for kind, _list, ssp, _qty, description in BUNDLE:
        product = ProductFactory(kind=kind, name=description,
                                 billing_period="year" if kind == "subscription" else "")
        StandaloneSellingPrice.objects.create(product=product, currency=currency, amount=ssp)
        products.append(product)
    customers = [AccountFactory() for _ in range(CUSTOMERS)]
    opportunities = [OpportunityFactory(account=a, currency=currency) for a in customers]
    return products, customers, opportunities


def _with_ids(model, objs):
    from l2c.core.bulk import allocate_ids, insert_objects

    for obj, pk in zip(objs, allocate_ids(model, len(objs)), strict=True):
        obj.pk = pk
    insert_objects(objs)
    return objs


def _numbers(series: str, years: list[int]) -> list[str]:
    """One number of `series` per item of `years` (its document's year), gapless per year, in that order."""
    from l2c.core.numbering import format_number, next_values

    blocks = {year: iter(next_values(series, year, years.count(year))) for year in sorted(set(years))}
    return [format_number(series, year, next(blocks[year])) for year in years]


def build(n: int, first: dt.date, last: dt.date, *, progress=print) -> Expected:
    from django.db import transaction
    from django.utils import timezone

    from l2c.billing.models import Invoice, InvoiceLine, InvoiceStatus
    from l2c.contracts.models import Contract, ContractLine
    from l2c.core.bulk import allocate_ids, insert_objects, insert_rows
    from l2c.core.money import round_money
    from l2c.ledger import services as ledger
    from l2c.ledger.models import (
        AR,
        DEFERRED_REVENUE,
        TAX_PAYABLE,
        Journal,
        JournalEntry,
        JournalLine,
        LedgerAccount,
    )
    from l2c.ledger.services import LINE_COLUMNS
    from l2c.orders.models import (
        LineKind,
        LineStatus,
        Milestone,
        Order,
        OrderLine,
        OrderStatus,
        Shipment,
        ShipmentLine,
    )
    from l2c.quoting.models import Quote, QuoteLine, QuoteStatus
    from l2c.revenue import engine
    from l2c.revenue.models import (
        Method,
        ObligationLine,
        PerformanceObligation,
        RevenueContract,
        ScheduleLine,
        ScheduleVersion,
    )

    currency = ledger.company_currency()
    products, customers, opportunities = _setup_catalogue(currency)
    sales = Journal.objects.get(code="SALES")
    accounts = {a.code: a.pk for a in LedgerAccount.objects.filter(code__in=[AR, DEFERRED_REVENUE, TAX_PAYABLE])}
    expected = Expected()
    one = Decimal(1)
    started = timezone.now()
    for chunk_start in range(0, n, CHUNK):
        ids = range(chunk_start, min(n, chunk_start + CHUNK))
        with transaction.atomic():
            specs = []  # per contract: (i, start, end, ship, done, due, account, opportunity, lines)
            for i in ids:
                start, end, ship, done, due = _contract_dates(i, last)
                lines = []
                for kind, list_price, ssp, qty_of, description in BUNDLE:
                    qty = Decimal(qty_of(i))
                    net = round_money(list_price * qty, currency)
                    tax = round_money(net * TAX_RATE / 100, currency)
                    lines.append((kind, qty, list_price, round_money(ssp * qty, currency), net, tax, description))
                specs.append((i, start, end, ship, done, due, customers[i % CUSTOMERS], opportunities[i % CUSTOMERS],
                              lines))
            quotes = _with_ids(Quote, [
                Quote(number=f"QUO-R-{i:07d}", opportunity=opp, account=acc, status=QuoteStatus.ACCEPTED,
                      currency=currency, quote_date=start, valid_until=start, payment_terms="net_30",
                      contract_start=start, contract_term_months=12)
                for i, start, _e, _s, _d, _du, acc, opp, _l in specs])
            qlines = _with_ids(QuoteLine, [
                QuoteLine(quote=q, position=pos, product=products[pos - 1], description=desc, quantity=qty,
                          list_price=lp, unit_price=lp, list_amount=net, tax_rate=TAX_RATE, net_amount=net,
                          tax_amount=tax, gross_amount=net + tax,
                          service_start=start if kind in PERIODIC else None,
                          service_end=end if kind in PERIODIC else None)
                for q, (_i, start, end, _s, _d, _du, _a, _o, lines) in zip(quotes, specs, strict=True)
                for pos, (kind, qty, lp, _ssp, net, tax, desc) in enumerate(lines, start=1)])
            signed = [dt.datetime.combine(s[1], dt.time(12), tzinfo=dt.UTC) for s in specs]
            contracts = _with_ids(Contract, [
                Contract(number=f"CTR-R-{i:07d}", account=acc, opportunity=opp, quote=q, currency=currency,
                         start_date=start, end_date=end, term_months=12, payment_terms="net_30", signed_at=at,
                         net_total=sum(line[4] for line in lines), tax_total=sum(line[5] for line in lines),
                         gross_total=sum(line[4] + line[5] for line in lines))
                for q, at, (i, start, end, _s, _d, _du, acc, opp, lines) in zip(quotes, signed, specs, strict=True)])
            clines = _with_ids(ContractLine, [
                ContractLine(contract=c, quote_line=ql, product=ql.product, position=ql.position,
                             description=ql.description, quantity=ql.quantity, list_price=ql.list_price,
                             unit_price=ql.unit_price, discount_percent=0, tax_rate=TAX_RATE,
                             net_amount=ql.net_amount, tax_amount=ql.tax_amount, gross_amount=ql.gross_amount,
                             service_start=ql.service_start, service_end=ql.service_end)
                for index, c in enumerate(contracts) for ql in qlines[3 * index:3 * index + 3]])

            # revenue: obligations, allocation by relative SSP, schedule version 1 (as register_contract)
            rcs = _with_ids(RevenueContract, [
                RevenueContract(contract=c, account_id=c.account_id, currency=currency, inception_date=c.start_date,
                                transaction_price=c.net_total, version=1) for c in contracts])
            obligations = []
            for index, (rc, c) in enumerate(zip(rcs, contracts, strict=True)):
                lines = specs[index][8]
                shares = engine.allocate(c.net_total, [line[3] for line in lines], currency)
                for pos, ((kind, qty, _lp, ssp, _n, _t, desc), share) in enumerate(zip(lines, shares, strict=True),
                                                                                   start=1):
                    method = engine.method_for(kind, has_service_period=kind in PERIODIC)
                    ratable = method == Method.RATABLE
                    obligations.append(PerformanceObligation(
                        revenue_contract=rc, position=pos, name=desc, product_id=products[pos - 1].pk, method=method,
                        quantity=qty, ssp_amount=ssp, allocated_amount=share,
                        start_date=c.start_date if ratable else None, end_date=c.end_date if ratable else None))
            _with_ids(PerformanceObligation, obligations)
            insert_rows(ObligationLine, ["obligation_id", "contract_line_id"],
                        ((o.pk, cl.pk) for o, cl in zip(obligations, clines, strict=True)))
            versions = _with_ids(ScheduleVersion, [
                ScheduleVersion(revenue_contract=rc, number=1, kind=ScheduleVersion.Kind.INCEPTION, reason="",
                                effective_date=rc.inception_date, transaction_price=rc.transaction_price, allocations=[
                                    {"obligation": o.pk, "name": o.name, "method": o.method, "ssp": str(o.ssp_amount),
                                     "ssp_from_list_price": False, "allocated": str(o.allocated_amount),
                                     "earned_before": "0",
                                     "start": o.start_date.isoformat() if o.start_date else None,
                                     "end": o.end_date.isoformat() if o.end_date else None, "ended_on": None}
                                    for o in obligations[3 * index:3 * index + 3]])
                for index, rc in enumerate(rcs)])
            schedule_rows = []
            for index, (version, c) in enumerate(zip(versions, contracts, strict=True)):
                i, start, end, ship, done, _due = specs[index][:6]
                for o in obligations[3 * index:3 * index + 3]:
                    if o.method == Method.RATABLE:
                        plan = engine.spread_daily(o.allocated_amount, o.start_date, o.end_date, currency)
                        earned = sum((amount for month, amount in plan.items() if month <= first), Decimal(0))
                    else:
                        plan = {engine.month_of(c.start_date): o.allocated_amount}
                        if o.method == Method.MILESTONE:
                            share = sum((pct for (_name, pct), day in zip(MILESTONES, done, strict=True) if day),
                                        Decimal(0))
                            earned = o.allocated_amount if share >= 100 else (
                                round_money(o.allocated_amount * share / 100, currency) if share else Decimal(0))
                        else:
                            earned = o.allocated_amount if ship else Decimal(0)
                    expected.revenue += earned
                    expected.earning_obligations += bool(earned)
                    schedule_rows.extend((version.pk, o.pk, month, amount) for month, amount in plan.items())
                expected.licenses_shipped_in_month += bool(ship and ship >= first)
                expected.milestones_completed_in_month += sum(1 for day in done if day and day >= first)
            insert_rows(ScheduleLine, ["version_id", "obligation_id", "period", "amount"], schedule_rows)
            expected.schedule_lines += len(schedule_rows)
            expected.obligations += len(obligations)

            # orders: shipments for the licenses, milestones for the implementations
            orders = _with_ids(Order, [
                Order(number=f"ORD-R-{specs[index][0]:07d}", contract=c, account_id=c.account_id, currency=currency,
                      status=OrderStatus.PARTIALLY_FULFILLED if specs[index][3] or specs[index][4][0]
                      else OrderStatus.OPEN, ordered_on=c.start_date, net_total=c.net_total, tax_total=c.tax_total,
                      gross_total=c.gross_total) for index, c in enumerate(contracts)])
            olines = []
            for index, order in enumerate(orders):
                _i, _start, _end, ship, done, _due = specs[index][:6]
                for cl in clines[3 * index:3 * index + 3]:
                    kind = {"good": LineKind.GOOD, "service": LineKind.SERVICE, "milestone": LineKind.MILESTONE,
                            "subscription": LineKind.SUBSCRIPTION}[
                        cl.product.kind]
                    shipped = kind == LineKind.GOOD and ship is not None
                    all_done = kind == LineKind.MILESTONE and all(done)
                    status = (LineStatus.FULFILLED if shipped or all_done else
                              LineStatus.PARTIALLY_FULFILLED if kind == LineKind.MILESTONE and any(done) else
                              LineStatus.PENDING)
                    full = status == LineStatus.FULFILLED
                    olines.append(OrderLine(
                        order=order, contract_line=cl, product_id=cl.product_id, kind=kind, position=cl.position,
                        description=cl.description, quantity=cl.quantity,
                        quantity_fulfilled=cl.quantity if shipped else 0, unit_price=cl.unit_price,
                        tax_rate=cl.tax_rate, net_amount=cl.net_amount, tax_amount=cl.tax_amount,
                        gross_amount=cl.gross_amount, net_fulfilled=cl.net_amount if full else 0,
                        tax_fulfilled=cl.tax_amount if full else 0, gross_fulfilled=cl.gross_amount if full else 0,
                        service_start=cl.service_start, service_end=cl.service_end, status=status,
                        delivered_on=(ship if shipped else done[1] if all_done else None)))
            _with_ids(OrderLine, olines)
            shipped_orders = [(index, order) for index, order in enumerate(orders) if specs[index][3]]
            shipments = _with_ids(Shipment, [Shipment(order=order, shipped_on=specs[index][3], carrier="DHL",
                                                      tracking_number=f"TRK{specs[index][0]:09d}")
                                             for index, order in shipped_orders])
            insert_rows(ShipmentLine, ["shipment_id", "order_line_id", "quantity"],
                        ((s.pk, olines[3 * index].pk, olines[3 * index].quantity)
                         for s, (index, _o) in zip(shipments, shipped_orders, strict=True)))
            insert_rows(Milestone, ["order_line_id", "position", "name", "share_percent", "due_date", "completed_on"],
                        ((olines[3 * index + 2].pk, pos, name, pct, specs[index][5][pos - 1],
                          specs[index][4][pos - 1])
                         for index in range(len(orders)) for pos, (name, pct) in enumerate(MILESTONES, start=1)))

            # billing: one invoice per contract, billed upfront on the start day, posted to the ledger
            years = [c.start_date.year for c in contracts]
            inv_numbers = _numbers("INV", years)
            je_numbers = _numbers("JE-SALES", years)
            now = timezone.now()
            invoices = [Invoice(number=number, status=InvoiceStatus.POSTED, account_id=c.account_id, contract=c,
                                currency=currency, issue_date=c.start_date,
                                due_date=c.start_date + dt.timedelta(days=30), payment_terms="net_30",
                                net_total=c.net_total, tax_total=c.tax_total, gross_total=c.gross_total,
                                balance=c.gross_total, rate=one, ar_base=c.gross_total, ar_open_base=c.gross_total,
                                posted_at=now)
                        for c, number in zip(contracts, inv_numbers, strict=True)]
            for invoice, pk in zip(invoices, allocate_ids(Invoice, len(invoices)), strict=True):
                invoice.pk = pk
            entries = _with_ids(JournalEntry, [
                JournalEntry(number=number, journal=sales, date=inv.issue_date, memo=f"Invoice {inv.number}",
                             source_type="billing.invoice", source_id=inv.pk, source_label=inv.number)
                for inv, number in zip(invoices, je_numbers, strict=True)])
            for invoice, entry in zip(invoices, entries, strict=True):
                invoice.journal_entry = entry
            insert_objects(invoices)
            insert_rows(InvoiceLine, ["invoice_id", "contract_line_id", "product_id", "position", "description",
                                      "quantity", "unit_price", "net_amount", "tax_rate", "tax_amount", "gross_amount",
                                      "service_start", "service_end"],
                        ((inv.pk, cl.pk, cl.product_id, cl.position, cl.description, cl.quantity, cl.unit_price,
                          cl.net_amount, cl.tax_rate, cl.tax_amount, cl.gross_amount, cl.service_start, cl.service_end)
                         for index, inv in enumerate(invoices) for cl in clines[3 * index:3 * index + 3]))
            journal_rows = []
            for index, (inv, entry) in enumerate(zip(invoices, entries, strict=True)):
                # LINE_COLUMNS: entry, line_no, account, debit, credit, currency, amount, rate, customer, description
                rows = [(accounts[AR], inv.gross_total, 0, inv.gross_total, inv.number)]
                rows += [(accounts[DEFERRED_REVENUE], 0, cl.net_amount, cl.net_amount, cl.description)
                         for cl in clines[3 * index:3 * index + 3]]
                rows.append((accounts[TAX_PAYABLE], 0, inv.tax_total, inv.tax_total, "Tax"))
                journal_rows.extend((entry.pk, no, account, Decimal(debit), Decimal(credit), currency, amount, one,
                                     inv.account_id, text)
                                    for no, (account, debit, credit, amount, text) in enumerate(rows, start=1))
            insert_rows(JournalLine, LINE_COLUMNS, journal_rows)
            expected.journal_lines += len(journal_rows)
            expected.contracts += len(contracts)
        if progress and (chunk_start // CHUNK) % 4 == 3:
            progress(f"  … {expected.contracts} contracts ({(timezone.now() - started).total_seconds():.0f} s)")
    from l2c.ledger import totals

    totals.rebuild()  # the invoices' lines went in directly, not through a posting
    from l2c.revenue import terms

    terms.rebuild()  # and the obligations, not through register_contract
    return expected

