"""API routes of quotes: /quotes (list, create from an opportunity, read, edit), their lines, the actions
submit / approve / reject / new-version / primary, /quotes/{id}/versions, and /approval-rules.

Amounts are decimal strings rounded to the quote currency's minor unit ("1296.81", JPY "3766").
Sending and the PDF are in the sending router (/quotes/{id}/send, /quotes/{id}/pdf).
"""

import datetime as dt
from decimal import Decimal
from typing import Literal

from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from l2c.core import audit, listing
from l2c.core.api_types import LimitOffsetPagination, RecordId
from l2c.core.errors import NotFound
from l2c.core.money import round_money
from l2c.customers.api import AccountRef, AuditEventOut, StrictSchema, UserRef

from . import pricing, selectors
from .models import ApprovalRule, PaymentTerms, Quote, QuoteLine, QuoteStatus
from .services import approvals as approval_services
from .services import quotes as quote_services

router = Router(tags=["quotes"])


def _money(value, currency: str) -> str:
    return str(round_money(value or 0, currency))


def _pct(value) -> str:
    return pricing.rate_label(value or 0)


# --- output ---------------------------------------------------------------------------------------------

class OpportunityRef(Schema):
    id: int
    name: str


class ContactRef(Schema):
    id: int
    full_name: str


class PriceBookRef(Schema):
    id: int
    name: str
    currency: str
    segment: str


class ProductRef(Schema):
    id: int
    sku: str
    name: str
    kind: str


class TaxLineOut(Schema):
    rate: str
    inclusive: bool
    net: str
    tax: str


class TotalsOut(Schema):
    list_total: str
    discount_total: str
    net_total: str
    tax_total: str
    gross_total: str
    effective_discount_percent: str
    max_line_discount_percent: str
    tax_breakdown: list[TaxLineOut]


class LineOut(Schema):
    id: int
    position: int
    section: str
    product: ProductRef
    description: str
    quantity: str
    unit: str
    list_price: str
    discount_percent: str
    optional: bool
    service_start: dt.date | None
    service_end: dt.date | None
    tax_category: str
    tax_rate: str
    tax_inclusive: bool
    unit_price: str
    list_amount: str
    net_amount: str
    tax_amount: str
    gross_amount: str


class ApprovalOut(Schema):
    id: int
    level: int
    rule_name: str
    reason: str
    approver_roles: list[str]
    status: str
    requested_by: UserRef | None
    requested_at: dt.datetime
    decided_by: UserRef | None
    decided_at: dt.datetime | None
    comment: str


class _QuoteBase(Schema):
    id: int
    number: str
    version: int
    title: str
    status: str
    is_primary: bool
    opportunity: OpportunityRef
    account: AccountRef
    owner: UserRef | None
    currency: str
    quote_date: dt.date
    valid_until: dt.date
    created_at: dt.datetime
    updated_at: dt.datetime


class QuoteListOut(_QuoteBase):
    net_total: str
    gross_total: str
    effective_discount_percent: str

    @staticmethod
    def resolve_net_total(obj) -> str:
        return _money(obj.net_total, obj.currency)

    @staticmethod
    def resolve_gross_total(obj) -> str:
        return _money(obj.gross_total, obj.currency)

    @staticmethod
    def resolve_effective_discount_percent(obj) -> str:
        return _pct(obj.effective_discount_percent)


class QuoteOut(_QuoteBase):
    net_total: str
    gross_total: str
    effective_discount_percent: str
    previous_version_id: int | None
    status_changed_at: dt.datetime | None
    contact: ContactRef | None
    price_book: PriceBookRef | None
    tax_country: str
    payment_terms: str
    terms: str
    notes: str
    header_discount_percent: str
    contract_start: dt.date | None
    contract_term_months: int
    auto_renew: bool
    notice_days: int
    totals: TotalsOut
    lines: list[LineOut]
    approvals: list[ApprovalOut]
    blockers: list[str]
    warnings: list[str]
    editable: bool
    approved_at: dt.datetime | None
    sent_at: dt.datetime | None
    viewed_at: dt.datetime | None
    accepted_at: dt.datetime | None
    declined_at: dt.datetime | None
    decline_reason: str
    sent_pdf_sha256: str


def _line_out(line: QuoteLine, currency: str) -> dict:
    return {
        "id": line.pk, "position": line.position, "section": line.section, "product": line.product,
        "description": line.description, "quantity": _pct(line.quantity), "unit": line.unit,
        "list_price": str(line.list_price), "discount_percent": _pct(line.discount_percent),
        "optional": line.optional, "service_start": line.service_start, "service_end": line.service_end,
        "tax_category": line.tax_category, "tax_rate": _pct(line.tax_rate), "tax_inclusive": line.tax_inclusive,
        "unit_price": str(line.unit_price),
        **{name: _money(getattr(line, name), currency)
           for name in ("list_amount", "net_amount", "tax_amount", "gross_amount")},
    }


