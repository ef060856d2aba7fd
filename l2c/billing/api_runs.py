"""API route of the billing run: POST /billing-runs (finance or admin) invoices and posts everything due.

Register in l2c/api.py: `api.add_router("/", billing_runs_router)` with
`from l2c.billing.api_runs import router as billing_runs_router`.
"""

import datetime as dt

from django.utils import timezone
from ninja import Router, Schema, Status

from l2c.customers.api import StrictSchema

from . import schedules, services

router = Router(tags=["billing"])


class BillingRunIn(StrictSchema):
    today: dt.date | None = None  # default: today; items due on or before it are invoiced


class BillingRunErrorOut(Schema):
    contract_id: int
    contract: str
    message: str


class BillingRunOut(Schema):
    today: dt.date
    contracts: int
    invoices: int
    items: int
    invoice_ids: list[int]
    totals: dict[str, str]
    errors: list[BillingRunErrorOut]


@router.post("/billing-runs", response={201: BillingRunOut})
def create_billing_run(request, data: BillingRunIn):
    services.require_billing(request.auth)
    summary = schedules.billing_run(today=data.today or timezone.localdate(), actor=request.auth)
    return Status(201, summary.as_dict())
