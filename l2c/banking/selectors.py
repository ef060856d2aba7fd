"""Banking reads. Bank statements are finance data: finance and admin see all of them, sales roles none (403)."""
from __future__ import annotations

from django.db.models import Count, Q
from django.utils.translation import gettext as _

from l2c.core.errors import NotFound
from l2c.core.validation import as_id

from .models import BankStatement, BankStatementLine, LineStatus
from .services import require_banking


def statement_list(*, user, status: str | None = None):
    """Statements, newest first, with line counts per status; `status="open"`: those with unmatched lines."""
    require_banking(user)
    qs = BankStatement.objects.select_related("imported_by").annotate(
        lines_count=Count("lines"),
        unmatched_count=Count("lines", filter=Q(lines__status=LineStatus.UNMATCHED)),
        matched_count=Count("lines", filter=Q(lines__status=LineStatus.MATCHED)),
        ignored_count=Count("lines", filter=Q(lines__status=LineStatus.IGNORED)),
    )
    if status == "open":
        qs = qs.filter(unmatched_count__gt=0)
    return qs.order_by("-created_at", "-id")


def statement_get(*, user, pk) -> BankStatement:
    statement = statement_list(user=user).filter(pk=as_id(pk) or 0).first()
    if statement is None:
        raise NotFound(_("No bank statement with id %(id)s.") % {"id": pk})
    return statement


def statement_lines(statement: BankStatement):
    from django.db.models import Prefetch

    from l2c.billing.models import Invoice

    return (statement.lines.select_related("payment", "decided_by")
            .prefetch_related(Prefetch("candidates", queryset=Invoice.objects.select_related("account")),
                              "payment__allocations__invoice").order_by("position"))


def line_get(*, user, statement_id, line_id) -> BankStatementLine:
    require_banking(user)
    line = (BankStatementLine.objects.select_related("statement", "payment")
            .filter(pk=as_id(line_id) or 0, statement_id=as_id(statement_id) or 0).first())
    if line is None:
        raise NotFound(_("No line %(line)s on bank statement %(id)s.") % {"line": line_id, "id": statement_id})
    return line


def matched_invoices(line: BankStatementLine) -> list:
    """The invoices a matched line paid (through its payment's allocations)."""
    if line.payment_id is None:
        return []
    return [allocation.invoice for allocation in line.payment.allocations.all()]
