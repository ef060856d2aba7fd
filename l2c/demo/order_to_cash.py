"""The demo's order-to-cash history: three signed contracts from the last months and everything that followed,
made through the same services a rep, a manager and finance use, so every finance page has something to show
right after `make run`.

    subscription  Northwind Traders Ltd (GB, USD, net 30), from 4 months ago: CRM seats (yearly) and the
                  billing module (monthly), activated; invoiced by the monthly billing runs; the first invoice
                  paid, the later ones overdue (dunning and AR aging)
    services      上海云帆科技有限公司 (CN, CNY, net 30), from 3 months ago: an implementation in three
                  milestones (two completed) and two training days (delivered); CNY rates entered month by
                  month; one invoice paid in part
    goods         Contoso Retail Ltd (GB, USD, net 15), from 2 months ago, 18 % off (so the manager approved
                  it): scanners and kiosks shipped in two shipments with tracking numbers, one kiosk and the
                  training still open; an invoice paid through an imported camt.053 bank statement

Each deal starts as a lead that came in through a demo campaign some weeks before the quote (Northwind from
Google Ads, then LinkedIn; 云帆 from Baidu, then WeChat; Contoso from the partner referral programme), with
its touches; the rep qualifies it and converts it with the same service as the lead page's "Convert", so
the opportunity, contact and account come from the lead. The funnel, cycle-time and attribution reports
then trace each lead to its contract, invoices and cash. The services stamp every change with the current
time, so the lead's history is then dated back (`_date_origin`): lead created `lead_days` before the quote,
converted a week before it (the opportunity's first stage), moved to Negotiation on the quote's date.

Every date is counted back from today (the demo runs any day) and none is in the future. The billing run
invoices each past month on its first day; the past months (not the current one) are then closed, so the
revenue pages show recognised revenue, deferred revenue (subscriptions billed ahead) and a contract asset
(milestones and shipments not yet invoiced at the month's end).

Subscribers of the domain events (the contract's order, billing schedule and revenue record; fulfilment making
schedule items due) run after each service's commit: run this outside any transaction, like `l2c demo` does.
"""
from __future__ import annotations

import calendar
import datetime as dt
import io
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from . import pools as P

# Units of USD per unit of each currency, and how the CNY rate moved from month to month (oldest first)
USD_PER_UNIT = {"USD": Decimal("1"), "CNY": Decimal("0.1405"), "EUR": Decimal("1.08"), "GBP": Decimal("1.27")}
RATE_DRIFT = (Decimal("1.000"), Decimal("0.996"), Decimal("1.004"), Decimal("1.009"), Decimal("0.998"),
              Decimal("1.002"))
MONTHS_BACK = 4  # the oldest contract starts on the first day of the month four months ago
SIGNER_IP = "198.51.100.23"  # a documentation address (RFC 5737)
SIGNER_AGENT = "Mozilla/5.0 (l2c demo data)"


@dataclass(frozen=True)
class _Origin:
    """Where a deal's lead came from: its source, the campaigns of its touches (the first is the lead's own
    campaign) and how many days before the quote it came in."""

    source: str
    touches: tuple[tuple[str, str], ...]  # (touch kind, campaign name), oldest first
    lead_days: int
    company_size: str = ""
    utm: tuple[tuple[str, str, str], ...] = ()  # (utm_source, utm_medium, utm_campaign) per touch, or none
    touch_gap_days: int = 20  # days between the touches


TOUCH_ACTOR_LABEL = "web form Request a demo"
QUOTE_DAYS_BEFORE_START = 21  # each quote is dated three weeks before its contract starts
CONVERTED_DAYS_BEFORE_QUOTE = 7


@dataclass
class _Deal:
    """One demo customer and what they bought."""

    key: str
    owner: str
    account: dict
    contact: dict
    currency: str
    months_ago: int
    payment_terms: str
    title: str
    lines: list[dict]
    header_discount: Decimal = Decimal(0)
    signer_title: str = ""
    signer_name: str = ""
    origin: _Origin | None = None
    made: dict = field(default_factory=dict)


