"""API route of unmatching a bank line: POST /bank-statements/{sid}/lines/{lid}/unmatch {"reason"} (finance or
admin; 403 for the rest). The payment the match recorded is reversed and the line is unmatched again; 409
`not_matched` for a line that is not matched, 422 naming the field otherwise (`reason` required, `date` in a
locked period, `line` when the payment cannot be reversed, e.g. its credit was applied since).

Register in l2c/api.py: `api.add_router("/", banking_unmatch_router)` with
`from l2c.banking.api_unmatch import router as banking_unmatch_router`.
"""

import datetime as dt

from ninja import Field, Router

from l2c.customers.api import StrictSchema

from . import selectors
from .api import LineOut
from .services import require_banking
from .unmatch import bank_line_unmatch

router = Router(tags=["banking"])


class UnmatchIn(StrictSchema):
    reason: str = Field("", max_length=2000, description="Why the match was wrong")
    date: dt.date | None = Field(None, description="Date of the payment's reversing entry; default today")


@router.post("/bank-statements/{int:statement_id}/lines/{int:line_id}/unmatch", response=LineOut)
def unmatch_line(request, statement_id: int, line_id: int, data: UnmatchIn):
    require_banking(request.auth)
    line = selectors.line_get(user=request.auth, statement_id=statement_id, line_id=line_id)
    bank_line_unmatch(actor=request.auth, line=line, reason=data.reason, date=data.date)
    return selectors.line_get(user=request.auth, statement_id=statement_id, line_id=line_id)
