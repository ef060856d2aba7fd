"""API routes of billing: /invoices (actions post, credit, write-off), /payments (action allocate),
/credit-notes (action post) and /reports/ar-aging.

Reads are scoped like every list (finance and admin: all; sales: their customers'); every write is finance or
admin only (403 for the rest). POST /payments honours `Idempotency-Key` (core.idempotency middleware): a
replay returns the first payment and records nothing. Amounts are decimal strings in the document currency.
"""

import datetime as dt
from decimal import Decimal

from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from l2c.core.api_types import LimitOffsetPagination, RecordId
from l2c.core.errors import ValidationFailed
from l2c.customers.api import AccountRef, StrictSchema

from . import selectors, services
from .models import CreditNoteStatus, InvoiceStatus, PaymentMethod

router = Router(tags=["billing"])


def _writer(request):
    services.require_billing(request.auth)
    return request.auth


def _visible(model_qs, pk, field: str, label: str):
    found = model_qs.filter(pk=pk).first()
    if found is None:
        raise ValidationFailed.single(field, _("No %(what)s with id %(id)s.") % {"what": label, "id": pk}, "not_found")
    return found


# --- schemas ---------------------------------------------------------------------------------------------

class InvoiceLineOut(Schema):
    id: int
    position: int
    contract_line_id: int | None
    product_id: int
    description: str
    quantity: Decimal
    unit_price: Decimal
    net_amount: Decimal
    tax_rate: Decimal
    tax_amount: Decimal
    gross_amount: Decimal
    service_start: dt.date | None
    service_end: dt.date | None


class AllocationOut(Schema):
    id: int
    payment_id: int
    payment_number: str
    invoice_id: int
    invoice_number: str | None
    date: dt.date
    amount: Decimal
    fx_base: Decimal
    journal_entry_id: int | None

    @staticmethod
    def resolve_payment_number(obj) -> str:
        return obj.payment.number

    @staticmethod
    def resolve_invoice_number(obj) -> str | None:
        return obj.invoice.number


class WriteOffOut(Schema):
    id: int
    invoice_id: int
    date: dt.date
    amount: Decimal
    reason: str
    journal_entry_id: int | None


class InvoiceOut(Schema):
    id: int
    number: str | None
    status: str
    account: AccountRef
    contract_id: int | None
    currency: str
    issue_date: dt.date
    due_date: dt.date
    payment_terms: str
    net_total: Decimal
    tax_total: Decimal
    gross_total: Decimal
    amount_paid: Decimal
    amount_credited: Decimal
    amount_written_off: Decimal
    balance: Decimal
    rate: Decimal | None
    journal_entry_id: int | None
    posted_at: dt.datetime | None
    created_at: dt.datetime


class CreditNoteRef(Schema):
    id: int
    number: str | None
    status: str
    gross_total: Decimal


class InvoiceDetailOut(InvoiceOut):
    notes: str
    lines: list[InvoiceLineOut]
    allocations: list[AllocationOut]
    credit_notes: list[CreditNoteRef]
    write_offs: list[WriteOffOut]
    links: dict

    @staticmethod
    def resolve_lines(obj) -> list:
        return list(selectors.invoice_lines(obj))

    @staticmethod
    def resolve_allocations(obj) -> list:
        return list(selectors.invoice_allocations(obj))

    @staticmethod
    def resolve_credit_notes(obj) -> list:
        return list(obj.credit_notes.order_by("id"))

    @staticmethod
    def resolve_write_offs(obj) -> list:
        return list(obj.write_offs.order_by("id"))

    @staticmethod
    def resolve_links(obj) -> dict:
        base = "/api/v1"
        return {
            "self": f"{base}/invoices/{obj.pk}",
            "contract": f"{base}/contracts/{obj.contract_id}" if obj.contract_id else None,
            "journal_entry": f"{base}/ledger/journal-entries/{obj.journal_entry_id}" if obj.journal_entry_id else None,
        }


class InvoiceFilters(Schema):
    status: InvoiceStatus | None = None
    account: RecordId | None = None
    contract: RecordId | None = None
    overdue: bool = False
    q: str | None = Field(None, max_length=200, description="Search number, customer, contract number")


class InvoiceLineIn(StrictSchema):
    contract_line: RecordId
    quantity: Decimal = Field(..., gt=0, max_digits=18, decimal_places=4)


class InvoiceIn(StrictSchema):
    contract: RecordId
    issue_date: dt.date | None = Field(None, description="Default: today")
    lines: list[InvoiceLineIn] | None = Field(None, description="Default: everything not yet invoiced")
    notes: str = Field("", max_length=2000)


