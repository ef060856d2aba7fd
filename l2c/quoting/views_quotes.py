"""Quote pages: the list, a new quote from an opportunity, the quote editor (lines and totals with
HTMX), the approval inbox and the approval-rule settings.

Thin like the API: parse with a form, call a selector or a service of `l2c.quoting.services`, show a
`DomainError` beside the field it concerns. A quote the user may not see is a 404; an action their role
may not take is a 403 with the service's message.
"""
from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from l2c.core.errors import DomainError, NotFound, ValidationFailed
from l2c.core.forms import show_domain_error
from l2c.core.history import history_rows
from l2c.core.money import round_money
from l2c.core.paging import capped_page
from l2c.pipeline import selectors as pipeline_selectors

from . import pricing
from . import selectors as quote_selectors
from .forms_quotes import (
    ApprovalRuleForm,
    DecisionForm,
    LineEditForm,
    LineForm,
    QuoteCreateForm,
    QuoteHeaderForm,
)
from .models import ApprovalRule, ApprovalStatus, PriceBookEntry, Quote, QuoteStatus
from .services import approvals as approval_services
from .services import quotes as quote_services

DECIDED_RECENTLY_DAYS = 30


# --- helpers ----------------------------------------------------------------------------------------

def _is_htmx(request) -> bool:
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.history_restore_request


def _quote_or_404(request, pk) -> Quote:
    try:
        return quote_selectors.quote_get(request.user, pk)
    except NotFound as exc:
        raise Http404(exc.message) from exc


def _safe_next(request, fallback: str) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(candidate, allowed_hosts={request.get_host()},
                                                    require_https=request.is_secure()):
        return candidate
    return fallback


def _require_sales(request) -> None:
    if not request.user.is_sales:
        raise Http404(_("Quotes are made by sales users."))


def _require_approver(request) -> None:
    user = request.user
    if not (user.is_admin or user.is_manager or user.is_finance):
        raise Http404(_("The approval inbox is for managers, finance and admins."))


def _require_admin(request) -> None:
    if not request.user.is_admin:
        raise Http404(_("Only an admin may change the approval rules."))


def _read_only_reason(quote: Quote, user) -> str:
    """Why the quote cannot be changed here, in words (empty when it can)."""
    refusal = quote_services.edit_refusal(quote)
    if refusal:
        return refusal
    if not user.is_sales:
        return _("Your role can read quotes but not change them.")
    return ""


def _price_entries(quote: Quote) -> dict[int, PriceBookEntry]:
    if quote.price_book_id is None:
        return {}
    entries = PriceBookEntry.objects.filter(price_book_id=quote.price_book_id).select_related("price_book")
    return {entry.product_id: entry for entry in entries}


def _price_labels(quote: Quote) -> dict[int, str]:
    """Product id → the list price text the product picker shows, e.g. `1,200.00 CNY` or `from 9.50 CNY`."""
    labels = {}
    for product_id, entry in _price_entries(quote).items():
        amount = f"{round_money(entry.list_price, quote.currency):,} {quote.currency}"
        labels[product_id] = amount if entry.pricing == "flat" else _("%(price)s, volume prices") % {"price": amount}
    return labels


def _sections(lines) -> list[dict]:
    """The lines grouped by section, in line order; a section appears where its first line is."""
    groups: list[dict] = []
    index: dict[str, dict] = {}
    for line in lines:
        group = index.get(line.section)
        if group is None:
            group = index[line.section] = {"name": line.section, "lines": []}
            groups.append(group)
        group["lines"].append(line)
    return groups


def _warnings(quote: Quote) -> list[str]:
    """What the totals block warns about (a missing tax rate…), from the pricing engine (nothing saved)."""
    return [str(w) for w in pricing.compute(quote).warnings]


def _can_edit(quote: Quote, user) -> bool:
    return user.is_sales and quote_services.can_edit(quote)