def month_start(today: dt.date, months_ago: int) -> dt.date:
    """The first day of the month `months_ago` months before today's."""
    total = today.year * 12 + today.month - 1 - months_ago
    return dt.date(total // 12, total % 12 + 1, 1)


def add_months(day: dt.date, months: int) -> dt.date:
    total = day.year * 12 + day.month - 1 + months
    year, month = divmod(total, 12)
    return dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


@dataclass(frozen=True)
class Timeline:
    """Every date the demo history uses, counted back from today; none is after today."""

    today: dt.date
    milestone_designed: dt.date  # the services customer's first milestone
    training_delivered: dt.date
    milestone_live: dt.date
    first_shipment: dt.date
    second_shipment: dt.date
    billing_runs: tuple[dt.date, ...]  # the first day of each month, oldest first, this month's last
    subscription_paid: dt.date  # the subscriber's first invoice (first billing run), in full
    services_paid: dt.date  # the services customer's first invoice (two months ago), in part
    statement_booked: dt.date  # the goods customer's first invoice (last month), by bank transfer
    closed_months: tuple[str, ...]  # YYYY-MM, oldest first, not this month


def timeline(today: dt.date) -> Timeline:
    m = [month_start(today, n) for n in range(MONTHS_BACK + 1)]  # m[0] this month, m[4] four months ago
    return Timeline(
        today=today, milestone_designed=m[3] + dt.timedelta(days=20), training_delivered=m[2] + dt.timedelta(days=10),
        milestone_live=m[1] + dt.timedelta(days=24), first_shipment=m[2] + dt.timedelta(days=7),
        second_shipment=m[1] + dt.timedelta(days=5), billing_runs=tuple(reversed(m)),
        subscription_paid=m[4] + dt.timedelta(days=26), services_paid=m[2] + dt.timedelta(days=12),
        statement_booked=m[1] + dt.timedelta(days=13),
        closed_months=tuple(day.strftime("%Y-%m") for day in reversed(m[1:])))


def _deals(today: dt.date) -> list[_Deal]:
    sub_start = month_start(today, 4)
    sub_end = add_months(sub_start, 12) - dt.timedelta(days=1)
    return [
        _Deal(key="subscription", owner="rep", currency="USD", months_ago=4, payment_terms="net_30",
              title="L2C CRM and billing, first year",
              account=dict(name="Northwind Traders Ltd", website="https://northwind.example", industry="Wholesale",
                           city="London", postal_code="EC2A 4NE", street="12 Worship Street", country="GB"),
              contact=dict(first_name="Olivia", last_name="Hughes", title="Head of Sales Operations",
                           email="olivia.hughes@northwind.example"),
              signer_title="Head of Sales Operations",
              origin=_Origin(source="advertising", lead_days=35, company_size="201-1000",
                             touches=(("form_submission", "Google Ads — CRM search"),
                                      ("form_submission", "LinkedIn Sponsored Content")),
                             utm=(("google", "cpc", "crm-search"), ("linkedin", "social", "forecasting-playbook"))),
              lines=[dict(sku="L2C-CRM-SEAT", quantity=Decimal("25"), service_start=sub_start, service_end=sub_end,
                          section="Subscriptions"),
                     dict(sku="L2C-BILL-MON", quantity=Decimal("12"), service_start=sub_start, service_end=sub_end,
                          section="Subscriptions")]),
        _Deal(key="services", owner="rep", currency="CNY", months_ago=3, payment_terms="net_30",
              title="销售系统实施与培训",
              account=dict(name="上海云帆科技有限公司", website="https://yunfan.example", industry="Software",
                           city="上海", postal_code="200120", street="浦东新区世纪大道 100 号", country="CN"),
              contact=dict(first_name="敏", last_name="陈", title="IT 总监", email="chen.min@yunfan.example"),
              signer_title="IT 总监", signer_name="陈敏",
              origin=_Origin(source="advertising", lead_days=50, company_size="51-200", touch_gap_days=25,
                             touches=(("form_submission", "百度搜索推广"), ("page_visit", "微信公众号推广")),
                             utm=(("baidu", "cpc", "crm-search-zh"), ("wechat", "social", "wechat-article"))),
              lines=[dict(sku="SVC-IMPL", quantity=Decimal("1"), section="Services"),
                     dict(sku="SVC-TRAIN", quantity=Decimal("2"), section="Services")]),
        _Deal(key="goods", owner="rep2", currency="USD", months_ago=2, payment_terms="net_15",
              title="Store scanners and self-service kiosks", header_discount=Decimal("18"),
              account=dict(name="Contoso Retail Ltd", website="https://contoso-retail.example", industry="Retail",
                           city="Manchester", postal_code="M1 1AE", street="1 Piccadilly Gardens", country="GB"),
              contact=dict(first_name="Daniel", last_name="Price", title="Store Operations Manager",
                           email="daniel.price@contoso-retail.example"),
              signer_title="Store Operations Manager",
              origin=_Origin(source="partner", lead_days=28, company_size="1001-5000",
                             touches=(("manual", "Partner Referral Programme"),)),
              lines=[dict(sku="HW-SCANNER", quantity=Decimal("40"), section="Hardware"),
                     dict(sku="HW-KIOSK", quantity=Decimal("3"), section="Hardware"),
                     dict(sku="SVC-TRAIN", quantity=Decimal("1"), section="Services")]),
    ]


def _drawn_signature(seed: int) -> bytes:
    """A PNG like the portal's signature pad sends: a dark stroke on a transparent background."""
    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (320, 100), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    points = [(12 + 28 * i, 70 - ((i * 37 + seed * 11) % 50)) for i in range(11)]
    draw.line(points, fill=(17, 24, 39, 255), width=4)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _require_users(users: dict, names: tuple[str, ...]) -> None:
    missing = [name for name in names if users.get(name) is None]
    if missing:
        raise ValueError(f"users: the demo users {', '.join(missing)} are missing; create the demo users first")


def _enter_rates(finance, currencies: set[str], today: dt.date) -> int:
    """Monthly exchange rates (first of each month, from a month before the oldest contract) for every
    foreign currency the demo contracts use."""
    from l2c.ledger import services as ledger

    company = ledger.company_currency()
    if company not in USD_PER_UNIT:
        raise ValueError(f"company currency: the demo knows rates for {', '.join(USD_PER_UNIT)}, not {company}")
    count = 0
    for currency in sorted(currencies - {company}):
        base = USD_PER_UNIT[currency] / USD_PER_UNIT[company]
        for index, months_ago in enumerate(range(MONTHS_BACK + 1, -1, -1)):
            rate = (base * RATE_DRIFT[index % len(RATE_DRIFT)]).quantize(Decimal("0.000001"))
            ledger.rate_set(actor=finance, currency=currency, date=month_start(today, months_ago), rate=rate)
            count += 1
    return count


def _at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour, minute)))


