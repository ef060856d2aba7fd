"""Every write of the ledger: posting and reversing entries, locking periods, the chart of accounts and the
exchange rates. Each validates, runs in one transaction and writes its audit event.

Posting (`post_entry`) is the one way into the books. Billing and revenue call it with a source document
(`source_type="billing.invoice"`, `source_id`, `source_label`); their own services have checked who may act.
A manual entry (no source) is for finance and admin only. `actor=None` is system work (Celery jobs).

Numbers: gapless per journal and year, `JE-<JOURNAL>-<year>-<000001>` (core.numbering series "JE-<JOURNAL>"),
taken inside the posting transaction so a rolled-back posting gives its number back.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from l2c.core import audit
from l2c.core.bulk import allocate_ids, insert_objects, insert_rows
from l2c.core.errors import Conflict, FieldError, NotFound, PermissionDenied, ValidationFailed
from l2c.core.models import CompanyProfile
from l2c.core.money import minor_units, round_money
from l2c.core.numbering import format_number, next_values
from l2c.core.validation import as_id, is_iso_currency

from . import totals
from .models import (
    AR,
    NORMAL_BALANCE_OF,
    AccountType,
    ExchangeRate,
    Journal,
    JournalEntry,
    JournalLine,
    LedgerAccount,
    NormalBalance,
    Period,
)

ZERO = Decimal(0)
MAX_AMOUNT = Decimal("1e17")  # DecimalField(max_digits=20, decimal_places=2) holds up to 10**18 - 0.01


# --- who may act ------------------------------------------------------------------------------------

def can_use_ledger(user) -> bool:
    """Finance and admin see and keep the books; sales roles do not."""
    return bool(getattr(user, "is_authenticated", False) and user.is_active
                and (getattr(user, "is_admin", False) or getattr(user, "is_finance", False)))


def require_ledger_user(actor) -> None:
    if actor is None:
        return  # system work
    if not can_use_ledger(actor):
        raise PermissionDenied(_("Only finance and admin users can use the ledger."))


def require_admin(actor) -> None:
    if actor is not None and not getattr(actor, "is_admin", False):
        raise PermissionDenied(_("Only an admin can unlock a period."))


def company_currency() -> str:
    return CompanyProfile.get().currency


# --- exchange rates ---------------------------------------------------------------------------------

def rate_for(currency: str, on_date: dt.date) -> Decimal:
    """Units of the company currency per unit of `currency`: the latest rate on or before `on_date`.

    The company currency is 1. A missing rate is a ValidationFailed naming the currency and the date."""
    if currency == company_currency():
        return Decimal(1)
    if not is_iso_currency(currency):
        raise ValidationFailed.single("currency", _("%(value)r is not an ISO 4217 currency code.")
                                      % {"value": currency}, "invalid_currency")
    rate = (ExchangeRate.objects.filter(currency=currency, date__lte=on_date).order_by("-date")
            .values_list("rate", flat=True).first())
    if rate is None:
        raise ValidationFailed.single(
            "rate", _("No exchange rate for %(currency)s on or before %(date)s: enter one under Ledger → "
                      "Exchange rates.") % {"currency": currency, "date": on_date.isoformat()}, "rate_missing")
    return rate


def _rate_errors(currency, date, rate, prefix: str = "") -> tuple[list[FieldError], dict]:
    errors: list[FieldError] = []
    values: dict = {}
    currency = (currency or "").strip().upper()
    if not is_iso_currency(currency):
        errors.append(FieldError(f"{prefix}currency", _("%(value)r is not an ISO 4217 currency code.")
                                 % {"value": currency}, "invalid_currency"))
    elif currency == company_currency():
        errors.append(FieldError(f"{prefix}currency", _("The company currency %(currency)s always has the rate 1.")
                                 % {"currency": currency}, "company_currency"))
    values["currency"] = currency
    if isinstance(date, dt.datetime):
        date = date.date()
    if not isinstance(date, dt.date):
        try:
            date = dt.date.fromisoformat(str(date).strip())
        except ValueError:
            errors.append(FieldError(f"{prefix}date", _("Enter a date as YYYY-MM-DD."), "invalid"))
    values["date"] = date
    try:
        if isinstance(rate, float):
            raise InvalidOperation
        value = Decimal(str(rate).strip()) if rate is not None else None
        if value is None or not value.is_finite():
            raise InvalidOperation
    except (InvalidOperation, ValueError):
        errors.append(FieldError(f"{prefix}rate", _("Enter the rate as a decimal number, e.g. 7.1234."), "invalid"))
    else:
        if value <= 0:
            errors.append(FieldError(f"{prefix}rate", _("The rate must be greater than zero."), "not_positive"))
        elif value.as_tuple().exponent < -10 or value >= Decimal("1e14"):
            errors.append(FieldError(f"{prefix}rate", _("At most 14 digits before and 10 after the decimal point."),
                                     "too_precise"))
        values["rate"] = value
    return errors, values


def _store_rate(actor, values: dict) -> ExchangeRate:
    existing = ExchangeRate.objects.select_for_update().filter(currency=values["currency"], date=values["date"]).first()
    if existing is None:
        rate = ExchangeRate.objects.create(created_by=actor, **values)
        audit.record(actor=actor, action=audit.Action.CREATE, instance=rate)
        return rate
    before = audit.snapshot(existing)
    existing.rate = values["rate"]
    existing.save(update_fields=["rate", "updated_at"])
    audit.record(actor=actor, action=audit.Action.UPDATE, instance=existing, before=before)
    return existing


@transaction.atomic
def rate_set(*, actor, currency: str, date, rate) -> ExchangeRate:
    """Enter the rate of `currency` on `date` (replaces that day's rate; entries keep the rate they used)."""
    require_ledger_user(actor)
    errors, values = _rate_errors(currency, date, rate)
    if errors:
        raise ValidationFailed(errors)
    return _store_rate(actor, values)


@transaction.atomic
def rates_import(*, actor, text: str) -> int:
    """Import rates from CSV text with the header `currency,date,rate` (any order). All rows or none:
    a bad row is reported as `row N: field` and nothing is stored. Returns the number of rows stored."""
    require_ledger_user(actor)
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [(name or "").strip().lower() for name in (reader.fieldnames or [])]
    missing = [name for name in ("currency", "date", "rate") if name not in header]
    if missing:
        raise ValidationFailed.single("file", _("The CSV needs the columns currency, date and rate; missing: "
                                                "%(names)s.") % {"names": ", ".join(missing)}, "missing_columns")
    reader.fieldnames = header
    errors: list[FieldError] = []
    rows: list[dict] = []
    for number, row in enumerate(reader, start=2):  # row 1 is the header
        if not any((value or "").strip() for value in row.values() if isinstance(value, str)):
            continue
        problems, values = _rate_errors(row.get("currency"), row.get("date"), row.get("rate"),
                                        prefix=f"row {number}: ")
        errors += problems
        rows.append(values)
    if not rows and not errors:
        raise ValidationFailed.single("file", _("The CSV holds no rates."), "empty")
    if errors:
        raise ValidationFailed(errors)
    for values in rows:
        _store_rate(actor, values)
    return len(rows)


# --- chart of accounts ------------------------------------------------------------------------------

ACCOUNT_FIELDS = ("code", "name", "type", "normal_balance", "is_active", "is_control", "description")


def _account_errors(values: dict, *, account: LedgerAccount | None) -> list[FieldError]:
    from l2c.core.validation import check_max_lengths

    errors = check_max_lengths(LedgerAccount, values)
    for name in ("code", "name"):
        if name in values:
            values[name] = (values[name] or "").strip()
            if not values[name]:
                errors.append(FieldError(name, _("This field is required."), "required"))
    code = values.get("code")
    if code and (not code.isascii() or not code.replace("-", "").replace(".", "").isalnum()):
        errors.append(FieldError("code", _("Use letters, digits, dots and dashes only."), "invalid"))
    elif code and LedgerAccount.objects.filter(code=code).exclude(pk=getattr(account, "pk", None)).exists():
        errors.append(FieldError("code", _("Another account has the code %(code)s.") % {"code": code}, "duplicate"))
    if "type" in values and values["type"] not in AccountType.values:
        errors.append(FieldError("type", _("Choose one of: %(choices)s.") % {"choices": ", ".join(AccountType.values)},
                                 "invalid_choice"))
    if values.get("normal_balance") not in (None, *NormalBalance.values):
        errors.append(FieldError("normal_balance", _("Choose debit or credit."), "invalid_choice"))
    if account is not None and account.lines.exists():
        for name in ("code", "type", "normal_balance", "is_control"):
            if name in values and values[name] != getattr(account, name):
                errors.append(FieldError(name, _("This account has postings: its %(field)s cannot change "
                                                 "(rename or deactivate it, or open a new account).")
                                         % {"field": name.replace("_", " ")}, "has_postings"))
    return errors


@transaction.atomic
def account_create(*, actor, code: str, name: str, type: str, normal_balance: str | None = None,
                   is_active: bool = True, is_control: bool = False, description: str = "") -> LedgerAccount:
    """Add an account to the chart; `normal_balance` defaults from the type (assets and expenses: debit)."""
    require_ledger_user(actor)
    values = dict(code=code, name=name, type=type, normal_balance=normal_balance, is_active=is_active,
                  is_control=is_control, description=(description or "").strip())
    errors = _account_errors(values, account=None)
    if errors:
        raise ValidationFailed(errors)
    if not values["normal_balance"]:
        values["normal_balance"] = NORMAL_BALANCE_OF[AccountType(values["type"])]
    account = LedgerAccount.objects.create(**values)
    audit.record(actor=actor, action=audit.Action.CREATE, instance=account)
    return account


@transaction.atomic
def account_update(*, actor, account: LedgerAccount, **values) -> LedgerAccount:
    """Rename, describe, (de)activate an account; code, type, balance side and control flag only while
    it has no postings."""
    require_ledger_user(actor)
    unknown = sorted(set(values) - set(ACCOUNT_FIELDS))
    if unknown:
        raise ValidationFailed([FieldError(f, _("This field cannot be set here."), "unknown_field") for f in unknown])
    account = LedgerAccount.objects.select_for_update().get(pk=account.pk)
    if values.get("normal_balance") is None:
        values.pop("normal_balance", None)
    errors = _account_errors(values, account=account)
    if errors:
        raise ValidationFailed(errors)
    before = audit.snapshot(account)
    for name, value in values.items():
        setattr(account, name, value)
    account.save()
    audit.record(actor=actor, action=audit.Action.UPDATE, instance=account, before=before)
    return account


@transaction.atomic
def account_delete(*, actor, account: LedgerAccount) -> None:
    """Remove an account that was never posted to (one with postings is deactivated instead)."""
    require_ledger_user(actor)
    account = LedgerAccount.objects.select_for_update().get(pk=account.pk)
    if account.lines.exists():
        raise Conflict(_("Account %(account)s has postings and cannot be deleted; deactivate it instead.")
                       % {"account": account}, code="has_postings")
    audit.record(actor=actor, action=audit.Action.DELETE, instance=account, changes={"code": [account.code, None]})
    account.delete()


# --- periods ----------------------------------------------------------------------------------------

def _check_month(year, month) -> tuple[int, int]:
    errors = []
    if not isinstance(year, int) or isinstance(year, bool) or not 1900 <= year <= 9999:
        errors.append(FieldError("year", _("Enter a year from 1900 to 9999."), "invalid"))
    if not isinstance(month, int) or isinstance(month, bool) or not 1 <= month <= 12:
        errors.append(FieldError("month", _("Enter a month from 1 to 12."), "invalid"))
    if errors:
        raise ValidationFailed(errors)
    return year, month


def _period_row(year: int, month: int) -> Period:
    """The month's row, created on first use (concurrent creators meet at the unique constraint)."""
    period = Period.objects.filter(year=year, month=month).first()
    if period is None:
        try:
            with transaction.atomic():
                period = Period.objects.create(year=year, month=month)
        except IntegrityError:
            period = Period.objects.get(year=year, month=month)
    return period


def locked_message(period: Period) -> str:
    who = period.locked_by or _("someone")
    when = timezone.localtime(period.locked_at).strftime("%Y-%m-%d %H:%M") if period.locked_at else "?"
    return _("The period %(period)s is locked (locked by %(who)s on %(when)s): nothing can be posted into it. "
             "Post into an open period, or ask an admin to unlock %(period)s.") % {
        "period": period.label, "who": who, "when": when}


def _require_open_period(date: dt.date) -> Period:
    """Hold the month open for this transaction: on PostgreSQL a shared row lock, which a concurrent
    `period_lock` (FOR UPDATE) waits for; on SQLite the write lock serialises both."""
    period = _period_row(date.year, date.month)
    conn = transaction.get_connection()
    if conn.vendor == "postgresql":
        with conn.cursor() as cursor:
            cursor.execute(f"SELECT is_locked FROM {Period._meta.db_table} WHERE id = %s FOR SHARE", [period.pk])
            locked = cursor.fetchone()[0]
    else:
        locked = Period.objects.filter(pk=period.pk).values_list("is_locked", flat=True).get()
    if locked:
        period.refresh_from_db()
        raise ValidationFailed.single("date", locked_message(period), "period_locked")
    return period


def is_period_locked(date: dt.date) -> bool:
    return Period.objects.filter(year=date.year, month=date.month, is_locked=True).exists()


@transaction.atomic
def period_lock(*, actor, year: int, month: int) -> Period:
    """Lock a month: no entry can be posted into it afterwards. Finance or admin."""
    require_ledger_user(actor)
    year, month = _check_month(year, month)
    period = Period.objects.select_for_update().get(pk=_period_row(year, month).pk)
    if period.is_locked:
        raise Conflict(_("The period %(period)s is already locked.") % {"period": period.label}, code="already_locked")
    period.is_locked, period.locked_at, period.locked_by = True, timezone.now(), actor
    period.save(update_fields=["is_locked", "locked_at", "locked_by"])
    audit.record(actor=actor, action=audit.Action.TRANSITION, instance=period,
                 changes={"is_locked": [False, True]})
    return period


@transaction.atomic
def period_unlock(*, actor, year: int, month: int) -> Period:
    """Unlock a month again. Admin only; audited."""
    require_ledger_user(actor)
    require_admin(actor)
    year, month = _check_month(year, month)
    period = Period.objects.select_for_update().filter(year=year, month=month).first()
    if period is None or not period.is_locked:
        raise Conflict(_("The period %(period)s is not locked.") % {"period": f"{year:04d}-{month:02d}"},
                       code="not_locked")
    period.is_locked, period.locked_at, period.locked_by = False, None, None
    period.save(update_fields=["is_locked", "locked_at", "locked_by"])
    audit.record(actor=actor, action=audit.Action.TRANSITION, instance=period,
                 changes={"is_locked": [True, False]})
    return period


# --- posting ----------------------------------------------------------------------------------------

@dataclass
class Line:
    """One line to post. `debit`/`credit` are company-currency amounts (give one, not both).

    A line in a foreign `currency`: give `amount` (that currency, same side) with the company amount in
    debit/credit — or leave `amount` None and give debit/credit in the foreign currency: the ledger converts
    them at `rate` (default: `rate_for(currency, date)`) and puts a rounding difference of a cent or so on
    the largest converted line, so an entry balanced in the foreign currency balances in the company's.
    """

    account: str
    debit: Decimal = ZERO
    credit: Decimal = ZERO
    currency: str = ""
    amount: Decimal | None = None
    rate: Decimal | None = None
    customer: object = None
    description: str = ""


@dataclass
class _Prepared:
    account: LedgerAccount
    debit: Decimal
    credit: Decimal
    currency: str
    amount: Decimal
    rate: Decimal
    customer: object
    description: str
    converted: bool = False
    errors: list = field(default_factory=list)


def _decimal(value, name: str, errors: list[FieldError]) -> Decimal | None:
    if value is None or value == "":
        return ZERO
    if isinstance(value, float | bool):
        errors.append(FieldError(name, _("Give the amount as a decimal string, not a float."), "invalid"))
        return None
    try:
        number = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except (InvalidOperation, ValueError):
        errors.append(FieldError(name, _("Enter a number."), "invalid"))
        return None
    if not number.is_finite():
        errors.append(FieldError(name, _("Enter a number."), "invalid"))
        return None
    if number < 0:
        errors.append(FieldError(name, _("Amounts cannot be negative; put the amount on the other side."),
                                 "negative"))
        return None
    if number >= MAX_AMOUNT:
        errors.append(FieldError(name, _("The amount is too large."), "too_large"))
        return None
    return number


def _has_places(number: Decimal, currency: str) -> bool:
    return round_money(number, currency) == number


def _resolve_customer(value, name: str, errors: list[FieldError], known: dict | None = None):
    from l2c.customers.models import Account

    if value in (None, ""):
        return None
    if isinstance(value, Account):
        return value
    pk = as_id(getattr(value, "pk", value))
    if known is not None and pk in known:
        return known[pk]
    customer = Account.objects.filter(pk=pk).first() if pk is not None else None
    if customer is None:
        errors.append(FieldError(name, _("No customer with id %(id)s.") % {"id": value}, "not_found"))
    return customer


def _prepare_lines(lines: list[Line], date: dt.date, *, allow_inactive: bool, company: str | None = None,
                   accounts: dict | None = None, customers: dict | None = None,
                   prefix: str = "") -> list[_Prepared]:
    """Check and convert an entry's lines. A bulk caller passes the company currency and the accounts
    (by code) and customers (by id) it loaded once for all its entries; `prefix` names the entry."""
    company = company or company_currency()
    errors: list[FieldError] = []
    if not isinstance(lines, list | tuple) or len(lines) < 2:
        raise ValidationFailed.single(f"{prefix}lines", _("An entry needs at least two lines."), "too_few_lines")
    if accounts is None:
        codes = {str(getattr(line, "account", "") or "").strip() for line in lines}
        accounts = {a.code: a for a in LedgerAccount.objects.filter(code__in=codes)}
    prepared: list[_Prepared] = []
    for index, line in enumerate(lines):
        p = f"{prefix}lines.{index}."
        code = str(line.account or "").strip()
        account = accounts.get(code)
        if not code:
            errors.append(FieldError(p + "account", _("Choose an account."), "required"))
        elif account is None:
            errors.append(FieldError(p + "account", _("No account with code %(code)s.") % {"code": code}, "not_found"))
        elif not account.is_active and not allow_inactive:
            errors.append(FieldError(p + "account", _("Account %(account)s is inactive.") % {"account": account},
                                     "inactive"))
        debit = _decimal(line.debit, p + "debit", errors)
        credit = _decimal(line.credit, p + "credit", errors)
        currency = (line.currency or "").strip().upper() or company
        if not is_iso_currency(currency):
            errors.append(FieldError(p + "currency", _("%(value)r is not an ISO 4217 currency code.")
                                     % {"value": line.currency}, "invalid_currency"))
            continue
        description = (line.description or "").strip()
        if len(description) > 300:
            errors.append(FieldError(p + "description", _("At most 300 characters."), "max_length"))
        customer = _resolve_customer(line.customer, p + "customer", errors, customers)
        if account is not None and account.is_control and customer is None:
            errors.append(FieldError(p + "customer", _("Account %(account)s is a control account: name the customer.")
                                     % {"account": account}, "customer_required"))
        if debit is None or credit is None:
            continue
        if debit and credit:
            errors.append(FieldError(p + "credit", _("A line has a debit or a credit, not both."), "both_sides"))
            continue
        if not debit and not credit:
            errors.append(FieldError(p + "debit", _("Enter a debit or a credit."), "no_amount"))
            continue
        side = "debit" if debit else "credit"
        value = debit or credit
        converted = False
        rate = None
        if line.rate not in (None, ""):
            rate = _decimal(line.rate, p + "rate", errors)
            if rate is not None and rate == 0:
                errors.append(FieldError(p + "rate", _("The rate must be greater than zero."), "not_positive"))
                rate = None
            if rate is None:
                continue
        if currency == company:
            if rate is not None and rate != 1:
                errors.append(FieldError(p + "rate", _("A line in the company currency has the rate 1."), "invalid"))
                continue
            amount = _decimal(line.amount, p + "amount", errors) if line.amount is not None else value
            if amount is not None and amount != value:
                errors.append(FieldError(p + "amount", (_("In the company currency the amount equals the debit.") if side == "debit"
                                          else _("In the company currency the amount equals the credit.")), "mismatch"))
                continue
            rate, company_value = Decimal(1), value
        else:
            if rate is None:
                try:
                    rate = rate_for(currency, date)
                except ValidationFailed as exc:
                    errors.append(FieldError(p + "rate", exc.errors[0].message, "rate_missing"))
                    continue
            if line.amount is None:  # debit/credit given in the foreign currency: convert
                amount, converted = value, True
                company_value = round_money(amount * rate, company)
            else:
                amount = _decimal(line.amount, p + "amount", errors)
                if amount is None:
                    continue
                if not amount:
                    errors.append(FieldError(p + "amount", _("Enter the amount in %(currency)s.")
                                             % {"currency": currency}, "no_amount"))
                    continue
                company_value = value
            if not _has_places(amount, currency):
                errors.append(FieldError(p + ("debit" if converted else "amount"),
                                         _("%(currency)s has %(n)s decimal places.")
                                         % {"currency": currency, "n": minor_units(currency)}, "too_precise"))
                continue
            if not company_value:
                errors.append(FieldError(p + side, _("The amount converts to zero in %(currency)s.")
                                         % {"currency": company}, "zero_after_conversion"))
                continue
        if not _has_places(company_value, company) or company_value.as_tuple().exponent < -2:
            errors.append(FieldError(p + side, _("%(currency)s has %(n)s decimal places.")
                                     % {"currency": company, "n": minor_units(company)}, "too_precise"))
            continue
        prepared.append(_Prepared(
            account=account, debit=company_value if side == "debit" else ZERO,
            credit=company_value if side == "credit" else ZERO, currency=currency, amount=amount, rate=rate,
            customer=customer, description=description, converted=converted))
    if errors:
        raise ValidationFailed(errors)
    return prepared


def _balance(prepared: list[_Prepared], *, company: str | None = None, prefix: str = "") -> None:
    """Debits equal credits in the company currency, and in the document currency when there is one."""
    currencies = {line.currency for line in prepared}
    company = company or company_currency()
    if len(currencies) == 1 and company not in currencies:
        (currency,) = currencies
        debit = sum((line.amount for line in prepared if line.debit), ZERO)
        credit = sum((line.amount for line in prepared if line.credit), ZERO)
        if debit != credit:
            raise ValidationFailed.single(f"{prefix}lines", _(
                "In %(currency)s the debits (%(debit)s) and credits (%(credit)s) differ by %(diff)s.")
                % {"currency": currency, "debit": debit, "credit": credit, "diff": abs(debit - credit)},
                "unbalanced_currency")
        _absorb_rounding(prepared, company)
    debit = sum((line.debit for line in prepared), ZERO)
    credit = sum((line.credit for line in prepared), ZERO)
    if debit != credit:
        raise ValidationFailed.single(f"{prefix}lines", _(
            "Debits (%(debit)s) and credits (%(credit)s) differ by %(diff)s %(currency)s: an entry must balance.")
            % {"debit": debit, "credit": credit, "diff": abs(debit - credit), "currency": company}, "unbalanced")


def _absorb_rounding(prepared: list[_Prepared], company: str) -> None:
    """Converting each line rounds it; when the entry balances in its own currency, the cents that
    rounding lost or gained go on the largest line the ledger converted (never more than a cent a line)."""
    converted = [line for line in prepared if line.converted]
    if not converted:
        return
    diff = sum((line.debit - line.credit for line in prepared), ZERO)
    cent = Decimal(1).scaleb(-minor_units(company))
    if not diff or abs(diff) > cent * len(converted):
        return
    target = max(converted, key=lambda line: line.debit + line.credit)
    if target.debit:
        target.debit -= diff
    else:
        target.credit += diff


LINE_COLUMNS = ("entry_id", "line_no", "account_id", "debit", "credit", "currency", "amount", "rate", "customer_id",
                "description")


def _audit_line(line: _Prepared) -> dict:
    """A posted line as the audit event keeps it (JSON-native: amounts as decimal strings)."""
    return {"account": line.account.code, "debit": str(line.debit), "credit": str(line.credit),
            "currency": line.currency, "amount": str(line.amount), "rate": str(line.rate),
            "customer": getattr(line.customer, "pk", line.customer), "description": line.description}


def _check_header(date, journal, memo, source_type, source_id, source_label) -> tuple[dt.date, Journal]:
    errors: list[FieldError] = []
    if isinstance(date, dt.datetime):
        date = date.date()
    if not isinstance(date, dt.date):
        try:
            date = dt.date.fromisoformat(str(date))
        except ValueError:
            errors.append(FieldError("date", _("Enter a date as YYYY-MM-DD."), "invalid"))
    code = getattr(journal, "code", journal)
    found = journal if isinstance(journal, Journal) else Journal.objects.filter(
        code=str(code or "").strip().upper()).first()
    if found is None:
        errors.append(FieldError("journal", _("No journal %(code)s.") % {"code": code}, "not_found"))
    elif not found.is_active:
        errors.append(FieldError("journal", _("Journal %(code)s is inactive.") % {"code": found.code}, "inactive"))
    for name, value, limit in (("memo", memo, 500), ("source_type", source_type, 60),
                               ("source_label", source_label, 200)):
        if len(value or "") > limit:
            errors.append(FieldError(name, _("At most %(n)s characters.") % {"n": limit}, "max_length"))
    if source_id is not None and as_id(source_id) is None:
        errors.append(FieldError("source_id", _("A record id is a positive whole number."), "invalid"))
    if errors:
        raise ValidationFailed(errors)
    return date, found


@dataclass
class Entry:
    """One entry for `post_entries`: a document posting (billing, revenue) with its source."""

    date: dt.date
    journal: str
    memo: str
    lines: list[Line]
    source_type: str
    source_id: int | None = None
    source_label: str = ""


@dataclass
class _Checked:
    date: dt.date
    journal: Journal
    memo: str
    prepared: list[_Prepared]
    source_type: str
    source_id: object
    source_label: str
    reversal_of: JournalEntry | None = None


def _write_many(*, actor, checked: list[_Checked], actor_label: str | None = None) -> list[JournalEntry]:
    """Inside the caller's transaction: hold each month open, number (one block per journal and year, in
    the order given), store the entries and their lines with one multi-row INSERT each, audit them."""
    for year, month in sorted({(c.date.year, c.date.month) for c in checked}):
        _require_open_period(dt.date(year, month, 1))
    numbers: dict[tuple[str, int], list[str]] = {}
    wanted: dict[tuple[str, int], int] = {}
    for c in checked:
        wanted[(c.journal.code, c.date.year)] = wanted.get((c.journal.code, c.date.year), 0) + 1
    for (code, year), count in sorted(wanted.items()):
        numbers[(code, year)] = [format_number(f"JE-{code}", year, value)
                                 for value in reversed(next_values(f"JE-{code}", year, count))]
    ids = allocate_ids(JournalEntry, len(checked))
    entries = [
        JournalEntry(
            id=pk, number=numbers[(c.journal.code, c.date.year)].pop(), journal=c.journal, date=c.date,
            memo=(c.memo or "").strip(), source_type=c.source_type or "",
            source_id=as_id(c.source_id) if c.source_id is not None else None, source_label=c.source_label or "",
            reversal_of=c.reversal_of, posted_by=actor)
        for pk, c in zip(ids, checked, strict=True)
    ]
    insert_objects(entries)
    insert_rows(JournalLine, LINE_COLUMNS, (
        (entry.pk, number, line.account.pk, line.debit, line.credit, line.currency, line.amount, line.rate,
         getattr(line.customer, "pk", line.customer), line.description)
        for entry, c in zip(entries, checked, strict=True) for number, line in enumerate(c.prepared, start=1)))
    totals.add((line.account.pk, c.date, c.journal.pk, entry.source_type, line.debit, line.credit)
               for entry, c in zip(entries, checked, strict=True) for line in c.prepared)
    entry_type = audit.object_type_of(JournalEntry)
    audit.record_bulk((
        audit.PendingEvent(action=audit.Action.CREATE, object_type=entry_type, object_id=str(entry.pk),
                           object_repr=entry.number, changes={
            "number": [None, entry.number], "journal": [None, c.journal.pk], "date": [None, c.date.isoformat()],
            "memo": [None, entry.memo], "source": [None, f"{entry.source_type}:{entry.source_id or ''}".strip(":")],
            "reversal_of": [None, c.reversal_of.pk if c.reversal_of else None],
            # not "lines"/"reversed_by": the names of reverse relations, which the history page cannot label
            "posted_lines": [None, [_audit_line(line) for line in c.prepared]],
        })
        for entry, c in zip(entries, checked, strict=True)), actor=actor, actor_label=actor_label, normalised=True)
    return entries


def _write(*, actor, date, journal: Journal, memo: str, prepared: list[_Prepared], source_type: str,
           source_id, source_label: str, reversal_of: JournalEntry | None = None) -> JournalEntry:
    return _write_many(actor=actor, checked=[_Checked(date, journal, memo, prepared, source_type, source_id,
                                                      source_label, reversal_of)])[0]


def post_entry(*, actor, date, journal: str, memo: str, lines: list[Line], source_type: str = "",
               source_id=None, source_label: str = "") -> JournalEntry:
    """Post a balanced entry: at least two lines, each a debit or a credit (not negative), debits equal
    credits (company currency, and per document currency when all lines share one), active accounts, an
    open period. Written with its lines and audit event in one transaction, never changed afterwards.

    A manual entry (no `source_type`) is for finance and admin; a document posting (billing, revenue)
    is authorised by the calling service."""
    if not source_type:
        require_ledger_user(actor)
    date, found = _check_header(date, journal, memo, source_type, source_id, source_label)
    with transaction.atomic():
        prepared = _prepare_lines(list(lines), date, allow_inactive=False)
        _balance(prepared)
        return _write(actor=actor, date=date, journal=found, memo=memo, prepared=prepared,
                      source_type=source_type, source_id=source_id, source_label=source_label)


def post_entries(*, actor, entries: list[Entry], actor_label: str | None = None) -> list[JournalEntry]:
    """Post many document entries at once, all or none, by the rules of `post_entry` (the one checking
    code path), for runs that book thousands of documents (the billing run, the revenue close).

    The accounts, customers and journals are loaded once; each month is held open once; the numbers come
    as one block per journal and year, in the order of `entries`; entries, lines and audit events are
    written with one multi-row INSERT per table. An error names its entry: `entries.<i>.lines.<j>.<field>`.
    Document postings only (every entry has a `source_type`): the calling service checked who may act."""
    from l2c.customers.models import Account

    if not entries:
        return []
    company = company_currency()
    codes = {str(line.account or "").strip() for entry in entries for line in entry.lines}
    accounts = {a.code: a for a in LedgerAccount.objects.filter(code__in=codes)}
    customer_ids = {as_id(getattr(line.customer, "pk", line.customer)) for entry in entries for line in entry.lines
                    if line.customer not in (None, "") and not isinstance(line.customer, Account)}
    # customers by id only (a line keeps the id): loading whole accounts would cost more than the posting
    customers = {pk: pk for pk in Account.objects.filter(pk__in=[pk for pk in customer_ids if pk is not None])
                 .values_list("pk", flat=True)} if customer_ids else {}
    journals: dict[str, Journal] = {}
    checked: list[_Checked] = []
    errors: list[FieldError] = []
    for index, entry in enumerate(entries):
        prefix = f"entries.{index}."
        try:
            if not entry.source_type:
                raise ValidationFailed.single("source_type", _("A bulk posting is for documents: give the source."),
                                              "required")
            key = str(getattr(entry.journal, "code", entry.journal) or "").strip().upper()
            if key not in journals:
                journals[key] = Journal.objects.filter(code=key).first()
            date, journal = _check_header(entry.date, journals[key] or key, entry.memo, entry.source_type,
                                          entry.source_id, entry.source_label)
            prepared = _prepare_lines(list(entry.lines), date, allow_inactive=False, company=company,
                                      accounts=accounts, customers=customers, prefix=prefix)
            _balance(prepared, company=company, prefix=prefix)
        except ValidationFailed as exc:
            errors += [e if e.field.startswith(prefix) else FieldError(prefix + e.field, e.message, e.code)
                       for e in exc.errors]
            continue
        checked.append(_Checked(date, journal, entry.memo, prepared, entry.source_type, entry.source_id,
                                entry.source_label))
    if errors:
        raise ValidationFailed(errors)
    with transaction.atomic():
        return _write_many(actor=actor, checked=checked, actor_label=actor_label)


def reverse_entry(*, actor, entry: JournalEntry, date=None, memo: str = "") -> JournalEntry:
    """Post the mirror of `entry` (debits and credits swapped, same currencies, amounts and rates),
    linked both ways (`reversal.reversal_of`, `entry.reversed_by`). Dated `date` (default: the entry's
    date), which must lie in an open period. An entry is reversed at most once; a reversal is not
    reversed again (post a new entry instead)."""
    require_ledger_user(actor)
    with transaction.atomic():
        original = JournalEntry.objects.select_for_update().filter(pk=getattr(entry, "pk", entry)).first()
        if original is None:
            raise NotFound(_("No journal entry with id %(id)s.") % {"id": getattr(entry, "pk", entry)})
        if original.reversal_of_id:
            raise Conflict(_("%(number)s is itself a reversal (of %(other)s); post a new entry instead of "
                             "reversing it.") % {"number": original.number, "other": original.reversal_of.number},
                           code="reversal_of_reversal")
        existing = JournalEntry.objects.filter(reversal_of=original).first()
        if existing is not None:
            raise Conflict(_("%(number)s was already reversed by %(other)s.")
                           % {"number": original.number, "other": existing.number}, code="already_reversed")
        date, journal = _check_header(date or original.date, original.journal, memo, original.source_type,
                                      original.source_id, original.source_label)
        lines = [
            Line(account=line.account.code, debit=line.credit, credit=line.debit, currency=line.currency,
                 amount=line.amount, rate=line.rate, customer=line.customer, description=line.description)
            for line in original.lines.select_related("account", "customer")
        ]
        prepared = _prepare_lines(lines, date, allow_inactive=True)
        _balance(prepared)
        memo = (memo or "").strip() or _("Reversal of %(number)s") % {"number": original.number}
        try:
            with transaction.atomic():
                reversal = _write(actor=actor, date=date, journal=journal, memo=memo, prepared=prepared,
                                  source_type=original.source_type, source_id=original.source_id,
                                  source_label=original.source_label, reversal_of=original)
        except IntegrityError as exc:  # a concurrent reversal won the unique reversal_of
            raise Conflict(_("%(number)s was already reversed.") % {"number": original.number},
                           code="already_reversed") from exc
        audit.record(actor=actor, action=audit.Action.TRANSITION, instance=original,
                     changes={"reversal": [None, reversal.number]})
        return reversal


def ar_account() -> LedgerAccount:
    return LedgerAccount.objects.get(code=AR)
