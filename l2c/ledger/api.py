"""API of the ledger under /api/v1/ledger/: accounts, journal entries, periods, exchange rates and reports.

Finance and admin only: every other role gets 403 on every route. POSTs that create entries honour
`Idempotency-Key` (core.idempotency middleware).
"""

import datetime as dt
import re
from decimal import Decimal

from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, File, Query, Router, Schema, Status
from ninja.files import UploadedFile
from ninja.pagination import paginate

from l2c.core.api_types import LimitOffsetPagination, RecordId
from l2c.core.errors import ValidationFailed
from l2c.customers.api import AccountRef, StrictSchema, UserRef

from . import selectors, services
from .models import AccountType, ExchangeRate, JournalEntry, NormalBalance

router = Router(tags=["ledger"])


def _user(request):
    services.require_ledger_user(request.auth)
    return request.auth


# --- accounts ---------------------------------------------------------------------------------------

class LedgerAccountOut(Schema):
    id: int
    code: str
    name: str
    type: str
    normal_balance: str
    is_active: bool
    is_control: bool
    description: str
    lines_count: int | None = None

    @staticmethod
    def resolve_lines_count(obj) -> int | None:
        return getattr(obj, "lines_count", None)


class LedgerAccountIn(StrictSchema):
    code: str = Field(..., max_length=20)
    name: str = Field(..., max_length=200)
    type: AccountType
    normal_balance: NormalBalance | None = Field(None, description="Default: debit for assets and expenses, "
                                                                   "credit for the rest")
    is_active: bool = True
    is_control: bool = False
    description: str = Field("", max_length=500)


class LedgerAccountPatch(StrictSchema):
    code: str | None = Field(None, max_length=20)
    name: str | None = Field(None, max_length=200)
    type: AccountType | None = None
    normal_balance: NormalBalance | None = None
    is_active: bool | None = None
    is_control: bool | None = None
    description: str | None = Field(None, max_length=500)


class AccountFilters(Schema):
    active: bool | None = None


@router.get("/accounts", response=list[LedgerAccountOut])
@paginate(LimitOffsetPagination)
def list_accounts(request, filters: Query[AccountFilters]):
    return selectors.account_list(user=_user(request), active=filters.active)


@router.post("/accounts", response={201: LedgerAccountOut})
def create_account(request, data: LedgerAccountIn):
    values = data.dict()
    values["type"] = str(values["type"])
    values["normal_balance"] = str(values["normal_balance"]) if values["normal_balance"] else None
    account = services.account_create(actor=_user(request), **values)
    return Status(201, account)


@router.get("/accounts/{int:account_id}", response=LedgerAccountOut)
def get_account(request, account_id: int):
    return selectors.account_get(user=_user(request), pk=account_id)


@router.patch("/accounts/{int:account_id}", response=LedgerAccountOut)
def update_account(request, account_id: int, data: LedgerAccountPatch):
    account = selectors.account_get(user=_user(request), pk=account_id)
    values = {k: (str(v) if k in ("type", "normal_balance") and v is not None else v)
              for k, v in data.dict(exclude_unset=True).items()}
    for name in ("code", "name", "type", "is_active", "is_control", "description"):
        if name in values and values[name] is None:
            raise ValidationFailed.single(name, _("This field cannot be null."), "null")
    return services.account_update(actor=request.auth, account=account, **values)


# --- journal entries --------------------------------------------------------------------------------

class LineOut(Schema):
    line_no: int
    account: str
    account_name: str
    debit: Decimal
    credit: Decimal
    currency: str
    amount: Decimal
    rate: Decimal
    customer: AccountRef | None
    description: str

    @staticmethod
    def resolve_account(obj) -> str:
        return obj.account.code

    @staticmethod
    def resolve_account_name(obj) -> str:
        return obj.account.name


class EntryRef(Schema):
    id: int
    number: str


class EntryOut(Schema):
    id: int
    number: str
    journal: str
    date: dt.date
    memo: str
    source_type: str
    source_id: int | None
    source_label: str
    reversal_of: EntryRef | None
    reversed_by: EntryRef | None
    posted_by: UserRef | None
    posted_at: dt.datetime
    total: Decimal
    lines: list[LineOut]

    @staticmethod
    def resolve_journal(obj) -> str:
        return obj.journal.code

    @staticmethod
    def resolve_reversed_by(obj):
        return obj.reversal

    @staticmethod
    def resolve_total(obj) -> Decimal:
        total = getattr(obj, "total", None)
        if total is None:
            total = sum((line.debit for line in obj.lines.all()), Decimal(0))
        return Decimal(total).quantize(Decimal("0.01"))

    @staticmethod
    def resolve_lines(obj):
        return obj.lines.all()


