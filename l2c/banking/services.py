"""Banking writes: import a statement file, match its incoming lines to invoices, and the review decisions.

Finance and admin only (anyone else gets 403). An import is all or nothing: a bad file raises before anything
is written, and the same file (by SHA-256) is never imported twice. Matching records the money through
`billing.services.payment_record` (method bank_transfer), so the ledger gets Dr 1000 Bank / Cr 1100 AR and an
amount above the invoice's balance stays as the customer's credit (Cr 2300).

Automatic matching, for each incoming unmatched line:
  1. invoice numbers (INV-2026-000123) in the reference or end-to-end id → those invoices, if open and in the
     line's currency (several numbers: settled in the order written, each up to its balance);
  2. else the counterparty name, fuzzy-matched (rapidfuzz) to the customers that have open invoices in the
     line's currency, and an open invoice of theirs whose balance equals the amount exactly.
A line that fits two invoices is not matched: it keeps both as candidates with the reason, for review.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from l2c.core import audit
from l2c.core.errors import Conflict, DomainError, FieldError, InvalidTransition, ValidationFailed
from l2c.core.money import round_money

from .models import BankStatement, BankStatementLine, LineStatus, MatchMethod
from .parsers import parse_statement

INVOICE_NUMBER = re.compile(r"\bINV[-\s]?(\d{4})[-\s]?(\d{1,9})\b", re.IGNORECASE)
NAME_CUTOFF = 88  # rapidfuzz score (0–100) from which a counterparty name counts as the customer's
MAX_CANDIDATES = 10
LEGAL_FORMS = {"ltd", "limited", "gmbh", "inc", "llc", "co", "corp", "corporation", "company", "sa", "ag", "bv",
               "nv", "plc", "srl", "sarl", "spa", "oy", "ab", "as", "kg", "the", "有限公司", "股份有限公司"}


def _billing():
    from l2c.billing import services as billing  # banking → billing, along the flow

    return billing


def can_bank(user) -> bool:
    """Finance and admin import statements and match them."""
    return _billing().can_bill(user)


def require_banking(actor) -> None:
    if not can_bank(actor):
        from l2c.core.errors import PermissionDenied

        raise PermissionDenied(_("Only finance or an admin may work with bank statements."))


# --- import -----------------------------------------------------------------------------------------

def statement_import(*, actor, file_name: str, data: bytes, mapping: dict | None = None,
                     auto_match: bool = True) -> BankStatement:
    """Read a camt.053 or CSV file (with `mapping`), store the statement and its lines, then match them."""
    require_banking(actor)
    digest = hashlib.sha256(data or b"").hexdigest()
    _refuse_duplicate(digest)
    parsed = parse_statement(data or b"", file_name=file_name or "", mapping=mapping)
    try:
        with transaction.atomic():
            statement = BankStatement.objects.create(
                account_name=parsed.account_name, iban=parsed.iban, statement_id=parsed.statement_id,
                currency=parsed.currency, period_start=parsed.period_start, period_end=parsed.period_end,
                opening_balance=parsed.opening_balance, closing_balance=parsed.closing_balance,
                file_name=(file_name or "statement")[:255], file_format=parsed.file_format, file_sha256=digest,
                imported_by=actor)
            BankStatementLine.objects.bulk_create([
                BankStatementLine(statement=statement, position=position, booking_date=line.booking_date,
                                  value_date=line.value_date, amount=line.amount, currency=line.currency,
                                  counterparty_name=line.counterparty_name,
                                  counterparty_account=line.counterparty_account, reference=line.reference,
                                  end_to_end_id=line.end_to_end_id, bank_reference=line.bank_reference)
                for position, line in enumerate(parsed.lines, start=1)])
            audit.record(actor=actor, action=audit.Action.CREATE, instance=statement)
    except IntegrityError:  # the same file imported at the same moment by someone else
        _refuse_duplicate(digest)
        raise
    if auto_match:
        statement_match(actor=actor, statement=statement)
    return statement


def _refuse_duplicate(digest: str) -> None:
    earlier = BankStatement.objects.filter(file_sha256=digest).first()
    if earlier is not None:
        raise Conflict(_("This file was already imported on %(when)s as statement #%(id)s (%(name)s).")
                       % {"when": timezone.localtime(earlier.created_at).strftime("%Y-%m-%d %H:%M"),
                          "id": earlier.pk, "name": earlier.file_name}, code="duplicate_file")


# --- automatic matching -----------------------------------------------------------------------------

@dataclass
class Proposal:
    """What matching found for a line: allocations to apply, or candidates and the reason for review."""

    method: str = ""
    allocations: list[tuple] = field(default_factory=list)  # [(invoice, amount)]
    candidates: list = field(default_factory=list)
    reason: str = ""


def invoice_numbers(text: str) -> list[str]:
    """Invoice numbers written in a text, normalised to INV-YYYY-NNNNNN, in order, without repeats."""
    found: list[str] = []
    for year, serial in INVOICE_NUMBER.findall(text or ""):
        number = f"INV-{year}-{int(serial):06d}"
        if number not in found:
            found.append(number)
    return found


def _normal_name(name: str) -> str:
    words = re.sub(r"[^\w\s]", " ", (name or "").lower()).split()
    return " ".join(w for w in words if w not in LEGAL_FORMS)


def _name_score(a: str, b: str) -> float:
    from rapidfuzz import fuzz

    left, right = _normal_name(a), _normal_name(b)
    if not left or not right:
        return 0.0
    return max(fuzz.ratio(left, right), fuzz.token_sort_ratio(left, right))


def _open_invoices():
    from l2c.billing.models import Invoice

    return Invoice.objects.filter(status__in=_billing().OPEN_STATUSES).select_related("account")


def _money(value: Decimal, currency: str) -> str:
    return f"{round_money(value, currency):,} {currency}"


def propose(line: BankStatementLine) -> Proposal:
    """Matching rules 1 and 2 for one incoming line; writes nothing."""
    if line.amount <= 0:
        return Proposal(reason=_("Outgoing payment: not matched to invoices."))
    numbers = invoice_numbers(f"{line.reference} {line.end_to_end_id}")
    if numbers:
        proposal = _by_invoice_number(line, numbers)
        if proposal is not None:
            return proposal
    return _by_amount_and_customer(line)


def _by_invoice_number(line, numbers: list[str]) -> Proposal | None:
    """Rule 1; None when none of the numbers is a known invoice (rule 2 then tries)."""
    from l2c.billing.models import Invoice

    invoices = {inv.number: inv for inv in Invoice.objects.filter(number__in=numbers).select_related("account")}
    if not invoices:
        return None
    problems, usable = [], []
    for number in numbers:
        invoice = invoices.get(number)
        if invoice is None:
            problems.append(_("%(n)s does not exist") % {"n": number})
        elif not invoice.is_open:
            problems.append(_("%(n)s is %(status)s") % {"n": number, "status": invoice.get_status_display()})
        elif invoice.currency != line.currency:
            problems.append(_("%(n)s is in %(inv)s, the line in %(line)s")
                            % {"n": number, "inv": invoice.currency, "line": line.currency})
        else:
            usable.append(invoice)
    if not usable:
        return Proposal(candidates=list(invoices.values()),
                        reason=_("The reference names %(numbers)s, but %(problems)s.")
                        % {"numbers": ", ".join(numbers), "problems": "; ".join(problems)})
    if len({inv.account_id for inv in usable}) > 1:
        return Proposal(candidates=usable, reason=_("The reference names invoices of different customers (%(n)s); "
                                                    "match by hand.") % {"n": ", ".join(i.number for i in usable)})
    remaining, allocations = line.amount, []
    for invoice in usable:
        amount = min(invoice.balance, remaining)
        if amount > 0:
            allocations.append((invoice, amount))
            remaining -= amount
    return Proposal(method=MatchMethod.INVOICE_NUMBER, allocations=allocations)


def _customers_named(name: str, currency: str) -> list[int]:
    """Ids of customers with open invoices in `currency` whose name matches `name` (best first)."""
    if not _normal_name(name):
        return []
    accounts = dict(_open_invoices().filter(currency=currency).values_list("account_id", "account__name").distinct())
    scored = sorted(((score, pk) for pk, account_name in accounts.items()
                     if (score := _name_score(name, account_name)) >= NAME_CUTOFF), reverse=True)
    return [pk for _score, pk in scored]


def _by_amount_and_customer(line) -> Proposal:
    """Rule 2: customer by counterparty name, invoice by its exact balance."""
    customers = _customers_named(line.counterparty_name, line.currency)
    exact = list(_open_invoices().filter(currency=line.currency, balance=line.amount).order_by("due_date", "id"))
    if customers:
        mine = [inv for inv in exact if inv.account_id in customers]
        if len(mine) == 1:
            return Proposal(method=MatchMethod.AMOUNT_CUSTOMER, allocations=[(mine[0], line.amount)])
        if len(mine) > 1:
            return Proposal(candidates=mine[:MAX_CANDIDATES], reason=_(
                "Ambiguous: %(count)d open invoices of %(customer)s have a balance of exactly %(amount)s "
                "(%(numbers)s) and the reference names none of them; choose one.")
                % {"count": len(mine), "customer": mine[0].account.name, "amount": _money(line.amount, line.currency),
                   "numbers": ", ".join(inv.number for inv in mine)})
        theirs = list(_open_invoices().filter(currency=line.currency, account_id__in=customers)
                      .order_by("due_date", "id")[:MAX_CANDIDATES])
        return Proposal(candidates=theirs, reason=_(
            "%(name)s looks like a customer, but none of their open invoices has a balance of exactly %(amount)s.")
            % {"name": line.counterparty_name, "amount": _money(line.amount, line.currency)})
    if exact:
        return Proposal(candidates=exact[:MAX_CANDIDATES], reason=_(
            "No invoice number in the reference and no customer named %(name)r; open invoices with this balance "
            "are suggested.") % {"name": line.counterparty_name})
    return Proposal(reason=_("No invoice number in the reference, and no open invoice of a customer named %(name)r "
                             "for %(amount)s.")
                    % {"name": line.counterparty_name, "amount": _money(line.amount, line.currency)})


def statement_match(*, actor, statement: BankStatement) -> dict[str, int]:
    """Run automatic matching over a statement's unmatched incoming lines; {"matched": n, "review": m}."""
    require_banking(actor)
    counts = {"matched": 0, "review": 0}
    ids = list(statement.lines.filter(status=LineStatus.UNMATCHED, amount__gt=0).order_by("position")
               .values_list("pk", flat=True))
    for pk in ids:
        line = line_auto_match(actor=actor, line=BankStatementLine(pk=pk))
        counts["matched" if line.status == LineStatus.MATCHED else "review"] += 1
    return counts