def _lead_dates(deal: _Deal, today: dt.date) -> dict[str, dt.datetime]:
    """When the deal's lead came in, each touch, the conversion and the quote (Negotiation): all before the
    contract starts, none after today."""
    origin = deal.origin
    quoted = month_start(today, deal.months_ago) - dt.timedelta(days=QUOTE_DAYS_BEFORE_START)
    created = quoted - dt.timedelta(days=origin.lead_days)
    return {
        "created": _at(created, 10, 12),
        "touches": [_at(created + dt.timedelta(days=i * origin.touch_gap_days), 10, 12 + i)
                    for i in range(len(origin.touches))],
        "converted": _at(quoted - dt.timedelta(days=CONVERTED_DAYS_BEFORE_QUOTE), 15, 30),
        "quoted": _at(quoted, 11, 0),
    }


def _lead_of(deal: _Deal, users: dict, campaigns: dict, when: dict):
    """The deal's lead as it came in: captured with its first touch (a form on a campaign's landing page, or
    entered by the rep for a partner referral), later touches, then worked and qualified by its owner."""
    from l2c.leads import services as lead_services
    from l2c.leads.choices import ConsentBasis, LeadStatus, TouchKind

    origin = deal.origin
    rep = users[deal.owner]
    first_kind, first_campaign = origin.touches[0]
    campaign = campaigns[first_campaign]
    utm = origin.utm[0] if origin.utm else ("", "", "")
    values = dict(first_name=deal.contact["first_name"], last_name=deal.contact["last_name"],
                  title=deal.contact.get("title", ""), email=deal.contact["email"], company=deal.account["name"],
                  website=deal.account.get("website", ""), industry=deal.account.get("industry", ""),
                  company_size=origin.company_size, city=deal.account.get("city", ""),
                  country=deal.account.get("country", ""), source=origin.source, campaign=campaign, owner=rep,
                  utm_source=utm[0], utm_medium=utm[1], utm_campaign=utm[2])
    web = first_kind == TouchKind.FORM_SUBMISSION
    if web:
        values.update(consent_basis=ConsentBasis.CONSENT, consent_text=P.CONSENT_TEXT, consent_at=when["created"],
                      consent_source=TOUCH_ACTOR_LABEL, consent_ip=SIGNER_IP)
    else:
        values.update(consent_basis=ConsentBasis.LEGITIMATE_INTEREST, consent_source=campaign.name)
    prepared = lead_services.lead_prepare(actor=None if web else rep, values=values)
    touch = {"kind": first_kind, "source": origin.source, "campaign": campaign, "occurred_at": when["touches"][0],
             "utm_source": utm[0], "utm_medium": utm[1], "utm_campaign": utm[2]}
    if web:
        lead = lead_services.lead_capture(values=prepared, touch={**touch, "ip": SIGNER_IP, "user_agent": SIGNER_AGENT},
                                          actor=None, actor_label=TOUCH_ACTOR_LABEL)
    else:
        lead = lead_services.lead_capture(values=prepared, touch=touch, actor=rep)
    for index, (kind, name) in enumerate(origin.touches[1:], start=1):
        utm = origin.utm[index] if len(origin.utm) > index else ("", "", "")
        lead_services.touch_record(lead=lead, touch={
            "kind": kind, "source": P.CAMPAIGN_SOURCE.get(campaigns[name].type, "other"),
            "campaign": campaigns[name], "occurred_at": when["touches"][index], "utm_source": utm[0],
            "utm_medium": utm[1], "utm_campaign": utm[2]})
    lead = lead_services.lead_change_status(lead=lead, status=LeadStatus.WORKING, actor=rep)
    return lead_services.lead_change_status(lead=lead, status=LeadStatus.QUALIFIED, actor=rep)