class LineIn(StrictSchema):
    account: str = Field(..., max_length=20, description="Account code, e.g. 1000")
    debit: Decimal = Field(Decimal(0), description="Company currency (or the line currency when `amount` is omitted)")
    credit: Decimal = Decimal(0)
    currency: str = Field("", max_length=3, description="Document currency; empty: the company currency")
    amount: Decimal | None = Field(None, description="Amount in `currency`, same side as debit/credit")
    rate: Decimal | None = Field(None, description="Company currency per unit; default: the rate on the date")
    customer: RecordId | None = Field(None, description="Customer (account) id; required on control account 1100")
    description: str = Field("", max_length=300)


class EntryIn(StrictSchema):
    date: dt.date
    journal: str = Field("GENERAL", max_length=10)
    memo: str = Field("", max_length=500)
    lines: list[LineIn] = Field(..., max_length=500)


class ReverseIn(StrictSchema):
    date: dt.date | None = Field(None, description="Default: the entry's date (its period must be open)")
    memo: str = Field("", max_length=500)


class EntryFilters(Schema):
    date: dt.date | None = Field(None, description="Entries of this day")
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    journal: str | None = Field(None, max_length=10)
    account: str | None = Field(None, max_length=20, description="Account code on any line")
    source_type: str | None = Field(None, max_length=60, description='e.g. "billing.invoice"')
    source_id: RecordId | None = None
    customer: RecordId | None = None
    q: str | None = Field(None, max_length=200)


def _entry(request, pk: int) -> JournalEntry:
    return selectors.entry_get(user=request.auth, pk=pk)


@router.get("/journal-entries", response=list[EntryOut])
@paginate(LimitOffsetPagination)
def list_entries(request, filters: Query[EntryFilters]):
    values = filters.dict()
    day = values.pop("date")
    if day:
        values["date_from"] = values["date_to"] = day
    values["q"] = values["q"] or ""
    return (selectors.entry_list(user=_user(request), **values)
            .prefetch_related("lines__account", "lines__customer", "reversed_by"))


@router.post("/journal-entries", response={201: EntryOut})
def create_entry(request, data: EntryIn):
    lines = [services.Line(**line.dict()) for line in data.lines]
    entry = services.post_entry(actor=_user(request), date=data.date, journal=data.journal, memo=data.memo,
                                lines=lines)
    return Status(201, _entry(request, entry.pk))


@router.get("/journal-entries/{int:entry_id}", response=EntryOut)
def get_entry(request, entry_id: int):
    _user(request)
    return _entry(request, entry_id)


@router.post("/journal-entries/{int:entry_id}/reverse", response={201: EntryOut})
def reverse_entry(request, entry_id: int, data: ReverseIn):
    entry = selectors.entry_get(user=_user(request), pk=entry_id)
    reversal = services.reverse_entry(actor=request.auth, entry=entry, date=data.date, memo=data.memo)
    return Status(201, _entry(request, reversal.pk))


# --- periods ----------------------------------------------------------------------------------------

class PeriodOut(Schema):
    period: str
    year: int
    month: int
    is_locked: bool
    locked_at: dt.datetime | None
    locked_by: UserRef | None
    entries_count: int | None = None

    @staticmethod
    def resolve_period(obj) -> str:
        return obj.label

    @staticmethod
    def resolve_entries_count(obj) -> int | None:
        return getattr(obj, "entries_count", None)


_PERIOD = re.compile(r"^(\d{4})-(\d{2})$")


def _period(value: str) -> tuple[int, int]:
    match = _PERIOD.match(value)
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise ValidationFailed.single("period", _("Give the period as YYYY-MM, e.g. 2026-03."), "invalid")
    return int(match.group(1)), int(match.group(2))


@router.get("/periods", response=list[PeriodOut])
def list_periods(request):
    return selectors.period_list(user=_user(request), today=timezone.localdate())


@router.post("/periods/{period}/lock", response=PeriodOut)
def lock_period(request, period: str):
    user = _user(request)
    year, month = _period(period)
    return services.period_lock(actor=user, year=year, month=month)


@router.post("/periods/{period}/unlock", response=PeriodOut)
def unlock_period(request, period: str):
    user = _user(request)
    year, month = _period(period)
    return services.period_unlock(actor=user, year=year, month=month)


# --- exchange rates ---------------------------------------------------------------------------------

class RateOut(Schema):
    id: int
    currency: str
    date: dt.date
    rate: Decimal


class RateIn(StrictSchema):
    currency: str = Field(..., max_length=3)
    date: dt.date
    rate: Decimal = Field(..., description="Company currency per unit of `currency`")


class RateFilters(Schema):
    currency: str | None = Field(None, max_length=3)


class ImportResult(Schema):
    imported: int


@router.get("/exchange-rates", response=list[RateOut])
@paginate(LimitOffsetPagination)
def list_rates(request, filters: Query[RateFilters]):
    return selectors.rate_list(user=_user(request), currency=filters.currency)