def _list_out(quote: Quote) -> dict:
    return {
        "id": quote.pk, "number": quote.number, "version": quote.version, "title": quote.title,
        "status": quote.status, "is_primary": quote.is_primary, "opportunity": quote.opportunity,
        "account": quote.account, "owner": quote.owner, "currency": quote.currency, "quote_date": quote.quote_date,
        "valid_until": quote.valid_until, "net_total": _money(quote.net_total, quote.currency),
        "gross_total": _money(quote.gross_total, quote.currency),
        "effective_discount_percent": _pct(quote.effective_discount_percent),
        "created_at": quote.created_at, "updated_at": quote.updated_at,
    }


def quote_out(user, pk: int) -> dict:
    """The full quote as the API shows it: lines, totals, approvals, blockers and warnings."""
    quote = selectors.quote_get(user, pk)
    lines = list(selectors.quote_lines(quote))
    currency = quote.currency
    warnings = pricing.compute(quote, [*lines]).warnings if quote_services.can_edit(quote) else []
    lines = list(selectors.quote_lines(quote))  # compute() filled the objects; show what is stored
    return {
        **_list_out(quote),
        "previous_version_id": quote.previous_version_id, "status_changed_at": quote.status_changed_at,
        "contact": quote.contact, "price_book": quote.price_book, "tax_country": quote.tax_country,
        "payment_terms": quote.payment_terms, "terms": quote.terms, "notes": quote.notes,
        "header_discount_percent": _pct(quote.header_discount_percent), "contract_start": quote.contract_start,
        "contract_term_months": quote.contract_term_months, "auto_renew": quote.auto_renew,
        "notice_days": quote.notice_days,
        "totals": {
            **{name: _money(getattr(quote, name), currency)
               for name in ("list_total", "discount_total", "net_total", "tax_total", "gross_total")},
            "effective_discount_percent": _pct(quote.effective_discount_percent),
            "max_line_discount_percent": _pct(quote.max_line_discount_percent),
            "tax_breakdown": quote.tax_breakdown or [],
        },
        "lines": [_line_out(line, currency) for line in lines],
        "approvals": list(selectors.quote_approvals(quote)),
        "blockers": approval_services.blockers(quote),
        "warnings": warnings,
        "editable": quote_services.can_edit(quote),
        "approved_at": quote.approved_at, "sent_at": quote.sent_at, "viewed_at": quote.viewed_at,
        "accepted_at": quote.accepted_at, "declined_at": quote.declined_at, "decline_reason": quote.decline_reason,
        "sent_pdf_sha256": quote.sent_pdf_sha256,
    }


# --- input ------------------------------------------------------------------------------------------------

class QuoteHeaderFields(StrictSchema):
    title: str | None = Field(None, max_length=200)
    contact: RecordId | None = Field(None, description="Contact id (must work at the account); null: none")
    price_book: RecordId | None = Field(None, description="Price book id; default: the book for the currency "
                                                          "and the account's segment")
    currency: str | None = Field(None, min_length=3, max_length=3, description="ISO 4217; default the opportunity's")
    tax_country: str | None = Field(None, max_length=2, description="ISO 3166-1 alpha-2; default the account's")
    quote_date: dt.date | None = None
    valid_until: dt.date | None = Field(None, description="Default: quote date + 30 days")
    payment_terms: PaymentTerms | None = None
    terms: str | None = Field(None, max_length=quote_services.MAX_TEXT)
    notes: str | None = Field(None, max_length=quote_services.MAX_TEXT)
    header_discount_percent: Decimal | None = Field(None, description="0–100, up to 4 decimals")
    contract_start: dt.date | None = None
    contract_term_months: int | None = Field(None, ge=1, le=600)
    auto_renew: bool | None = None
    notice_days: int | None = Field(None, ge=0, le=3650)


class QuoteIn(QuoteHeaderFields):
    opportunity: RecordId = Field(..., description="The opportunity the quote is for")


class LineIn(StrictSchema):
    product: RecordId
    quantity: Decimal = Field(Decimal(1), description="> 0, up to 4 decimals")
    discount_percent: Decimal = Field(Decimal(0), description="0–100")
    list_price: Decimal | None = Field(None, description="Unit list price; default: from the price book")
    description: str = Field("", max_length=quote_services.MAX_TEXT)
    section: str = Field("", max_length=120)
    optional: bool = False
    service_start: dt.date | None = None
    service_end: dt.date | None = None


