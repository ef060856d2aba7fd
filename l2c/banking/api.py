"""API routes of banking: /bank-statements (upload a camt.053 or CSV file, read, re-run matching) and the review
actions on their lines (match, ignore, restore). Finance and admin only; sales roles get 403.

POST /bank-statements honours `Idempotency-Key` (a replay returns the first statement); importing the same
file again is a 409 `duplicate_file`.
"""

import datetime as dt
import json
from decimal import Decimal

from django.utils.translation import gettext as _
from ninja import Field, File, Form, Query, Router, Schema, Status
from ninja.files import UploadedFile
from ninja.pagination import paginate

from l2c.core.api_types import LimitOffsetPagination, RecordId
from l2c.core.errors import ValidationFailed
from l2c.customers.api import StrictSchema

from . import selectors, services
from .parsers import MAX_FILE_BYTES

router = Router(tags=["banking"])


def _actor(request):
    services.require_banking(request.auth)
    return request.auth


class InvoiceRef(Schema):
    id: int
    number: str | None
    account_id: int
    currency: str
    balance: Decimal
    status: str


class LineOut(Schema):
    id: int
    position: int
    booking_date: dt.date
    value_date: dt.date | None
    amount: Decimal
    currency: str
    counterparty_name: str
    counterparty_account: str
    reference: str
    end_to_end_id: str
    bank_reference: str
    status: str
    match_method: str
    payment_id: int | None
    payment_number: str | None
    invoices: list[InvoiceRef]
    candidates: list[InvoiceRef]
    review_note: str

    @staticmethod
    def resolve_payment_number(obj) -> str | None:
        return obj.payment.number if obj.payment_id else None

    @staticmethod
    def resolve_invoices(obj) -> list:
        return selectors.matched_invoices(obj)

    @staticmethod
    def resolve_candidates(obj) -> list:
        return list(obj.candidates.all())


class StatementOut(Schema):
    id: int
    account_name: str
    iban: str
    statement_id: str
    currency: str
    period_start: dt.date | None
    period_end: dt.date | None
    opening_balance: Decimal | None
    closing_balance: Decimal | None
    file_name: str
    file_format: str
    file_sha256: str
    imported_by_id: int | None
    imported_at: dt.datetime
    lines_count: int
    unmatched_count: int
    matched_count: int
    ignored_count: int


class StatementDetailOut(StatementOut):
    lines: list[LineOut]

    @staticmethod
    def resolve_lines(obj) -> list:
        return list(selectors.statement_lines(obj))


class StatementFilters(Schema):
    status: str | None = Field(None, pattern="^open$", description="`open`: statements with unmatched lines")


class UploadIn(Schema):
    mapping: str = Field("", max_length=5000, description="CSV only: JSON object, e.g. "
                         "{\"date\": \"Date\", \"amount\": \"Amount\", \"currency\": \"Currency\", "
                         "\"counterparty\": \"Name\", \"reference\": \"Reference\"}")
    auto_match: bool = True


class MatchIn(StrictSchema):
    invoice: RecordId
    amount: Decimal | None = Field(None, description="Default: as much of the line as the invoice's balance takes")


class IgnoreIn(StrictSchema):
    note: str = Field("", max_length=2000)


class MatchRunOut(Schema):
    matched: int
    review: int


def _mapping(text: str) -> dict | None:
    if not text.strip():
        return None
    try:
        mapping = json.loads(text)
    except ValueError as exc:
        raise ValidationFailed.single("mapping", _("Not valid JSON: %(error)s") % {"error": exc},
                                      "invalid_json") from exc
    if not isinstance(mapping, dict):
        raise ValidationFailed.single("mapping", _("The mapping must be a JSON object of field → column."))
    return mapping


@router.get("/bank-statements", response=list[StatementOut])
@paginate(LimitOffsetPagination)
def list_statements(request, filters: Query[StatementFilters]):
    return selectors.statement_list(user=request.auth, status=filters.status)


@router.post("/bank-statements", response={201: StatementDetailOut})
def upload_statement(request, file: File[UploadedFile], data: Form[UploadIn]):
    """Upload an ISO 20022 camt.053 XML file, or a CSV/XLSX file with `mapping`; lines are matched at once."""
    actor = _actor(request)
    if file.size and file.size > MAX_FILE_BYTES:
        raise ValidationFailed.single("file", _("The file is larger than %(n)d MB.")
                                      % {"n": MAX_FILE_BYTES // (1024 * 1024)}, "file_too_large")
    statement = services.statement_import(actor=actor, file_name=file.name or "", data=file.read(),
                                          mapping=_mapping(data.mapping), auto_match=data.auto_match)
    return Status(201, selectors.statement_get(user=actor, pk=statement.pk))


@router.get("/bank-statements/{int:statement_id}", response=StatementDetailOut)
def get_statement(request, statement_id: int):
    return selectors.statement_get(user=request.auth, pk=statement_id)


@router.post("/bank-statements/{int:statement_id}/match", response=MatchRunOut)
def rematch_statement(request, statement_id: int):
    """Run automatic matching again over the statement's unmatched lines (e.g. after invoices were posted)."""
    statement = selectors.statement_get(user=request.auth, pk=statement_id)
    return services.statement_match(actor=_actor(request), statement=statement)


@router.post("/bank-statements/{int:statement_id}/lines/{int:line_id}/match", response=LineOut)
def match_line(request, statement_id: int, line_id: int, data: MatchIn):
    from l2c.billing.models import Invoice

    line = selectors.line_get(user=request.auth, statement_id=statement_id, line_id=line_id)
    actor = _actor(request)
    invoice = Invoice.objects.restrict(actor).filter(pk=data.invoice).first()
    if invoice is None:
        raise ValidationFailed.single("invoice", _("No invoice with id %(id)s.") % {"id": data.invoice}, "not_found")
    services.line_match(actor=actor, line=line, invoice=invoice, amount=data.amount)
    return selectors.line_get(user=actor, statement_id=statement_id, line_id=line_id)


@router.post("/bank-statements/{int:statement_id}/lines/{int:line_id}/ignore", response=LineOut)
def ignore_line(request, statement_id: int, line_id: int, data: IgnoreIn | None = None):
    line = selectors.line_get(user=request.auth, statement_id=statement_id, line_id=line_id)
    services.line_ignore(actor=_actor(request), line=line, note=data.note if data else "")
    return selectors.line_get(user=request.auth, statement_id=statement_id, line_id=line_id)


@router.post("/bank-statements/{int:statement_id}/lines/{int:line_id}/restore", response=LineOut)
def restore_line(request, statement_id: int, line_id: int):
    line = selectors.line_get(user=request.auth, statement_id=statement_id, line_id=line_id)
    services.line_restore(actor=_actor(request), line=line)
    return selectors.line_get(user=request.auth, statement_id=statement_id, line_id=line_id)