def line_auto_match(*, actor, line: BankStatementLine) -> BankStatementLine:
    """Apply the matching rules to one unmatched line: match it, or store candidates and the reason."""
    require_banking(actor)
    with transaction.atomic():
        line = BankStatementLine.objects.select_for_update().get(pk=line.pk)
        if line.status != LineStatus.UNMATCHED:
            return line
        proposal = propose(line)
        if proposal.allocations:
            try:
                with transaction.atomic():
                    return _apply(actor=actor, line=line, allocations=proposal.allocations, method=proposal.method)
            except DomainError as exc:  # e.g. a missing exchange rate or a locked period: left for review
                proposal = Proposal(candidates=[inv for inv, _amt in proposal.allocations],
                                    reason=_("Could not record the payment: %(error)s") % {"error": _error_text(exc)})
        line.review_note = proposal.reason[:2000]
        line.save(update_fields=["review_note"])
        line.candidates.set([inv.pk for inv in proposal.candidates])
        return line


def _error_text(exc: DomainError) -> str:
    return "; ".join(str(e.message) for e in exc.errors) if exc.errors else exc.message


def _apply(*, actor, line: BankStatementLine, allocations: list[tuple], method: str) -> BankStatementLine:
    """Record the payment for a locked, unmatched line and mark the line matched."""
    reference = (line.reference or line.end_to_end_id or line.bank_reference)[:_billing().MAX_REFERENCE]
    payment = _billing().payment_record(
        actor=actor, account=allocations[0][0].account, date=line.booking_date, method="bank_transfer",
        currency=line.currency, amount=line.amount, reference=reference, allocations=allocations)
    before = audit.snapshot(line, ["status", "match_method", "payment", "review_note"])
    line.status, line.match_method, line.payment = LineStatus.MATCHED, method, payment
    line.review_note, line.decided_by, line.decided_at = "", actor, timezone.now()
    line.save(update_fields=["status", "match_method", "payment", "review_note", "decided_by", "decided_at"])
    line.candidates.clear()
    audit.record(actor=actor, action=audit.Action.TRANSITION, instance=line,
                 changes=audit.diff(before, audit.snapshot(line, ["status", "match_method", "payment", "review_note"])))
    return line


