"""API routes of the contracts app: /contracts (list, read, signed PDF) and the actions terminate and renew."""

import datetime as dt
from typing import Literal

from django.http import HttpResponse
from ninja import Field, Query, Router, Schema
from ninja.pagination import paginate

from l2c.core import listing
from l2c.core.api_types import LimitOffsetPagination, RecordId
from l2c.customers.api import AccountRef, StrictSchema, UserRef

from . import selectors, services
from .models import ContractStatus

router = Router(tags=["contracts"])

ContractOrdering = Literal[tuple(listing.ordering_choices(selectors.CONTRACT_ORDERING))]  # type: ignore[valid-type]


class ContractLineOut(Schema):
    id: int
    position: int
    product_id: int
    sku: str
    description: str
    quantity: str
    unit: str
    list_price: str
    unit_price: str
    discount_percent: str
    tax_rate: str
    net_amount: str
    tax_amount: str
    gross_amount: str
    service_start: dt.date | None
    service_end: dt.date | None

    @staticmethod
    def resolve_sku(obj) -> str:
        return obj.product.sku

    @staticmethod
    def resolve_quantity(obj) -> str:
        return str(obj.quantity)

    @staticmethod
    def resolve_list_price(obj) -> str:
        return str(obj.list_price)

    @staticmethod
    def resolve_unit_price(obj) -> str:
        return str(obj.unit_price)

    @staticmethod
    def resolve_discount_percent(obj) -> str:
        return str(obj.discount_percent)

    @staticmethod
    def resolve_tax_rate(obj) -> str:
        return str(obj.tax_rate)

    @staticmethod
    def resolve_net_amount(obj) -> str:
        return str(obj.net_amount)

    @staticmethod
    def resolve_tax_amount(obj) -> str:
        return str(obj.tax_amount)

    @staticmethod
    def resolve_gross_amount(obj) -> str:
        return str(obj.gross_amount)


class SignatureSummary(Schema):
    id: int
    signer_name: str
    signer_email: str
    signer_title: str
    signed_at: dt.datetime
    consented_at: dt.datetime
    consent_version: str
    ip_address: str | None
    shown_pdf_sha256: str
    signed_pdf_sha256: str


class ContractLinks(Schema):
    self: str
    signed_pdf: str | None
    quote: str
    opportunity: str
    renewal_opportunity: str | None
    renewal_of: str | None


class ContractOut(Schema):
    id: int
    number: str
    status: str
    account: AccountRef
    contact_id: int | None
    opportunity_id: int
    quote_id: int
    quote_number: str
    quote_version: int
    owner: UserRef | None
    currency: str
    start_date: dt.date
    end_date: dt.date
    term_months: int
    auto_renew: bool
    notice_days: int
    payment_terms: str
    signed_at: dt.datetime | None
    status_changed_at: dt.datetime | None
    net_total: str
    tax_total: str
    gross_total: str
    renewal_of_id: int | None
    renewal_opportunity_id: int | None
    terminated_on: dt.date | None
    termination_reason: str
    created_at: dt.datetime

    @staticmethod
    def resolve_quote_number(obj) -> str:
        return obj.quote.number

    @staticmethod
    def resolve_quote_version(obj) -> int:
        return obj.quote.version

    @staticmethod
    def resolve_net_total(obj) -> str:
        return str(obj.net_total)

    @staticmethod
    def resolve_tax_total(obj) -> str:
        return str(obj.tax_total)

    @staticmethod
    def resolve_gross_total(obj) -> str:
        return str(obj.gross_total)


class ContractDetailOut(ContractOut):
    terms: str
    lines: list[ContractLineOut]
    signature: SignatureSummary | None
    links: ContractLinks

    @staticmethod
    def resolve_lines(obj) -> list:
        return list(selectors.contract_lines(obj))

    @staticmethod
    def resolve_links(obj) -> dict:
        base = "/api/v1"
        return {
            "self": f"{base}/contracts/{obj.pk}",
            "signed_pdf": f"{base}/contracts/{obj.pk}/signed-pdf" if obj.signature_id else None,
            "quote": f"{base}/quotes/{obj.quote_id}",
            "opportunity": f"{base}/opportunities/{obj.opportunity_id}",
            "renewal_opportunity": (f"{base}/opportunities/{obj.renewal_opportunity_id}"
                                    if obj.renewal_opportunity_id else None),
            "renewal_of": f"{base}/contracts/{obj.renewal_of_id}" if obj.renewal_of_id else None,
        }


class ContractFilters(Schema):
    status: ContractStatus | None = None
    account: RecordId | None = None
    q: str | None = Field(None, max_length=200, description="Search number, customer, quote, signer")
    ordering: ContractOrdering | None = None


class TerminateIn(StrictSchema):
    date: dt.date = Field(..., description="The day the contract ends (between its start and end dates)")
    reason: str = Field(..., max_length=services.MAX_REASON)


@router.get("/contracts", response=list[ContractOut])
@paginate(LimitOffsetPagination)
def list_contracts(request, filters: Query[ContractFilters]):
    values = filters.dict()
    if values.get("status") is not None:
        values["status"] = ContractStatus(values["status"]).value
    return selectors.contract_list(user=request.auth, **values)


@router.get("/contracts/{int:contract_id}", response=ContractDetailOut)
def get_contract(request, contract_id: int):
    return selectors.contract_get(user=request.auth, pk=contract_id)


@router.get("/contracts/{int:contract_id}/signed-pdf",
            openapi_extra={"responses": {200: {"description": "The signed PDF",
                                               "content": {"application/pdf": {}}}}})
def get_signed_pdf(request, contract_id: int):
    contract = selectors.contract_get(user=request.auth, pk=contract_id)
    return signed_pdf_response(contract)


def signed_pdf_response(contract) -> HttpResponse:
    from django.http import Http404

    if contract.signature is None:
        raise Http404("This contract has no signed document.")
    response = HttpResponse(bytes(contract.signature.signed_pdf), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{contract.number}-signed.pdf"'
    return response


@router.post("/contracts/{int:contract_id}/terminate", response=ContractDetailOut)
def terminate_contract(request, contract_id: int, data: TerminateIn):
    contract = selectors.contract_get(user=request.auth, pk=contract_id)
    services.contract_terminate(contract=contract, actor=request.auth, date=data.date, reason=data.reason)
    return selectors.contract_get(user=request.auth, pk=contract_id)


@router.post("/contracts/{int:contract_id}/renew", response=ContractDetailOut)
def renew_contract(request, contract_id: int):
    contract = selectors.contract_get(user=request.auth, pk=contract_id)
    services.contract_renew(contract=contract, actor=request.auth)
    return selectors.contract_get(user=request.auth, pk=contract_id)
