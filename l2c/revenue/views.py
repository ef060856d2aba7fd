"""Revenue pages (finance and admin): the overview of reports with charts, one contract's allocation, schedules
and postings, and the month close. Every report can be downloaded as CSV or XLSX. Sales roles get 403.

Thin: a form parses, a selector reads, `close` writes.
"""
from __future__ import annotations

import datetime as dt
import functools
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from l2c.core import exports
from l2c.core.errors import DomainError, FieldError, NotFound, ValidationFailed
from l2c.core.exports import Column, Rows, item

from . import close, selectors, services
from .api import default_range
from .charts import Series, bar_chart


def revenue_page(view):
    """Logged in, and finance or admin; anyone else gets 403."""

    @login_required
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if not services.can_use_revenue(request.user):
            raise DjangoPermissionDenied(_("Only finance and admin users can see revenue."))
        return view(request, *args, **kwargs)

    return wrapper


def _render(request, template: str, context: dict, status: int = 200):
    return render(request, template, {"nav": "revenue", **context}, status=status)


# --- forms ------------------------------------------------------------------------------------------

def _month_to_day(text: str, *, end: bool) -> str:
    """"2026-07" → "2026-07-01" (from) or "2026-07-31" (to); anything else unchanged (the form checks it)."""
    import calendar

    text = (text or "").strip()
    if len(text) == 7 and text[4] == "-" and text[:4].isdigit() and text[5:].isdigit() and 1 <= int(text[5:]) <= 12:
        year, month = int(text[:4]), int(text[5:])
        return f"{text}-{calendar.monthrange(year, month)[1]:02d}" if end else f"{text}-01"
    return text


class RangeForm(forms.Form):
    date_from = forms.DateField(label=gettext_lazy("From"), required=False,
                                widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=gettext_lazy("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    by = forms.ChoiceField(label=gettext_lazy("Revenue by"), required=False, choices=[
        ("", gettext_lazy("Month only")), ("product", gettext_lazy("Product")),
        ("customer", gettext_lazy("Customer"))])

    def __init__(self, data=None):
        # the query string names them from/to, like the API, and takes whole months (2026-07) as well as days
        if data is not None:
            data = {"date_from": _month_to_day(data.get("from", ""), end=False),
                    "date_to": _month_to_day(data.get("to", ""), end=True), "by": data.get("by", "")}
        super().__init__(data)

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", _("The end of the range is before its start."))
        return cleaned

    def values(self) -> tuple[dt.date, dt.date, str | None]:
        """(from, to, by): the form's values, the last twelve months by default; a ValidationFailed naming
        the field for a bad date."""
        if self.is_bound and not self.is_valid():
            names = {"date_from": "from", "date_to": "to"}
            raise ValidationFailed([FieldError(names.get(name, name), " ".join(str(m) for m in errs), "invalid")
                                    for name, errs in self.errors.items()])
        data = self.cleaned_data if self.is_bound else {}
        end = data.get("date_to") or timezone.localdate()
        start = data.get("date_from") or default_range(end)[0]
        return start, end, data.get("by") or None


class CloseForm(forms.Form):
    period = forms.CharField(label=gettext_lazy("Month (YYYY-MM)"), max_length=7,
                             widget=forms.TextInput(attrs={"placeholder": "2026-11", "pattern": r"\d{4}-\d{2}"}))


class ReopenForm(CloseForm):
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=2000, widget=forms.TextInput)


class ModifyForm(forms.Form):
    """A prospective contract modification (revenue.services.modify_contract checks every rule)."""

    effective_date = forms.DateField(label=gettext_lazy("Takes effect on"),
                                     widget=forms.DateInput(attrs={"type": "date"}))
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=2000, widget=forms.TextInput)
    price_change = forms.CharField(label=gettext_lazy("Price change (contract currency, + or −)"), required=False,
                                   max_length=30, widget=forms.TextInput(attrs={"inputmode": "decimal",
                                                                                "placeholder": "1200.00"}))
    new_end_date = forms.DateField(label=gettext_lazy("New end of service (extension)"), required=False,
                                   widget=forms.DateInput(attrs={"type": "date"}))
    terminate_on = forms.DateField(label=gettext_lazy("Last day of service (early termination)"), required=False,
                                   widget=forms.DateInput(attrs={"type": "date"}))


# --- overview ---------------------------------------------------------------------------------------

