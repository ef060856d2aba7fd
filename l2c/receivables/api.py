"""API routes of receivables: invoice PDF and sending, collection flags, dunning (levels, preview, run),
customer statements and customer portal links.

Reads are scoped like billing's (finance and admin: all; sales: their customers'); every write is finance or
admin only (403 for the rest). A record the caller may not see is a 404.
"""

import datetime as dt
from decimal import Decimal

from django.http import HttpResponse
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status

from l2c.billing import selectors as billing_selectors
from l2c.core.errors import NotFound
from l2c.customers import selectors as customer_selectors
from l2c.customers.api import StrictSchema

from . import selectors, services
from .models import DunningLevel
from .pdf import invoice_filename, render_invoice_pdf, render_statement_pdf, statement_filename

router = Router(tags=["receivables"])


def _writer(request):
    services.require_billing(request.auth)
    return request.auth


def _pdf(data: bytes, filename: str, *, inline: bool = False) -> HttpResponse:
    response = HttpResponse(data, content_type="application/pdf")
    response["Content-Disposition"] = f'{"inline" if inline else "attachment"}; filename="{filename}"'
    return response


# --- invoices: PDF, send, collection flags ------------------------------------------------------------

class SendIn(StrictSchema):
    to: str = Field(..., max_length=254)
    cc: list[str] = Field(default_factory=list, max_length=10)
    message: str = Field("", max_length=5000)


class SendOut(Schema):
    invoice: int
    to: str
    portal_url: str = Field(description="The customer's portal link (shown once; only its hash is kept)")
    expires_at: dt.datetime


class CollectionOut(Schema):
    invoice: int
    disputed: bool
    dispute_note: str
    promise_to_pay_date: dt.date | None
    sent_to: str
    sent_at: dt.datetime | None
    paused: bool = Field(description="Dunning skips the invoice today (disputed or promised)")


class CollectionIn(StrictSchema):
    disputed: bool | None = None
    dispute_note: str | None = Field(None, max_length=2000)
    promise_to_pay_date: dt.date | None = None


def _collection_out(invoice) -> dict:
    from django.utils import timezone

    collection = selectors.collection_for(invoice)
    return {"invoice": invoice.pk, "disputed": bool(collection and collection.disputed),
            "dispute_note": collection.dispute_note if collection else "",
            "promise_to_pay_date": collection.promise_to_pay_date if collection else None,
            "sent_to": collection.sent_to if collection else "", "sent_at": collection.sent_at if collection else None,
            "paused": selectors.is_paused(collection, timezone.localdate())}


@router.get("/invoices/{int:invoice_id}/pdf", response={200: None},
            openapi_extra={"responses": {200: {"description": "The invoice PDF",
                                               "content": {"application/pdf": {}}}}})
def invoice_pdf(request, invoice_id: int):
    invoice = billing_selectors.invoice_get(user=request.auth, pk=invoice_id)
    return _pdf(render_invoice_pdf(invoice), invoice_filename(invoice))


@router.post("/invoices/{int:invoice_id}/send", response=SendOut)
def send_invoice(request, invoice_id: int, data: SendIn):
    invoice = billing_selectors.invoice_get(user=request.auth, pk=invoice_id)
    link = services.invoice_send(actor=_writer(request), invoice=invoice, to=data.to, cc=data.cc,
                                 message=data.message)
    return {"invoice": invoice.pk, "to": link.email, "portal_url": services.portal_url(link.token),
            "expires_at": link.expires_at}


@router.get("/invoices/{int:invoice_id}/collection", response=CollectionOut)
def get_collection(request, invoice_id: int):
    return _collection_out(billing_selectors.invoice_get(user=request.auth, pk=invoice_id))


@router.patch("/invoices/{int:invoice_id}/collection", response=CollectionOut)
def update_collection(request, invoice_id: int, data: CollectionIn):
    invoice = billing_selectors.invoice_get(user=request.auth, pk=invoice_id)
    values = data.model_dump(exclude_unset=True)
    if values.get("disputed") is None:
        values.pop("disputed", None)
    services.collection_update(actor=_writer(request), invoice=invoice, **values)
    return _collection_out(invoice)


# --- dunning ------------------------------------------------------------------------------------------

class LevelOut(Schema):
    id: int
    name: str
    days_overdue: int
    email_subject: str
    email_body: str
    active: bool


class LevelIn(StrictSchema):
    name: str | None = Field(None, max_length=80)
    days_overdue: int | None = None
    email_subject: str | None = Field(None, max_length=200)
    email_body: str | None = None
    active: bool | None = None