@router.post("/exchange-rates", response={201: RateOut})
def set_rate(request, data: RateIn):
    rate: ExchangeRate = services.rate_set(actor=_user(request), currency=data.currency, date=data.date,
                                           rate=data.rate)
    return Status(201, rate)


@router.post("/exchange-rates/import", response={201: ImportResult})
def import_rates(request, file: File[UploadedFile]):
    """A CSV file with the columns currency, date (YYYY-MM-DD) and rate; all rows or none."""
    user = _user(request)
    try:
        text = file.read(5_000_001).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationFailed.single("file", _("The file is not UTF-8 text."), "invalid_encoding") from exc
    if len(text) > 5_000_000:
        raise ValidationFailed.single("file", _("The file is larger than 5 MB."), "too_large")
    return Status(201, {"imported": services.rates_import(actor=user, text=text)})


# --- reports ----------------------------------------------------------------------------------------

class TrialBalanceRowOut(Schema):
    account: str
    name: str
    type: str
    debit: Decimal
    credit: Decimal
    balance: Decimal


class TrialBalanceOut(Schema):
    as_of: dt.date
    currency: str
    rows: list[TrialBalanceRowOut]
    debit: Decimal
    credit: Decimal
    balance: Decimal


class GeneralLedgerRowOut(Schema):
    date: dt.date
    entry_id: int
    entry: str
    journal: str
    memo: str
    source_label: str
    customer: AccountRef | None
    description: str
    debit: Decimal
    credit: Decimal
    balance: Decimal


class GeneralLedgerOut(Schema):
    account: str
    name: str
    normal_balance: str
    date_from: dt.date | None
    date_to: dt.date | None
    opening: Decimal
    debit: Decimal
    credit: Decimal
    closing: Decimal
    rows: list[GeneralLedgerRowOut]


class SubledgerRowOut(Schema):
    customer: AccountRef
    debit: Decimal
    credit: Decimal
    balance: Decimal


class ArSubledgerOut(Schema):
    as_of: dt.date
    rows: list[SubledgerRowOut]
    total: Decimal
    control: Decimal
    matches: bool


class AsOf(Schema):
    as_of: dt.date | None = Field(None, description="Default: today")


class GeneralLedgerParams(Schema):
    account: str = Field(..., max_length=20, description="Account code")
    date_from: dt.date | None = Field(None, alias="from")
    date_to: dt.date | None = Field(None, alias="to")


@router.get("/reports/trial-balance", response=TrialBalanceOut)
def trial_balance(request, params: Query[AsOf]):
    report = selectors.trial_balance(params.as_of or timezone.localdate(), user=_user(request))
    return {
        "as_of": report.as_of, "currency": report.currency, "debit": report.debit, "credit": report.credit,
        "balance": report.balance,
        "rows": [{"account": r.account.code, "name": r.account.name, "type": r.account.type, "debit": r.debit,
                  "credit": r.credit, "balance": r.balance} for r in report.rows],
    }


@router.get("/reports/general-ledger", response=GeneralLedgerOut)
def general_ledger(request, params: Query[GeneralLedgerParams]):
    report = selectors.general_ledger(params.account, params.date_from, params.date_to, user=_user(request))
    return {
        "account": report.account.code, "name": report.account.name,
        "normal_balance": report.account.normal_balance, "date_from": report.date_from, "date_to": report.date_to,
        "opening": report.opening, "debit": report.debit, "credit": report.credit, "closing": report.closing,
        "rows": [{"date": r.line.entry.date, "entry_id": r.line.entry_id, "entry": r.line.entry.number,
                  "journal": r.line.entry.journal.code, "memo": r.line.entry.memo,
                  "source_label": r.line.entry.source_label, "customer": r.line.customer,
                  "description": r.line.description, "debit": r.line.debit, "credit": r.line.credit,
                  "balance": r.balance} for r in report.rows],
    }


@router.get("/reports/ar-subledger", response=ArSubledgerOut)
def ar_subledger(request, params: Query[AsOf]):
    report = selectors.ar_subledger(params.as_of or timezone.localdate(), user=_user(request))
    return {
        "as_of": report.as_of, "total": report.total, "control": report.control, "matches": report.matches,
        "rows": [{"customer": {"id": r.customer_id, "name": r.customer_name}, "debit": r.debit, "credit": r.credit,
                  "balance": r.balance} for r in report.rows],
    }



# The short path: /api/v1/reports/trial-balance answers exactly like /api/v1/ledger/reports/trial-balance
# (mounted at /api/v1/ by l2c/api.py, next to /api/v1/reports/ar-aging).
reports_router = Router(tags=["ledger"])
reports_router.add_api_operation("/reports/trial-balance", ["GET"], trial_balance, response=TrialBalanceOut,
                                 operation_id="reports_trial_balance")