def _lines_context(request, quote: Quote, *, add_form=None, line_forms=None) -> dict:
    """What the lines table, the totals block and the status panel need (also for HTMX answers)."""
    user = request.user
    editable = _can_edit(quote, user)
    lines = list(quote_selectors.quote_lines(quote))
    prices = _price_labels(quote) if editable else {}
    line_forms = dict(line_forms or {})
    if editable:
        for line in lines:
            if line.pk not in line_forms:
                line_forms[line.pk] = LineEditForm(instance=line, prefix=f"l{line.pk}", form_id=f"line-{line.pk}")
        if add_form is None:
            add_form = LineForm(prefix="add", prices=prices, initial={"quantity": 1, "discount_percent": 0})
    for line in lines:
        line.form = line_forms.get(line.pk)
    approvals = list(quote_selectors.quote_approvals(quote))
    for approval in approvals:
        # who may decide a pending approval, by name (the roles are shown for every approval)
        approval.approver_names = (approval_services.approvers_for(approval, quote)
                                   if approval.status == ApprovalStatus.PENDING else [])
    return {
        "quote": quote,
        "editable": editable,
        "lines": lines,
        "sections": _sections(lines),
        "add_form": add_form,
        "warnings": _warnings(quote),
        "approvals": approvals,
        "can_decide": approval_services.can_decide(user, quote),
        "blockers": approval_services.blockers(quote),
        "read_only_reason": "" if editable else _read_only_reason(quote, user),
        "can_submit": user.is_sales and approval_services.can_submit(quote),
        # a draft, rejected or approved quote is edited in place: "New version" is offered on read-only ones
        "can_new_version": user.is_sales and not editable and quote_services.can_new_version(quote),
        "can_make_primary": user.is_sales and not quote.is_primary and quote.status not in (
            QuoteStatus.SUPERSEDED, QuoteStatus.DECLINED, QuoteStatus.EXPIRED),
        "can_send": user.is_sales and quote.status in (QuoteStatus.APPROVED, QuoteStatus.SENT),
        "decision_form": DecisionForm(),
    }


def _editor_context(request, quote: Quote, *, header_form=None, action_error=None, **lines_kwargs) -> dict:
    context = _lines_context(request, quote, **lines_kwargs)
    if header_form is None and context["editable"]:
        header_form = QuoteHeaderForm(instance=quote, account=quote.account, prefix="h")
    versions = quote_selectors.quote_versions(request.user, quote)
    context.update({
        "header_form": header_form,
        "versions": list(versions.select_related(None).only("pk", "number", "version", "status", "gross_total",
                                                            "currency", "created_at")),
        "action_error": action_error,
        "events": history_rows(quote, limit=30),
        "nav": "quotes",
    })
    return context


def _render_editor(request, quote, *, status=200, **kwargs):
    return render(request, "quoting/quotes/editor.html", _editor_context(request, quote, **kwargs), status=status)


def _lines_answer(request, pk, *, error: DomainError | None = None, **kwargs):
    """After a line change: for HTMX the lines table with the totals and status blocks (out of band);
    without JavaScript the editor page (422 when the change was refused, else a redirect)."""
    quote = _quote_or_404(request, pk)  # read again: the service recomputed the totals and maybe the status
    if _is_htmx(request):
        return render(request, "quoting/quotes/_lines_answer.html", _lines_context(request, quote, **kwargs))
    if error is not None:
        return _render_editor(request, quote, status=error.status, **kwargs)
    return redirect("quoting:quote-detail", pk=pk)


# --- list -------------------------------------------------------------------------------------------

@login_required
@require_GET
def quote_list(request):
    filters = {k: request.GET.get(k) or None for k in ("q", "status", "owner")}
    ordering = request.GET.get("ordering") or None
    error = None
    try:
        qs = quote_selectors.quote_list(request.user, ordering=ordering, **filters)
        page = capped_page(request, qs.select_related("account", "opportunity", "owner"))
    except ValidationFailed as exc:
        error = exc.message
        page = capped_page(request, Quote.objects.none())
    return render(request, "quoting/quotes/list.html", {
        "page_obj": page, "filters": filters, "ordering": request.GET.get("ordering", ""), "error": error,
        "statuses": QuoteStatus.choices, "owners": pipeline_selectors.assignable_owners(user=request.user),
        "nav": "quotes",
    })


# --- create -----------------------------------------------------------------------------------------