class PlanItemOut(Schema):
    invoice: int
    number: str
    currency: str
    balance: Decimal
    days_overdue: int
    level: str


class PlanOut(Schema):
    account: int
    account_name: str
    email: str
    level: str
    invoices: list[PlanItemOut]


class RunIn(StrictSchema):
    date: dt.date | None = None


class RunOut(Schema):
    run_date: dt.date
    emails_sent: int
    invoices_reminded: int
    failures: list[dict]
    finished_at: dt.datetime | None


def _plan_out(plans) -> list[dict]:
    return [{"account": p["account"].pk, "account_name": p["account"].name, "email": p["email"],
             "level": p["level"].name,
             "invoices": [{"invoice": i["invoice"].pk, "number": i["invoice"].number,
                           "currency": i["invoice"].currency, "balance": i["balance"],
                           "days_overdue": i["days_overdue"], "level": i["level"].name} for i in p["items"]]}
            for p in plans]


@router.get("/receivables/dunning/levels", response=list[LevelOut])
def list_levels(request):
    _writer(request)
    return list(selectors.dunning_levels())


@router.patch("/receivables/dunning/levels/{int:level_id}", response=LevelOut)
def update_level(request, level_id: int, data: LevelIn):
    actor = _writer(request)
    level = DunningLevel.objects.filter(pk=level_id).first()
    if level is None:
        raise NotFound(_("No dunning level with id %(id)s.") % {"id": level_id})
    values = {k: v for k, v in data.model_dump(exclude_unset=True).items() if v is not None}
    return services.dunning_level_update(actor=actor, level=level, **values)


@router.get("/receivables/dunning/preview", response=list[PlanOut])
def dunning_preview(request, date: Query[dt.date | None] = None):
    _writer(request)
    return _plan_out(selectors.dunning_plan(date))


@router.post("/receivables/dunning/run", response=RunOut)
def dunning_run(request, data: RunIn):
    return services.run_dunning(data.date, actor=_writer(request))


# --- statements and customer portal links --------------------------------------------------------------

class StatementInvoiceOut(Schema):
    id: int
    number: str
    issue_date: dt.date
    due_date: dt.date
    days_overdue: int
    gross_total: Decimal
    balance: Decimal


class StatementPaymentOut(Schema):
    number: str
    date: dt.date
    method: str
    reference: str
    amount: Decimal
    unapplied: Decimal


class StatementCurrencyOut(Schema):
    currency: str
    invoices: list[StatementInvoiceOut]
    payments: list[StatementPaymentOut]
    open_total: Decimal
    overdue: Decimal
    credit: Decimal
    balance: Decimal


class StatementOut(Schema):
    account: int
    as_of: dt.date
    since: dt.date
    currencies: list[StatementCurrencyOut]


class StatementQuery(Schema):
    as_of: dt.date | None = None
    since: dt.date | None = None


class PortalLinkIn(StrictSchema):
    email: str = Field("", max_length=254)
    days: int | None = None


class PortalLinkOut(Schema):
    id: int
    account: int
    token_prefix: str
    email: str
    expires_at: dt.datetime
    portal_url: str


def _statement(request, account_id: int, query: StatementQuery) -> dict:
    account = customer_selectors.account_get(user=request.auth, pk=account_id)
    return selectors.statement(account=account, as_of=query.as_of, since=query.since)


@router.get("/accounts/{int:account_id}/statement", response=StatementOut)
def account_statement(request, account_id: int, query: Query[StatementQuery]):
    statement = _statement(request, account_id, query)
    return {**statement, "account": statement["account"].pk}


@router.get("/accounts/{int:account_id}/statement.pdf", response={200: None},
            openapi_extra={"responses": {200: {"description": "The statement PDF",
                                               "content": {"application/pdf": {}}}}})
def account_statement_pdf(request, account_id: int, query: Query[StatementQuery]):
    statement = _statement(request, account_id, query)
    return _pdf(render_statement_pdf(statement), statement_filename(statement))


@router.post("/accounts/{int:account_id}/portal-links", response={201: PortalLinkOut})
def create_portal_link(request, account_id: int, data: PortalLinkIn):
    account = customer_selectors.account_get(user=request.auth, pk=account_id)
    link, token = services.portal_link_create(actor=_writer(request), account=account, email=data.email,
                                              days=data.days)
    return Status(201, {"id": link.pk, "account": account.pk, "token_prefix": link.token_prefix,
                        "email": link.email, "expires_at": link.expires_at,
                        "portal_url": services.portal_url(token)})