# --- review decisions -------------------------------------------------------------------------------

def _lock_line(line: BankStatementLine) -> BankStatementLine:
    return BankStatementLine.objects.select_for_update().select_related("statement").get(pk=line.pk)


@transaction.atomic
def line_match(*, actor, line: BankStatementLine, invoice, amount=None) -> BankStatementLine:
    """Match a line by hand: pay `amount` (default: as much of the line as the invoice's balance takes) of
    the invoice from it; the rest of the line stays as the customer's credit."""
    require_banking(actor)
    line = _lock_line(line)
    if line.status != LineStatus.UNMATCHED:
        raise InvalidTransition(_("This line is already %(status)s.") % {"status": line.get_status_display()})
    errors: list[FieldError] = []
    if line.amount <= 0:
        raise ValidationFailed.single("line", _("An outgoing payment cannot be matched to an invoice."), "outgoing")
    if invoice is None:
        raise ValidationFailed.single("invoice", _("Choose an invoice."), "required")
    if amount in (None, ""):
        amount = min(line.amount, invoice.balance) if invoice.balance > 0 else line.amount
    else:
        try:
            amount = Decimal(str(amount))
        except Exception:
            raise ValidationFailed.single("amount", _("%(value)r is not an amount.") % {"value": amount},
                                          "invalid") from None
        if amount.is_finite() and amount > line.amount:
            errors.append(FieldError("amount", _("The line brings only %(amount)s.")
                                     % {"amount": _money(line.amount, line.currency)}, "exceeds_line"))
    if errors:
        raise ValidationFailed(errors)
    try:
        return _apply(actor=actor, line=line, allocations=[(invoice, amount)], method=MatchMethod.MANUAL)
    except ValidationFailed as exc:
        raise ValidationFailed([FieldError(_field_of(e.field), e.message, e.code) for e in exc.errors]) from exc