def _month_label(month: dt.date) -> str:
    return month.strftime("%Y-%m")


def _gather(calls: dict) -> dict:
    """Run the overview's independent reports side by side on PostgreSQL, each on its own connection (closed
    when it is done), in the request's language and time zone; one after another on SQLite or inside a
    transaction (where other connections would not see its rows)."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection, connections
    from django.utils import translation

    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return {key: call() for key, call in calls.items()}
    language, zone = translation.get_language(), timezone.get_current_timezone()

    def run(call):
        try:
            with translation.override(language), timezone.override(zone):
                return call()
        finally:
            connections.close_all()  # this thread's connections only

    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {key: pool.submit(run, call) for key, call in calls.items()}
        return {key: future.result() for key, future in futures.items()}


GROUPED_SHOWN = 300  # rows of revenue per product or customer on the page (the download has them all)


@require_GET
@revenue_page
def overview(request):
    form = RangeForm(request.GET if request.GET else None)
    typed = {"from_value": request.GET.get("from", ""), "to_value": request.GET.get("to", "")}
    try:
        date_from, date_to, by = form.values()
    except ValidationFailed:
        return _render(request, "revenue/overview.html", {"form": form, "report": None, **typed}, status=400)
    user = request.user
    try:
        found = _gather({
            "revenue": lambda: selectors.revenue_by_month(date_from, date_to, user=user),
            "grouped": lambda: selectors.revenue_by_month(date_from, date_to, by, user=user) if by else [],
            "rbc": lambda: selectors.recognised_billed_collected(date_from, date_to, user=user),
            "waterfall": lambda: selectors.deferred_waterfall(date_from, date_to, user=user),
            "future": lambda: selectors.future_recognition(date_to, user=user),
            "rpo": lambda: selectors.remaining_performance_obligations(date_to, user=user, per_contract=False),
            "top": lambda: selectors.top_contracts(date_from, date_to, user=user),
        })
        revenue, grouped, rbc, waterfall, future, rpo, top = (
            found[k] for k in ("revenue", "grouped", "rbc", "waterfall", "future", "rpo", "top"))
    except ValidationFailed as exc:
        for error in exc.errors:
            form.add_error(None, f"{error.field}: {error.message}")
        return _render(request, "revenue/overview.html", {"form": form, "report": None, **typed}, status=400)
    currency = selectors._company()
    months = [_month_label(row["month"]) for row in revenue]
    revenue_chart = bar_chart(
        title=_("Revenue recognised per month"), categories=months,
        series=[Series(_("Revenue"), [row["amount"] for row in revenue])],
        description=_("In %(currency)s.") % {"currency": currency})
    rbc_chart = bar_chart(
        title=_("Recognised, billed and collected per month"), categories=months,
        series=[Series(_("Recognised"), [r["recognised"] for r in rbc]), Series(_("Billed"), [r["billed"] for r in rbc]),
                Series(_("Collected"), [r["collected"] for r in rbc])],
        description=_("In %(currency)s.") % {"currency": currency})
    query = urlencode({"from": date_from.isoformat(), "to": date_to.isoformat(), **({"by": by} if by else {})})
    return _render(request, "revenue/overview.html", {
        "form": form, "report": True, "from_value": date_from.isoformat(), "to_value": date_to.isoformat(), "date_from": date_from, "date_to": date_to, "by": by,
        "currency": currency, "revenue": revenue, "grouped": grouped, "grouped_shown": grouped[:GROUPED_SHOWN],
        "rbc": rbc, "waterfall": waterfall,
        "future": future, "rpo": rpo, "rpo_customers": rpo["customers"][:50], "top": top,
        "revenue_chart": revenue_chart, "rbc_chart": rbc_chart,
        "revenue_total": sum((r["amount"] for r in revenue), 0), "query": query,
    })


@require_GET
@revenue_page
def mrr_page(request):
    """Monthly recurring revenue and its movements, on a page of its own: it reads every subscription."""
    form = RangeForm(request.GET if request.GET else None)
    typed = {"from_value": request.GET.get("from", ""), "to_value": request.GET.get("to", "")}
    try:
        date_from, date_to, _by = form.values()
        mrr = selectors.mrr(date_from, date_to, user=request.user)
    except ValidationFailed as exc:
        for error in exc.errors:
            form.add_error(None, f"{error.field}: {error.message}")
        return _render(request, "revenue/mrr.html", {"form": form, "report": None, **typed}, status=400)
    chart = bar_chart(
        title=_("Monthly recurring revenue"), categories=[_month_label(r["month"]) for r in mrr["months"]],
        series=[Series(_("MRR"), [r["closing"] for r in mrr["months"]])],
        description=_("In %(currency)s, on each month's last day.") % {"currency": mrr["currency"]})
    return _render(request, "revenue/mrr.html", {
        "form": form, "report": True, "from_value": date_from.isoformat(), "to_value": date_to.isoformat(),
        "date_from": date_from, "date_to": date_to, "currency": mrr["currency"], "mrr": mrr["months"],
        "mrr_movements": mrr["movements"][:100], "mrr_movements_count": len(mrr["movements"]), "mrr_chart": chart,
        "query": urlencode({"from": date_from.isoformat(), "to": date_to.isoformat()}),
    })


MOVEMENT_LABELS = {"new": gettext_lazy("New"), "expansion": gettext_lazy("Expansion"),
                   "contraction": gettext_lazy("Contraction"), "churn": gettext_lazy("Churn"),
                   "reactivation": gettext_lazy("Reactivation")}


# --- exports ----------------------------------------------------------------------------------------

def _month_col() -> Column:
    return Column(gettext_lazy("Month"), lambda row: _month_label(row["month"]))


def _report_exports() -> dict:
    """{key: (label, columns, build(user, from, to, by) → rows)} of the overview's reports."""
    def revenue(user, start, end, by):
        return selectors.revenue_by_month(start, end, by, user=user)

    def future(user, start, end, by):
        report = selectors.future_recognition(end, user=user)
        return [*report["months"], {"month": None, "amount": report["later"]}]

    return {
        "revenue": (gettext_lazy("Revenue by month"), [
            _month_col(), item(gettext_lazy("Key"), "key"), item(gettext_lazy("Product or customer"), "label"),
            item(gettext_lazy("Revenue"), "amount")], revenue),
        "billed-collected": (gettext_lazy("Recognised, billed, collected"), [
            _month_col(), item(gettext_lazy("Recognised"), "recognised"), item(gettext_lazy("Billed"), "billed"),
            item(gettext_lazy("Collected"), "collected")],
            lambda user, start, end, by: selectors.recognised_billed_collected(start, end, user=user)),
        "deferred": (gettext_lazy("Deferred revenue waterfall"), [
            _month_col(), item(gettext_lazy("Opening"), "opening"), item(gettext_lazy("Billings"), "billings"),
            item(gettext_lazy("Recognition"), "recognition"), item(gettext_lazy("Other"), "other"),
            item(gettext_lazy("Closing"), "closing")],
            lambda user, start, end, by: selectors.deferred_waterfall(start, end, user=user)),
        "future": (gettext_lazy("Future recognition"), [
            Column(gettext_lazy("Month"), lambda row: _month_label(row["month"]) if row["month"] else _("Later")),
            item(gettext_lazy("Planned"), "amount")], future),
        "rpo": (gettext_lazy("Remaining performance obligations"), [
            item(gettext_lazy("Contract"), "contract"), item(gettext_lazy("Customer"), "customer"),
            item(gettext_lazy("Currency"), "currency"), item(gettext_lazy("Remaining (contract currency)"), "amount"),
            item(gettext_lazy("Within 12 months"), "within_12_months"), item(gettext_lazy("Later"), "later"),
            item(gettext_lazy("Total"), "total")],
            lambda user, start, end, by: selectors.remaining_performance_obligations(end, user=user)["contracts"]),
        "mrr": (gettext_lazy("MRR movements"), [
            _month_col(), item(gettext_lazy("Opening MRR"), "opening"), item(gettext_lazy("New"), "new"),
            item(gettext_lazy("Expansion"), "expansion"), item(gettext_lazy("Contraction"), "contraction"),
            item(gettext_lazy("Churn"), "churn"), item(gettext_lazy("Reactivation"), "reactivation"),
            item(gettext_lazy("Closing MRR"), "closing"), item(gettext_lazy("ARR"), "arr"),
            item(gettext_lazy("Customers"), "customers")],
            lambda user, start, end, by: selectors.mrr(start, end, user=user)["months"]),
        "mrr-customers": (gettext_lazy("MRR movements per customer"), [
            _month_col(), item(gettext_lazy("Customer"), "customer"),
            Column(gettext_lazy("Movement"), lambda row: str(MOVEMENT_LABELS[row["kind"]])),
            item(gettext_lazy("MRR before"), "before"), item(gettext_lazy("MRR after"), "after"),
            item(gettext_lazy("Change"), "amount")],
            lambda user, start, end, by: selectors.mrr(start, end, user=user)["movements"]),
    }