class LinePatch(StrictSchema):
    product: RecordId | None = None
    quantity: Decimal | None = None
    discount_percent: Decimal | None = None
    list_price: Decimal | None = Field(None, description="A unit list price; null: take the price book's again")
    description: str | None = Field(None, max_length=quote_services.MAX_TEXT)
    section: str | None = Field(None, max_length=120)
    optional: bool | None = None
    service_start: dt.date | None = None
    service_end: dt.date | None = None


class ReorderIn(StrictSchema):
    line_ids: list[RecordId]


class ApproveIn(StrictSchema):
    comment: str = Field("", max_length=quote_services.MAX_TEXT)


class RejectIn(StrictSchema):
    comment: str = Field(..., max_length=quote_services.MAX_TEXT, description="Why (required)")


QuoteOrdering = Literal[tuple(listing.ordering_choices(selectors.QUOTE_ORDERING))]  # type: ignore[valid-type]


class QuoteFilters(Schema):
    q: str | None = Field(None, max_length=200, description="Search number, title, account, opportunity, contact")
    status: QuoteStatus | None = None
    opportunity: RecordId | None = None
    owner: RecordId | None = None
    account: RecordId | None = None
    primary: bool | None = None
    latest: bool | None = Field(None, description="Only the newest version of each quote")
    ordering: QuoteOrdering | None = None


def _enum_values(values: dict) -> dict:
    return {k: (getattr(v, "value", v)) for k, v in values.items()}


def _header_values(data: Schema) -> dict:
    values = _enum_values(data.dict(exclude_unset=True))
    # a field sent as null means "the default" for these, not "empty"
    for name in ("title", "terms", "notes"):
        if name in values and values[name] is None:
            values[name] = ""
    return values


# --- quotes -----------------------------------------------------------------------------------------------

@router.get("/quotes", response=list[QuoteListOut])
@paginate(LimitOffsetPagination)
def list_quotes(request, filters: Query[QuoteFilters]):
    return selectors.quote_list(request.auth, **_enum_values(filters.dict()))


@router.post("/quotes", response={201: QuoteOut})
def create_quote(request, data: QuoteIn):
    values = _header_values(data)
    opportunity = values.pop("opportunity")
    quote = quote_services.quote_create(actor=request.auth, opportunity=opportunity, **values)
    return Status(201, quote_out(request.auth, quote.pk))


@router.get("/quotes/{int:quote_id}", response=QuoteOut)
def get_quote(request, quote_id: int):
    return quote_out(request.auth, quote_id)


@router.patch("/quotes/{int:quote_id}", response=QuoteOut)
def update_quote(request, quote_id: int, data: QuoteHeaderFields):
    quote = selectors.quote_get(request.auth, quote_id)
    quote_services.quote_update(actor=request.auth, quote=quote, **_header_values(data))
    return quote_out(request.auth, quote_id)


@router.get("/quotes/{int:quote_id}/versions", response=list[QuoteListOut])
def quote_versions(request, quote_id: int):
    quote = selectors.quote_get(request.auth, quote_id)
    return list(selectors.quote_versions(request.auth, quote))


@router.get("/quotes/{int:quote_id}/history", response=list[AuditEventOut])
@paginate(LimitOffsetPagination)
def quote_history(request, quote_id: int):
    return audit.history_for(selectors.quote_get(request.auth, quote_id))


# --- lines ------------------------------------------------------------------------------------------------

def _line_of(user, quote_id: int, line_id: int) -> QuoteLine:
    quote = selectors.quote_get(user, quote_id)
    line = quote.lines.filter(pk=line_id).first()
    if line is None:
        raise NotFound(_("No line %(line)s on quote %(quote)s.") % {"line": line_id, "quote": quote_id})
    return line


@router.post("/quotes/{int:quote_id}/lines", response={201: QuoteOut})
def add_line(request, quote_id: int, data: LineIn):
    """Add a line; the response is the whole quote with its new totals."""
    quote = selectors.quote_get(request.auth, quote_id)
    quote_services.line_add(actor=request.auth, quote=quote, **data.dict())
    return Status(201, quote_out(request.auth, quote_id))


@router.patch("/quotes/{int:quote_id}/lines/{int:line_id}", response=QuoteOut)
def update_line(request, quote_id: int, line_id: int, data: LinePatch):
    line = _line_of(request.auth, quote_id, line_id)
    values = data.dict(exclude_unset=True)
    for name in ("product", "quantity", "optional"):
        if name in values and values[name] is None:
            values.pop(name)  # null for a required value: unchanged
    quote_services.line_update(actor=request.auth, line=line, **values)
    return quote_out(request.auth, quote_id)