def _date_origin(conversion, when: dict) -> None:
    """Date the lead's history back (the services stamp it with the current time): created and consented
    when it came in, converted a week before the quote; the account, contact and opportunity created at the
    conversion, the opportunity in its first stage until the quote's date and in Negotiation from then on.
    Saved with auto_now off, like the generator's rows, so every save signal (e.g. the reports' stale marks)
    still sees the change."""
    from l2c.customers.models import Account, Contact
    from l2c.demo.generator import explicit_timestamps
    from l2c.leads.models import Lead
    from l2c.pipeline.models import Opportunity, StageHistory

    converted, quoted = when["converted"], when["quoted"]
    with explicit_timestamps([Lead, Opportunity, Account, Contact]), transaction.atomic():
        lead = Lead.objects.select_for_update().get(pk=conversion.lead.pk)
        lead.created_at, lead.updated_at = when["created"], converted
        lead.status_changed_at = lead.converted_at = converted
        fields = ["created_at", "updated_at", "status_changed_at", "converted_at"]
        if lead.consent_at is not None:
            lead.consent_at = when["created"]
            fields.append("consent_at")
        lead.save(update_fields=fields)
        for record in (conversion.account, conversion.contact):
            record = type(record).objects.select_for_update().get(pk=record.pk)
            record.created_at = record.updated_at = converted
            record.save(update_fields=["created_at", "updated_at"])
        # one stay in the first stage, and one in Negotiation unless the first stage was the last open one
        stays = list(StageHistory.objects.select_for_update().filter(opportunity=conversion.opportunity)
                     .order_by("entered_at", "id"))
        entries = (converted, quoted)[:len(stays)]
        for i, stay in enumerate(stays):
            stay.entered_at, stay.left_at = entries[i], entries[i + 1] if i + 1 < len(entries) else None
            stay.save(update_fields=["entered_at", "left_at"])
        opportunity = Opportunity.objects.select_for_update().get(pk=conversion.opportunity.pk)
        opportunity.created_at, opportunity.updated_at, opportunity.stage_entered_at = converted, quoted, entries[-1]
        opportunity.save(update_fields=["created_at", "updated_at", "stage_entered_at"])