def _field_of(name: str) -> str:
    if name.startswith("allocations.0."):
        return name.removeprefix("allocations.0.")
    return name if name in ("amount", "invoice", "date", "currency") else "invoice"


@transaction.atomic
def line_ignore(*, actor, line: BankStatementLine, note: str = "") -> BankStatementLine:
    """Set an unmatched line aside (bank fees, own transfers, …)."""
    require_banking(actor)
    line = _lock_line(line)
    if line.status != LineStatus.UNMATCHED:
        raise InvalidTransition(_("Only an unmatched line can be ignored; this one is %(status)s.")
                                % {"status": line.get_status_display()})
    line.status, line.decided_by, line.decided_at = LineStatus.IGNORED, actor, timezone.now()
    if (note or "").strip():
        line.review_note = note.strip()[:2000]
    line.save(update_fields=["status", "decided_by", "decided_at", "review_note"])
    audit.record(actor=actor, action=audit.Action.TRANSITION, instance=line,
                 changes={"status": [LineStatus.UNMATCHED, LineStatus.IGNORED]})
    return line


@transaction.atomic
def line_restore(*, actor, line: BankStatementLine) -> BankStatementLine:
    """Bring an ignored line back to review (nothing was booked for it, so this reverses cleanly)."""
    require_banking(actor)
    line = _lock_line(line)
    if line.status != LineStatus.IGNORED:
        raise InvalidTransition(_("Only an ignored line can be brought back; this one is %(status)s.")
                                % {"status": line.get_status_display()})
    line.status, line.decided_by, line.decided_at = LineStatus.UNMATCHED, actor, timezone.now()
    line.save(update_fields=["status", "decided_by", "decided_at"])
    audit.record(actor=actor, action=audit.Action.TRANSITION, instance=line,
                 changes={"status": [LineStatus.IGNORED, LineStatus.UNMATCHED]})
    return line