@router.delete("/quotes/{int:quote_id}/lines/{int:line_id}", response=QuoteOut)
def delete_line(request, quote_id: int, line_id: int):
    """Remove a line; the response is the quote with its new totals."""
    quote_services.line_delete(actor=request.auth, line=_line_of(request.auth, quote_id, line_id))
    return quote_out(request.auth, quote_id)


@router.post("/quotes/{int:quote_id}/lines/reorder", response=QuoteOut)
def reorder_lines(request, quote_id: int, data: ReorderIn):
    quote = selectors.quote_get(request.auth, quote_id)
    quote_services.lines_reorder(actor=request.auth, quote=quote, line_ids=data.line_ids)
    return quote_out(request.auth, quote_id)


# --- actions ----------------------------------------------------------------------------------------------

@router.post("/quotes/{int:quote_id}/submit", response=QuoteOut)
def submit_quote(request, quote_id: int):
    """Submit for approval: APPROVED at once when no rule applies, else PENDING_APPROVAL with the approvals."""
    approval_services.quote_submit(actor=request.auth, quote=selectors.quote_get(request.auth, quote_id))
    return quote_out(request.auth, quote_id)


@router.post("/quotes/{int:quote_id}/approve", response=QuoteOut)
def approve_quote(request, quote_id: int, data: ApproveIn):
    approval_services.quote_approve(actor=request.auth, quote=selectors.quote_get(request.auth, quote_id),
                                    comment=data.comment)
    return quote_out(request.auth, quote_id)


@router.post("/quotes/{int:quote_id}/reject", response=QuoteOut)
def reject_quote(request, quote_id: int, data: RejectIn):
    approval_services.quote_reject(actor=request.auth, quote=selectors.quote_get(request.auth, quote_id),
                                   comment=data.comment)
    return quote_out(request.auth, quote_id)


@router.post("/quotes/{int:quote_id}/new-version", response={201: QuoteOut})
def new_version(request, quote_id: int):
    """A new DRAFT version; the old one becomes SUPERSEDED (read-only)."""
    new = quote_services.quote_new_version(actor=request.auth, quote=selectors.quote_get(request.auth, quote_id))
    return Status(201, quote_out(request.auth, new.pk))


@router.post("/quotes/{int:quote_id}/primary", response=QuoteOut)
def make_primary(request, quote_id: int):
    """Make this the opportunity's primary quote (its amount follows the quote's net total)."""
    quote_services.quote_set_primary(actor=request.auth, quote=selectors.quote_get(request.auth, quote_id))
    return quote_out(request.auth, quote_id)


# --- approval rules -----------------------------------------------------------------------------------------

class ApprovalRuleOut(Schema):
    id: int
    name: str
    measure: str
    threshold_percent: str
    approver_roles: list[str]
    level: int
    active: bool
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_threshold_percent(obj) -> str:
        return _pct(obj.threshold_percent)


ApproverRole = Literal["manager", "finance", "admin"]


class ApprovalRuleIn(StrictSchema):
    name: str = Field(..., max_length=120)
    measure: ApprovalRule.Measure = ApprovalRule.Measure.OVERALL
    threshold_percent: Decimal = Field(..., description="A discount over this (0–100) needs approval")
    approver_roles: list[ApproverRole] = Field(..., min_length=1)
    level: int = Field(1, ge=1, le=9)
    active: bool = True


class ApprovalRulePatch(StrictSchema):
    name: str | None = Field(None, max_length=120)
    measure: ApprovalRule.Measure | None = None
    threshold_percent: Decimal | None = None
    approver_roles: list[ApproverRole] | None = Field(None, min_length=1)
    level: int | None = Field(None, ge=1, le=9)
    active: bool | None = None


@router.get("/approval-rules", response=list[ApprovalRuleOut], tags=["approval rules"])
def list_approval_rules(request, active: bool | None = None):
    return list(selectors.approval_rule_list(active=active))


@router.post("/approval-rules", response={201: ApprovalRuleOut}, tags=["approval rules"])
def create_approval_rule(request, data: ApprovalRuleIn):
    return Status(201, approval_services.approval_rule_create(actor=request.auth, **_enum_values(data.dict())))


@router.patch("/approval-rules/{int:rule_id}", response=ApprovalRuleOut, tags=["approval rules"])
def update_approval_rule(request, rule_id: int, data: ApprovalRulePatch):
    values = {k: v for k, v in _enum_values(data.dict(exclude_unset=True)).items() if v is not None}
    return approval_services.approval_rule_update(actor=request.auth, rule=selectors.approval_rule_get(rule_id),
                                                  **values)


@router.delete("/approval-rules/{int:rule_id}", response={204: None}, tags=["approval rules"])
def delete_approval_rule(request, rule_id: int):
    approval_services.approval_rule_delete(actor=request.auth, rule=selectors.approval_rule_get(rule_id))
    return Status(204, None)