def _convert_lead(deal: _Deal, users: dict, campaigns: dict, today: dt.date):
    """The lead converted by its owner (the lead page's "Convert"): a new account completed with its address,
    the contact, and the opportunity, moved to Negotiation when the quote was made."""
    from l2c.customers import services as customer_services
    from l2c.pipeline.models import Stage
    from l2c.pipeline.services.conversion import lead_convert
    from l2c.pipeline.services.opportunities import opportunity_move

    rep = users[deal.owner]
    when = _lead_dates(deal, today)
    lead = _lead_of(deal, users, campaigns, when)
    conversion = lead_convert(lead=lead, actor=rep, create_account_name=deal.account["name"],
                              opportunity_name=f"{deal.account['name']}: {deal.title}", currency=deal.currency,
                              expected_close_date=today)
    address = {k: deal.account[k] for k in ("street", "postal_code") if deal.account.get(k)}
    account = customer_services.account_update(account=conversion.account, actor=rep, **address)
    stage = (Stage.objects.filter(is_active=True, is_won=False, is_lost=False, name="Negotiation").first()
             or Stage.objects.filter(is_active=True, is_won=False, is_lost=False).order_by("-order", "id").first())
    opportunity = opportunity_move(opportunity=conversion.opportunity, stage=stage, actor=rep)
    _date_origin(conversion, when)
    opportunity.refresh_from_db()
    return account, conversion.contact, opportunity


def _sign_deal(deal: _Deal, users: dict, campaigns: dict, today: dt.date, index: int):
    """The converted lead's opportunity, quote (approved, sent with its PDF), signed through the portal link."""
    from l2c.contracts import services as contract_services
    from l2c.quoting import portal_links
    from l2c.quoting.models import Product, Quote, QuoteStatus
    from l2c.quoting.pdf import render_quote_pdf
    from l2c.quoting.services import approvals as approval_services
    from l2c.quoting.services import quotes as quote_services

    rep = users[deal.owner]
    start = month_start(today, deal.months_ago)
    account, contact, opportunity = _convert_lead(deal, users, campaigns, today)
    quote = quote_services.quote_create(
        actor=rep, opportunity=opportunity, title=deal.title, quote_date=start - dt.timedelta(days=QUOTE_DAYS_BEFORE_START),
        valid_until=today + dt.timedelta(days=30), contract_start=start, contract_term_months=12,
        auto_renew=deal.key == "subscription", payment_terms=deal.payment_terms,
        terms="Prices exclude VAT. Hardware ships within 10 working days of the order.")
    for line in deal.lines:
        values = {k: v for k, v in line.items() if k != "sku"}
        quote_services.line_add(actor=rep, quote=quote, product=Product.objects.get(sku=line["sku"]), **values)
    if deal.header_discount:
        quote_services.quote_update(actor=rep, quote=Quote.objects.get(pk=quote.pk),
                                    header_discount_percent=deal.header_discount)
    quote = approval_services.quote_submit(actor=rep, quote=Quote.objects.get(pk=quote.pk))
    if quote.status == QuoteStatus.PENDING_APPROVAL:
        quote = approval_services.quote_approve(actor=users["manager"], quote=quote,
                                                comment="Volume order for all stores: discount approved.")
    quote = Quote.objects.get(pk=quote.pk)
    quote = quote_services.quote_mark_sent(actor=rep, quote=quote, pdf=render_quote_pdf(quote))
    link, _token = portal_links.link_create(actor=rep, quote=quote, email=contact.email)
    quote.refresh_from_db()
    contract = contract_services.sign_quote(
        link=link, signer_name=deal.signer_name or f"{contact.first_name} {contact.last_name}".strip(), signer_email="",
        signer_title=deal.signer_title, consent=True, drawn_signature=_drawn_signature(index), ip=SIGNER_IP,
        user_agent=SIGNER_AGENT, shown_pdf_sha256=quote.sent_pdf_sha256)
    return account, contract


def _order_of(contract):
    from l2c.orders.models import Order

    order = Order.objects.filter(contract=contract).order_by("id").first()
    if order is None:
        raise RuntimeError(f"contract {contract.number} has no order: the contract.created subscribers did not run "
                           "(ensure_demo_order_to_cash must run outside a transaction)")
    return order


def _line(order, sku: str):
    return order.lines.select_related("product").get(product__sku=sku)


