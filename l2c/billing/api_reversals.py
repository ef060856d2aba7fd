"""API route of payment reversal: POST /payments/{id}/reverse {"reason", "date"} (finance or admin; 403 for the
rest, 404 for a payment the user may not see). 409 `already_reversed` for a second reversal, 422 naming the field
for the rest (`reason` required, `date` before the payment or in a locked period, `payment` when an invoice is
void/written off or the payment's credit was applied since).

Register in l2c/api.py: `api.add_router("/", billing_reversals_router)` with
`from l2c.billing.api_reversals import router as billing_reversals_router` (before or after the billing router;
the path does not clash).
"""

import datetime as dt

from ninja import Field, Router

from l2c.customers.api import StrictSchema

from . import reversals, selectors, services
from .api import PaymentOut

router = Router(tags=["billing"])


class ReverseIn(StrictSchema):
    reason: str = Field("", max_length=services.MAX_REASON, description="Why: recorded in error, bounced, …")
    date: dt.date | None = Field(None, description="Date of the reversing entry; default today (or the "
                                                   "payment's date if later). Must lie in an open period.")


class ReversedPaymentOut(PaymentOut):
    is_reversed: bool
    reversed_at: dt.datetime | None
    reversal_date: dt.date | None
    reversed_by_id: int | None
    reversal_reason: str
    reversal_entry_id: int | None


@router.post("/payments/{int:payment_id}/reverse", response=ReversedPaymentOut)
def reverse_payment(request, payment_id: int, data: ReverseIn):
    payment = selectors.payment_get(user=request.auth, pk=payment_id)
    services.require_billing(request.auth)
    reversals.payment_reverse(actor=request.auth, payment=payment, reason=data.reason, date=data.date)
    return selectors.payment_get(user=request.auth, pk=payment_id)