class CreditLineIn(StrictSchema):
    invoice_line: RecordId
    quantity: Decimal = Field(..., gt=0, max_digits=18, decimal_places=4)


class CreditIn(StrictSchema):
    reason: str = Field(..., max_length=services.MAX_REASON)
    amount: Decimal | None = Field(None, description="A gross amount spread over the lines; or give `lines`")
    lines: list[CreditLineIn] | None = None
    issue_date: dt.date | None = None
    post: bool = Field(False, description="Post the credit note at once")


class WriteOffIn(StrictSchema):
    amount: Decimal
    reason: str = Field(..., max_length=services.MAX_REASON)
    date: dt.date | None = None


class CreditNoteLineOut(Schema):
    id: int
    invoice_line_id: int
    description: str
    quantity: Decimal | None
    net_amount: Decimal
    tax_amount: Decimal
    gross_amount: Decimal


class CreditNoteOut(Schema):
    id: int
    number: str | None
    status: str
    invoice_id: int
    invoice_number: str | None
    account: AccountRef
    currency: str
    issue_date: dt.date
    reason: str
    net_total: Decimal
    tax_total: Decimal
    gross_total: Decimal
    journal_entry_id: int | None
    posted_at: dt.datetime | None
    lines: list[CreditNoteLineOut]

    @staticmethod
    def resolve_invoice_number(obj) -> str | None:
        return obj.invoice.number

    @staticmethod
    def resolve_lines(obj) -> list:
        return list(obj.lines.order_by("id"))


class CreditNoteFilters(Schema):
    invoice: RecordId | None = None
    status: CreditNoteStatus | None = None


class PaymentOut(Schema):
    id: int
    number: str
    account: AccountRef
    date: dt.date
    method: str
    currency: str
    amount: Decimal
    reference: str
    unapplied_amount: Decimal
    rate: Decimal
    journal_entry_id: int | None
    allocations: list[AllocationOut]
    created_at: dt.datetime

    @staticmethod
    def resolve_allocations(obj) -> list:
        return list(obj.allocations.select_related("payment", "invoice").order_by("date", "id"))


class AllocationIn(StrictSchema):
    invoice: RecordId
    amount: Decimal


class PaymentIn(StrictSchema):
    account: RecordId
    date: dt.date
    method: PaymentMethod
    currency: str = Field(..., min_length=3, max_length=3)
    amount: Decimal
    reference: str = Field("", max_length=services.MAX_REFERENCE)
    allocations: list[AllocationIn] = Field(default_factory=list, max_length=500)


class PaymentFilters(Schema):
    account: RecordId | None = None
    unapplied: bool = False
    q: str | None = Field(None, max_length=200)


class AllocateIn(StrictSchema):
    invoice: RecordId
    amount: Decimal
    date: dt.date | None = None


class AgingRow(Schema):
    account: AccountRef | None = None
    invoices: int | None = None
    current: Decimal
    days_1_30: Decimal
    days_31_60: Decimal
    days_61_90: Decimal
    over_90: Decimal
    total: Decimal


class AgingCurrency(Schema):
    currency: str
    customers: list[AgingRow]
    total: AgingRow


class AgingOut(Schema):
    as_of: dt.date
    currencies: list[AgingCurrency]


class AgingQuery(Schema):
    as_of: dt.date | None = Field(None, description="Default: today")
    account: RecordId | None = None


# --- invoices --------------------------------------------------------------------------------------------

@router.get("/invoices", response=list[InvoiceOut])
@paginate(LimitOffsetPagination)
def list_invoices(request, filters: Query[InvoiceFilters]):
    values = filters.dict()
    if values.get("status") is not None:
        values["status"] = InvoiceStatus(values["status"]).value
    return selectors.invoice_list(user=request.auth, **values)


@router.post("/invoices", response={201: InvoiceDetailOut})
def create_invoice(request, data: InvoiceIn):
    from l2c.contracts.models import Contract

    actor = _writer(request)
    contract = _visible(Contract.objects.restrict(actor), data.contract, "contract", _("contract"))
    lines = None if data.lines is None else [(line.contract_line, line.quantity) for line in data.lines]
    invoice = services.invoice_create_from_contract(actor=actor, contract=contract, lines=lines,
                                                    issue_date=data.issue_date, notes=data.notes)
    return Status(201, selectors.invoice_get(user=actor, pk=invoice.pk))


@router.get("/invoices/{int:invoice_id}", response=InvoiceDetailOut)
def get_invoice(request, invoice_id: int):
    return selectors.invoice_get(user=request.auth, pk=invoice_id)