def _fulfil(deals: dict[str, _Deal], users: dict, when: Timeline) -> dict[str, int]:
    """What the reps did since the signatures: activations, milestones, a delivery, two shipments."""
    from l2c.orders import services as orders

    done = {"shipments": 0, "milestones": 0}
    sub = deals["subscription"]
    order = _order_of(sub.made["contract"])
    for sku in ("L2C-CRM-SEAT", "L2C-BILL-MON"):
        orders.subscription_activate(actor=users[sub.owner], line=_line(order, sku))

    svc = deals["services"]
    start = month_start(when.today, svc.months_ago)
    order = _order_of(svc.made["contract"])
    rep = users[svc.owner]
    impl = _line(order, "SVC-IMPL")
    plan = orders.milestones_set(actor=rep, line=impl, milestones=[
        {"name": "Design and kick-off", "share": "30", "due_date": when.milestone_designed},
        {"name": "Go-live", "share": "50", "due_date": when.milestone_live},
        {"name": "Hypercare", "share": "20", "due_date": add_months(start, 4) + dt.timedelta(days=14)},
    ])
    orders.milestone_complete(actor=rep, milestone=plan[0], completed_on=when.milestone_designed)
    orders.service_deliver(actor=rep, line=_line(order, "SVC-TRAIN"), delivered_on=when.training_delivered)
    orders.milestone_complete(actor=rep, milestone=plan[1], completed_on=when.milestone_live)
    done["milestones"] = 2

    goods = deals["goods"]
    order = _order_of(goods.made["contract"])
    rep = users[goods.owner]
    scanners, kiosks = _line(order, "HW-SCANNER"), _line(order, "HW-KIOSK")
    orders.shipment_create(actor=rep, order=order, lines=[(scanners, Decimal("25")), (kiosks, Decimal("2"))],
                           shipped_on=when.first_shipment, carrier="DHL Express",
                           tracking_number="JJD0002249812345670")
    orders.shipment_create(actor=rep, order=order, lines=[(scanners, Decimal("15"))],
                           shipped_on=when.second_shipment, carrier="UPS",
                           tracking_number="1Z999AA10123456784")
    done["shipments"] = 2
    return done