@require_GET
@revenue_page
def report_export(request, report: str):
    """One report of the overview, for the same range, as CSV or XLSX (`format`)."""
    found = _report_exports().get(report)
    if found is None:
        raise Http404(_("No such report."))
    label, columns, build_rows = found

    def build():
        start, end, by = RangeForm(request.GET).values()
        rows = Rows(build_rows(request.user, start, end, by))
        return rows, {"report": report, "from": start.isoformat(), "to": end.isoformat(), "by": by or ""}

    return exports.ui_export(request, build, columns=columns, stem=f"revenue-{report}", object_type="revenue.report",
                             sheet_title=str(label), back_url="/revenue/")


# --- one contract -----------------------------------------------------------------------------------

def _detail(request, contract_id: int) -> dict:
    try:
        rc = selectors.revenue_contract_get(user=request.user, contract_id=contract_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    return selectors.contract_detail(rc, user=request.user)


@require_http_methods(["GET", "POST"])
@revenue_page
def contract_detail(request, contract_id: int):
    """The contract's revenue; a POST is a prospective modification (a new schedule version)."""
    form = ModifyForm()
    status = 200
    if request.method == "POST":
        form = ModifyForm(request.POST)
        if form.is_valid():
            try:
                rc = selectors.revenue_contract_get(user=request.user, contract_id=contract_id)
                version = services.modify_contract(actor=request.user, revenue_contract=rc, **form.cleaned_data)
            except NotFound as exc:
                raise Http404(exc.message) from exc
            except DomainError as exc:
                _form_error(form, exc)
            else:
                messages.success(request, _("Schedule version %(n)s made: what was earned before %(day)s stays, the "
                                            "rest is spread over what remains.")
                                 % {"n": version.number, "day": version.effective_date.isoformat()})
                return redirect("revenue:contract", contract_id=contract_id)
        status = 400
    detail = _detail(request, contract_id)
    return _render(request, "revenue/contract_detail.html", {"d": detail, "tables": CONTRACT_TABLES,
                                                             "modify_form": form}, status=status)


CONTRACT_TABLES = {
    "allocation": (gettext_lazy("Allocation"), [
        item(gettext_lazy("Obligation"), "name"), item(gettext_lazy("Product"), "product"),
        item(gettext_lazy("Method"), "method_label"), item(gettext_lazy("Quantity"), "quantity"),
        item(gettext_lazy("Standalone selling price"), "ssp"),
        item(gettext_lazy("SSP from list price"), "ssp_from_list_price"), item(gettext_lazy("Allocated"), "allocated"),
        item(gettext_lazy("Recognised to date"), "recognised"),
        Column(gettext_lazy("Quote lines"), lambda row: ", ".join(q["quote"] for q in row["quote_lines"]))],
        lambda d: d["allocation"]),
    "schedule": (gettext_lazy("Schedule"), [
        item(gettext_lazy("Version"), "version"), item(gettext_lazy("Obligation"), "name"),
        _month_col(), item(gettext_lazy("Planned"), "amount")],
        lambda d: [{"version": v["number"], "name": line["name"], "month": month, "amount": amount}
                   for v in d["versions"] for line in v["lines"]
                   for month, amount in zip(v["months"], line["amounts"], strict=True) if amount]),
    "postings": (gettext_lazy("Postings"), [
        _month_col(), item(gettext_lazy("Revenue (contract currency)"), "revenue_amount"),
        item(gettext_lazy("Revenue"), "revenue_base"), item(gettext_lazy("Deferred revenue released"), "deferred_amount"),
        item(gettext_lazy("Contract asset"), "asset_amount"), item(gettext_lazy("Reversed"), "reversed"),
        item(gettext_lazy("Journal entry"), "journal_entry")],
        lambda d: [{**p, "month": p["period"]} for p in d["postings"]]),
}


@require_GET
@revenue_page
def contract_export(request, contract_id: int):
    """The contract's allocation, schedule (every version) or postings (`table`) as CSV or XLSX."""
    found = CONTRACT_TABLES.get(request.GET.get("table") or "allocation")
    if found is None:
        raise Http404(_("No such table: use allocation, schedule or postings."))
    label, columns, rows_of = found
    detail = _detail(request, contract_id)

    def build():
        return Rows(rows_of(detail)), {"contract": detail["contract"], "table": request.GET.get("table", "")}

    return exports.ui_export(request, build, columns=columns, stem=f"revenue-{detail['contract']}",
                             object_type="revenue.revenuecontract", sheet_title=str(label),
                             back_url=request.path.replace("export/", ""))


# --- the month close --------------------------------------------------------------------------------

CLOSE_COLUMNS = [
    Column(gettext_lazy("Month"), lambda c: c.period.strftime("%Y-%m")),
    Column(gettext_lazy("Status"), lambda c: c.get_status_display()),
    Column(gettext_lazy("Closed at"), lambda c: c.closed_at),
    Column(gettext_lazy("Closed by"), lambda c: str(c.closed_by) if c.closed_by_id else ""),
    Column(gettext_lazy("Contracts"), lambda c: c.contracts),
    Column(gettext_lazy("Journal entries"), lambda c: c.entries),
    Column(gettext_lazy("Revenue"), lambda c: c.revenue),
    Column(gettext_lazy("Reopened at"), lambda c: c.reopened_at),
    Column(gettext_lazy("Reopened by"), lambda c: str(c.reopened_by) if c.reopened_by_id else ""),
    Column(gettext_lazy("Reason for reopening"), lambda c: c.reopen_reason),
]


def _next_to_close() -> str:
    last = close.last_closed()
    month = selectors.engine.next_month(last) if last else selectors.add_months(timezone.localdate().replace(day=1), -1)
    return month.strftime("%Y-%m")


@require_http_methods(["GET", "POST"])
@revenue_page
def period_close(request):
    close_form = CloseForm(initial={"period": _next_to_close()})
    reopen_form = ReopenForm(initial={"period": (close.last_closed() or timezone.localdate()).strftime("%Y-%m")})
    status = 200
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "close":
            close_form = CloseForm(request.POST)
            if close_form.is_valid():
                try:
                    summary = close.close_period(actor=request.user, period=close_form.cleaned_data["period"])
                except DomainError as exc:
                    _form_error(close_form, exc)
                else:
                    if summary.already_closed:
                        messages.info(request, _("%(month)s was already closed: nothing was posted.")
                                      % {"month": summary.period})
                    else:
                        messages.success(request, _(
                            "%(month)s closed: %(revenue)s of revenue recognised on %(contracts)s contracts in "
                            "%(entries)s journal entries; the month is locked.") % {
                            "month": summary.period, "revenue": summary.revenue_base,
                            "contracts": summary.contracts, "entries": summary.entries})
                    return redirect("revenue:close")
        elif action == "reopen":
            if not getattr(request.user, "is_admin", False):
                raise DjangoPermissionDenied(_("Only an admin can reopen a closed month."))
            reopen_form = ReopenForm(request.POST)
            if reopen_form.is_valid():
                try:
                    closed = close.reopen_period(actor=request.user, period=reopen_form.cleaned_data["period"],
                                                 reason=reopen_form.cleaned_data["reason"])
                except DomainError as exc:
                    _form_error(reopen_form, exc)
                else:
                    messages.success(request, _("%(month)s reopened: its revenue entries were reversed and the "
                                                "month unlocked.") % {"month": closed})
                    return redirect("revenue:close")
        else:
            messages.error(request, _("Choose close or reopen."))
        status = 400
    return _render(request, "revenue/close.html", {
        "closes": selectors.period_closes(user=request.user), "close_form": close_form, "reopen_form": reopen_form,
        "last_closed": close.last_closed()}, status=status)


def _form_error(form, exc: DomainError) -> None:
    """The service's error beside its field (period, reason), anything else above the form."""
    errors = exc.errors or [FieldError(None, exc.message)]
    for error in errors:
        form.add_error(error.field if error.field in form.fields else None, error.message)


@require_GET
@revenue_page
def close_export(request):
    def build():
        return Rows(selectors.period_closes(user=request.user)), {}

    return exports.ui_export(request, build, columns=CLOSE_COLUMNS, stem="revenue-closes",
                             object_type="revenue.periodclose", sheet_title=_("Closed months"),
                             back_url="/revenue/close/")
