"""Unmatching a bank statement line matched to the wrong invoice (by hand or automatically alike).

The payment the match recorded is reversed (`billing.reversals.payment_reverse`: invoices open again, the
ledger entry mirrored, dated the reversal date) and the line goes back to unmatched, with a review note
naming the reversed payment and the reason, so it shows on the statement's review screen again.
"""
from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from l2c.core import audit
from l2c.core.errors import FieldError, InvalidTransition, ValidationFailed

from .models import BankStatementLine, LineStatus
from .services import require_banking

LINE_FIELDS = ["status", "match_method", "payment", "review_note"]


def can_unmatch(user, line: BankStatementLine) -> bool:
    """For the UI: finance/admin, and the line is matched."""
    from .services import can_bank

    return can_bank(user) and line.status == LineStatus.MATCHED


@transaction.atomic
def bank_line_unmatch(*, actor, line: BankStatementLine, reason: str,
                      date: dt.date | None = None) -> BankStatementLine:
    """Reverse the payment a matched line recorded and put the line back to unmatched for review."""
    from l2c.billing import reversals

    require_banking(actor)
    line = BankStatementLine.objects.select_for_update().get(pk=line.pk)
    if line.status != LineStatus.MATCHED:
        raise InvalidTransition(_("Only a matched line can be unmatched; line %(n)s is %(status)s.")
                                % {"n": line.position, "status": line.get_status_display().lower()},
                                code="not_matched")
    payment = line.payment
    try:
        reversals.payment_reverse(actor=actor, payment=payment, reason=reason, date=date)
    except ValidationFailed as exc:  # the payment's errors, said of this line
        raise ValidationFailed([FieldError(e.field if e.field in ("reason", "date") else "line", e.message, e.code)
                                for e in exc.errors]) from exc
    payment.refresh_from_db()
    before = audit.snapshot(line, LINE_FIELDS)
    line.status, line.match_method, line.payment = LineStatus.UNMATCHED, "", None
    line.review_note = (_("Unmatched on %(when)s: payment %(n)s reversed (%(why)s). Match it again.")
                        % {"when": timezone.localdate().isoformat(), "n": payment.number,
                           "why": payment.reversal_reason})[:2000]
    line.decided_by, line.decided_at = actor, timezone.now()
    line.save(update_fields=[*LINE_FIELDS, "decided_by", "decided_at"])
    changes = audit.diff(before, audit.snapshot(line, LINE_FIELDS))
    changes["reversed_payment"] = [payment.number, None]
    audit.record(actor=actor, action=audit.Action.TRANSITION, instance=line, changes=changes)
    return line