def _camt053(*, invoice, booked: dt.date, payer: str, opening: Decimal) -> bytes:
    """A one-day camt.053 statement of the operating account: the customer's transfer naming the invoice, and
    the bank's monthly fee."""
    from xml.sax.saxutils import escape

    day = booked.isoformat()
    amount = f"{invoice.gross_total:.2f}"
    fee = Decimal("25.00")
    closing = opening + invoice.gross_total - fee
    ref = booked.strftime("%y%m%d")
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">
  <BkToCstmrStmt>
    <GrpHdr><MsgId>STMT-{booked:%Y%m%d}-0001</MsgId><CreDtTm>{day}T06:15:00+00:00</CreDtTm></GrpHdr>
    <Stmt>
      <Id>GB33BUKB20201555555555-{day}</Id>
      <ElctrncSeqNb>{booked.timetuple().tm_yday}</ElctrncSeqNb>
      <CreDtTm>{day}T06:15:00+00:00</CreDtTm>
      <FrToDt><FrDtTm>{day}T00:00:00+00:00</FrDtTm><ToDtTm>{day}T23:59:59+00:00</ToDtTm></FrToDt>
      <Acct>
        <Id><IBAN>GB33BUKB20201555555555</IBAN></Id><Ccy>{invoice.currency}</Ccy><Nm>Operating account</Nm>
      </Acct>
      <Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="{invoice.currency}">{opening:.2f}</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>{day}</Dt></Dt></Bal>
      <Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="{invoice.currency}">{closing:.2f}</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>{day}</Dt></Dt></Bal>
      <Ntry>
        <NtryRef>1</NtryRef><Amt Ccy="{invoice.currency}">{amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd>
        <Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>{day}</Dt></BookgDt><ValDt><Dt>{day}</Dt></ValDt>
        <AcctSvcrRef>BUKB-{ref}-000101</AcctSvcrRef>
        <NtryDtls><TxDtls>
          <Refs><AcctSvcrRef>BUKB-{ref}-000101</AcctSvcrRef><EndToEndId>CR-PAY-{ref}-17</EndToEndId></Refs>
          <Amt Ccy="{invoice.currency}">{amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd>
          <RltdPties><Dbtr><Pty><Nm>{escape(payer)}</Nm></Pty></Dbtr>
            <DbtrAcct><Id><IBAN>GB94BARC10201530093459</IBAN></Id></DbtrAcct></RltdPties>
          <RmtInf><Ustrd>Payment of invoice {invoice.number}, thank you</Ustrd></RmtInf>
        </TxDtls></NtryDtls>
      </Ntry>
      <Ntry>
        <NtryRef>2</NtryRef><Amt Ccy="{invoice.currency}">{fee:.2f}</Amt><CdtDbtInd>DBIT</CdtDbtInd>
        <Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>{day}</Dt></BookgDt><ValDt><Dt>{day}</Dt></ValDt>
        <AcctSvcrRef>BUKB-{ref}-000102</AcctSvcrRef><AddtlNtryInf>Account maintenance fee</AddtlNtryInf>
      </Ntry>
    </Stmt>
  </BkToCstmrStmt>
</Document>
""".encode()


def _invoices_of(contract):
    from l2c.billing.models import Invoice

    return list(Invoice.objects.filter(contract=contract).exclude(status="draft").order_by("issue_date", "id"))


def _collect(deals: dict[str, _Deal], users: dict, when: Timeline) -> dict[str, int]:
    """Cash: the subscriber's first invoice paid in full, the services customer's first invoice paid in part,
    and the goods customer's invoice paid by a transfer that the imported bank statement matches."""
    from l2c.banking import services as banking
    from l2c.billing import services as billing
    from l2c.core.money import round_money

    finance = users["finance"]
    made = {"payments": 0, "statements": 0}
    sub = deals["subscription"]
    first = _invoices_of(sub.made["contract"])[0]
    billing.payment_record(actor=finance, account=sub.made["account"], date=when.subscription_paid,
                           method="bank_transfer", currency=first.currency, amount=first.gross_total,
                           reference=f"NORTHWIND REMITTANCE {first.number}", allocations=[(first, first.gross_total)])
    made["payments"] += 1

    svc = deals["services"]
    first = _invoices_of(svc.made["contract"])[0]
    part = round_money(first.gross_total * Decimal("0.4"), first.currency)
    billing.payment_record(actor=finance, account=svc.made["account"], date=when.services_paid,
                           method="bank_transfer", currency=first.currency, amount=part,
                           reference=f"云帆 首期款 {first.number}", allocations=[(first, part)])
    made["payments"] += 1

    goods = deals["goods"]
    first = _invoices_of(goods.made["contract"])[0]
    booked = when.statement_booked
    data = _camt053(invoice=first, booked=booked, payer="CONTOSO RETAIL LTD", opening=Decimal("48210.55"))
    banking.statement_import(actor=finance, file_name=f"camt053-{booked.isoformat()}.xml", data=data)
    made["statements"] += 1
    return made


def ensure_demo_order_to_cash(users: dict) -> int:
    """Signed contracts with orders, shipments, milestones, invoices, payments, a bank statement and closed
    revenue months, each deal converted from a lead of a demo campaign (the campaigns are created when
    missing), into a database without contracts (else nothing happens). `users` are the demo users by
    username (rep, rep2, manager, finance are used). Returns how many contracts were created."""
    from l2c.billing.schedules import billing_run
    from l2c.contracts.models import Contract
    from l2c.demo.catalogue import ensure_catalogue
    from l2c.demo.generator import ensure_campaigns, ensure_stages
    from l2c.revenue.close import close_period

    if Contract.objects.exists():
        return 0
    if connection.in_atomic_block:
        raise RuntimeError("ensure_demo_order_to_cash must run outside a transaction: the contract's order, billing "
                           "schedule and revenue record are made by subscribers after each commit")
    _require_users(users, ("rep", "rep2", "manager", "finance"))
    ensure_catalogue()
    ensure_stages()
    today = timezone.localdate()
    campaigns = {c.name: c for c in ensure_campaigns(today, users["manager"])}
    deals = {deal.key: deal for deal in _deals(today)}
    _enter_rates(users["finance"], {deal.currency for deal in deals.values()}, today)
    for index, deal in enumerate(deals.values()):
        account, contract = _sign_deal(deal, users, campaigns, today, index)
        deal.made.update(account=account, contract=contract)
    when = timeline(today)
    _fulfil(deals, users, when)
    for day in when.billing_runs:
        summary = billing_run(today=day, actor=users["finance"])
        if summary.errors:
            raise RuntimeError(f"billing run {day.isoformat()}: " + "; ".join(
                f"{e.contract}: {e.message}" for e in summary.errors))
    _collect(deals, users, when)
    for period in when.closed_months:
        close_period(actor=None, period=period)
    return len(deals)