@login_required
@require_http_methods(["GET", "POST"])
def quote_create(request, opportunity_id):
    _require_sales(request)
    opportunity = pipeline_selectors.opportunity_get(user=request.user, pk=opportunity_id)
    initial = {"valid_until": timezone.localdate() + dt.timedelta(days=30), "contact": opportunity.contact_id,
               "title": opportunity.name}
    book = pricing.price_book_for(currency=opportunity.currency, segment=opportunity.account.segment,
                                  on=timezone.localdate())
    if book is not None:
        initial["price_book"] = book.pk
    form = QuoteCreateForm(request.POST or None, account=opportunity.account, initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                quote = quote_services.quote_create(actor=request.user, opportunity=opportunity,
                                                    **form.service_values())
            except DomainError as exc:
                show_domain_error(form, exc)
                status = exc.status
            else:
                messages.success(request, _("Quote %(number)s created.") % {"number": quote.number})
                return redirect("quoting:quote-detail", pk=quote.pk)
        else:
            status = 422
    return render(request, "quoting/quotes/create.html", {"form": form, "opportunity": opportunity, "nav": "quotes"},
                  status=status)


# --- editor -----------------------------------------------------------------------------------------

@login_required
@require_http_methods(["GET", "POST"])
def quote_detail(request, pk):
    """The editor. GET shows it; POST saves the header fields."""
    quote = _quote_or_404(request, pk)
    if request.method == "GET":
        return _render_editor(request, quote)
    form = QuoteHeaderForm(request.POST, instance=quote, account=quote.account, prefix="h")
    if form.is_valid():
        try:
            quote_services.quote_update(actor=request.user, quote=quote, **form.changed_values())
        except DomainError as exc:
            show_domain_error(form, exc)
            return _render_editor(request, _quote_or_404(request, pk), header_form=form, status=exc.status)
        messages.success(request, _("Quote saved."))
        return redirect("quoting:quote-detail", pk=pk)
    return _render_editor(request, quote, header_form=form, status=422)


@login_required
@require_GET
def quote_totals(request, pk):
    """The totals block alone (HTMX refresh)."""
    quote = _quote_or_404(request, pk)
    return render(request, "quoting/quotes/_totals.html", {"quote": quote, "warnings": _warnings(quote)})


@login_required
@require_POST
def line_add(request, pk):
    quote = _quote_or_404(request, pk)
    form = LineForm(request.POST, prefix="add", prices=_price_labels(quote))
    if form.is_valid():
        try:
            quote_services.line_add(actor=request.user, quote=quote, **form.service_values())
        except DomainError as exc:
            show_domain_error(form, exc)
            return _lines_answer(request, pk, error=exc, add_form=form)
        return _lines_answer(request, pk)
    return _lines_answer(request, pk, error=ValidationFailed([]), add_form=form)


def _line_or_404(quote: Quote, line_id):
    line = quote.lines.filter(pk=line_id).select_related("product").first()
    if line is None:
        raise Http404(_("No such line on this quote."))
    return line


@login_required
@require_POST
def line_update(request, pk, line_id):
    quote = _quote_or_404(request, pk)
    line = _line_or_404(quote, line_id)
    form = LineEditForm(request.POST, instance=line, prefix=f"l{line.pk}", form_id=f"line-{line.pk}")
    if form.is_valid():
        values = form.service_values()
        if not values:
            return _lines_answer(request, pk)
        try:
            quote_services.line_update(actor=request.user, line=line, **values)
        except DomainError as exc:
            show_domain_error(form, exc)
            return _lines_answer(request, pk, error=exc, line_forms={line.pk: form})
        return _lines_answer(request, pk)
    return _lines_answer(request, pk, error=ValidationFailed([]), line_forms={line.pk: form})


@login_required
@require_POST
def line_delete(request, pk, line_id):
    quote = _quote_or_404(request, pk)
    line = _line_or_404(quote, line_id)
    try:
        quote_services.line_delete(actor=request.user, line=line)
    except DomainError as exc:
        return _action_refused(request, pk, exc)
    return _lines_answer(request, pk)


@login_required
@require_POST
def line_move(request, pk, line_id):
    """Move a line one place up or down (`direction=up|down`) through `lines_reorder`."""
    quote = _quote_or_404(request, pk)
    line = _line_or_404(quote, line_id)
    ids = list(quote.lines.order_by("position", "id").values_list("pk", flat=True))
    at = ids.index(line.pk)
    to = at - 1 if request.POST.get("direction") == "up" else at + 1
    if 0 <= to < len(ids):
        ids[at], ids[to] = ids[to], ids[at]
        try:
            quote_services.lines_reorder(actor=request.user, quote=quote, line_ids=ids)
        except DomainError as exc:
            return _action_refused(request, pk, exc)
    return _lines_answer(request, pk)


def _action_refused(request, pk, exc: DomainError):
    """A refused action: the editor (or for HTMX its lines block) with the reason, status from the error."""
    quote = _quote_or_404(request, pk)
    if _is_htmx(request):
        context = _lines_context(request, quote)
        context["action_error"] = exc.message
        return render(request, "quoting/quotes/_lines_answer.html", context, status=200)
    return _render_editor(request, quote, action_error=exc.message, status=exc.status)


# --- actions ----------------------------------------------------------------------------------------

def _run_action(request, pk, action, success: str):
    quote = _quote_or_404(request, pk)
    try:
        result = action(quote)
    except DomainError as exc:
        next_url = _safe_next(request, "")
        if next_url:
            messages.error(request, exc.message)
            return redirect(next_url)
        return _render_editor(request, _quote_or_404(request, pk), action_error=exc.message, status=exc.status)
    messages.success(request, success)
    target = result if isinstance(result, Quote) else quote
    return redirect(_safe_next(request, reverse("quoting:quote-detail", args=[target.pk])))


@login_required
@require_POST
def quote_submit(request, pk):
    def act(quote):
        submitted = approval_services.quote_submit(actor=request.user, quote=quote)
        if submitted.status == QuoteStatus.APPROVED:
            messages.info(request, _("No approval rule applies: the quote is approved."))
        return submitted

    return _run_action(request, pk, act, _("Quote submitted."))


@login_required
@require_POST
def quote_approve(request, pk):
    comment = request.POST.get("comment", "").strip()
    return _run_action(request, pk, lambda q: approval_services.quote_approve(actor=request.user, quote=q,
                                                                              comment=comment),
                       _("Approved."))


@login_required
@require_POST
def quote_reject(request, pk):
    comment = request.POST.get("comment", "").strip()
    return _run_action(request, pk, lambda q: approval_services.quote_reject(actor=request.user, quote=q,
                                                                             comment=comment),
                       _("Rejected."))


@login_required
@require_POST
def quote_make_primary(request, pk):
    return _run_action(request, pk, lambda q: quote_services.quote_set_primary(actor=request.user, quote=q),
                       _("This quote is now the opportunity's primary quote."))


@login_required
@require_POST
def quote_new_version(request, pk):
    return _run_action(request, pk, lambda q: quote_services.quote_new_version(actor=request.user, quote=q),
                       _("New version created: the previous one is kept read-only."))


# --- approval inbox ---------------------------------------------------------------------------------

@login_required
@require_GET
def approval_inbox(request):
    _require_approver(request)
    pending = quote_selectors.approvals_inbox(request.user)
    decided = quote_selectors.approvals_decided(request.user, days=DECIDED_RECENTLY_DAYS)[:50]
    return render(request, "quoting/approvals/inbox.html", {
        "pending": pending, "decided": decided, "decided_days": DECIDED_RECENTLY_DAYS, "nav": "approvals",
    })


# --- approval rules (admin) -------------------------------------------------------------------------

def _rule_or_404(pk) -> ApprovalRule:
    try:
        return quote_selectors.approval_rule_get(pk)
    except NotFound as exc:
        raise Http404(exc.message) from exc


@login_required
@require_GET
def approval_rule_list(request):
    _require_admin(request)
    rules = quote_selectors.approval_rule_list().order_by("-active", "level", "threshold_percent", "id")
    return render(request, "quoting/approvals/rule_list.html", {"rules": rules, "nav": "approval_rules"})


@login_required
@require_http_methods(["GET", "POST"])
def approval_rule_edit(request, pk=None):
    _require_admin(request)
    rule = _rule_or_404(pk) if pk is not None else None
    form = ApprovalRuleForm(request.POST or None, instance=rule,
                            initial=None if rule else {"approver_roles": ["manager"], "level": 1})
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                if rule is None:
                    approval_services.approval_rule_create(actor=request.user, **form.cleaned_data)
                else:
                    approval_services.approval_rule_update(actor=request.user, rule=rule, **form.changed_values())
            except DomainError as exc:
                show_domain_error(form, exc)
                status = exc.status
            else:
                messages.success(request, _("Approval rule saved."))
                return redirect("quoting:approval-rule-list")
        else:
            status = 422
    return render(request, "quoting/approvals/rule_form.html", {"form": form, "rule": rule,
                                                                 "nav": "approval_rules"}, status=status)


@login_required
@require_POST
def approval_rule_deactivate(request, pk):
    _require_admin(request)
    rule = _rule_or_404(pk)
    try:
        approval_services.approval_rule_update(actor=request.user, rule=rule, active=False)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Approval rule “%(name)s” deactivated.") % {"name": rule.name})
    return redirect("quoting:approval-rule-list")