@router.post("/invoices/{int:invoice_id}/post", response=InvoiceDetailOut)
def post_invoice(request, invoice_id: int):
    invoice = selectors.invoice_get(user=request.auth, pk=invoice_id)
    services.invoice_post(actor=_writer(request), invoice=invoice)
    return selectors.invoice_get(user=request.auth, pk=invoice_id)


@router.post("/invoices/{int:invoice_id}/credit", response={201: CreditNoteOut})
def credit_invoice(request, invoice_id: int, data: CreditIn):
    invoice = selectors.invoice_get(user=request.auth, pk=invoice_id)
    actor = _writer(request)
    lines = None if data.lines is None else [(line.invoice_line, line.quantity) for line in data.lines]
    note = services.credit_note_create(actor=actor, invoice=invoice, reason=data.reason, lines=lines,
                                       amount=data.amount, issue_date=data.issue_date)
    if data.post:
        note = services.credit_note_post(actor=actor, credit_note=note)
    return Status(201, selectors.credit_note_get(user=actor, pk=note.pk))


@router.post("/invoices/{int:invoice_id}/write-off", response={201: WriteOffOut})
def write_off_invoice(request, invoice_id: int, data: WriteOffIn):
    invoice = selectors.invoice_get(user=request.auth, pk=invoice_id)
    record = services.write_off(actor=_writer(request), invoice=invoice, amount=data.amount, reason=data.reason,
                                date=data.date)
    return Status(201, record)


# --- credit notes ----------------------------------------------------------------------------------------

@router.get("/credit-notes", response=list[CreditNoteOut])
@paginate(LimitOffsetPagination)
def list_credit_notes(request, filters: Query[CreditNoteFilters]):
    values = filters.dict()
    if values.get("status") is not None:
        values["status"] = CreditNoteStatus(values["status"]).value
    return selectors.credit_note_list(user=request.auth, **values)


@router.get("/credit-notes/{int:note_id}", response=CreditNoteOut)
def get_credit_note(request, note_id: int):
    return selectors.credit_note_get(user=request.auth, pk=note_id)


@router.post("/credit-notes/{int:note_id}/post", response=CreditNoteOut)
def post_credit_note(request, note_id: int):
    note = selectors.credit_note_get(user=request.auth, pk=note_id)
    services.credit_note_post(actor=_writer(request), credit_note=note)
    return selectors.credit_note_get(user=request.auth, pk=note_id)


# --- payments --------------------------------------------------------------------------------------------

@router.get("/payments", response=list[PaymentOut])
@paginate(LimitOffsetPagination)
def list_payments(request, filters: Query[PaymentFilters]):
    return selectors.payment_list(user=request.auth, **filters.dict())


@router.post("/payments", response={201: PaymentOut})
def create_payment(request, data: PaymentIn):
    from l2c.customers.models import Account

    from .models import Invoice

    actor = _writer(request)
    account = _visible(Account.objects.restrict(actor), data.account, "account", _("customer"))
    allocations = []
    for index, item in enumerate(data.allocations):
        invoice = _visible(Invoice.objects.restrict(actor), item.invoice, f"allocations.{index}.invoice",
                           _("invoice"))
        allocations.append((invoice, item.amount))
    payment = services.payment_record(actor=actor, account=account, date=data.date, method=data.method.value,
                                      currency=data.currency, amount=data.amount, reference=data.reference,
                                      allocations=allocations)
    return Status(201, selectors.payment_get(user=actor, pk=payment.pk))


@router.get("/payments/{int:payment_id}", response=PaymentOut)
def get_payment(request, payment_id: int):
    return selectors.payment_get(user=request.auth, pk=payment_id)


@router.post("/payments/{int:payment_id}/allocate", response={201: AllocationOut})
def allocate_payment(request, payment_id: int, data: AllocateIn):
    from .models import Invoice

    payment = selectors.payment_get(user=request.auth, pk=payment_id)
    actor = _writer(request)
    invoice = _visible(Invoice.objects.restrict(actor), data.invoice, "invoice", _("invoice"))
    allocation = services.payment_allocate(actor=actor, payment=payment, invoice=invoice, amount=data.amount,
                                           date=data.date)
    return Status(201, allocation)


# --- reports ---------------------------------------------------------------------------------------------

@router.get("/reports/ar-aging", response=AgingOut)
def ar_aging(request, query: Query[AgingQuery]):
    return selectors.ar_aging(user=request.auth, as_of=query.as_of, account=query.account)
