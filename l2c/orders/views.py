"""Order pages: list, detail with per-line fulfilment actions (ship, deliver, complete a milestone, activate
or end a subscription), milestone plans, cancellation and the order's history. Thin: the services decide."""
from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from l2c.core.errors import DomainError, NotFound

from . import selectors, services
from .forms import (
    ActivateForm,
    CancelForm,
    DateForm,
    DeactivateForm,
    MilestonesForm,
    OrderFilterForm,
    ShipForm,
)
from .models import LineKind, OrderLine


def _get_or_404(user, pk):
    try:
        return selectors.order_get(user=user, pk=pk)
    except NotFound as exc:
        raise Http404(exc.message) from exc


def _line_or_404(order, line_id) -> OrderLine:
    line = order.lines.filter(pk=line_id).first()
    if line is None:
        raise Http404(_("Order %(number)s has no line %(id)s.") % {"number": order.number, "id": line_id})
    return line


@login_required
@require_GET
def order_list(request):
    form = OrderFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    qs = selectors.order_list(user=request.user, q=filters.get("q") or None, status=filters.get("status") or None)
    page_obj = Paginator(qs, settings.L2C_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "orders/order_list.html", {"form": form, "page_obj": page_obj, "nav": "orders"})


def _render_detail(request, order, *, status=200, problem=None):
    lines = list(selectors.order_lines(order))
    for line in lines:
        line.milestone_plan = "\n".join(
            f"{m.name} | {m.share_percent.normalize():f} | {m.due_date.isoformat() if m.due_date else ''}".rstrip(" |")
            for m in line.milestones.all())
    return render(request, "orders/order_detail.html", {
        "order": order, "lines": lines, "shipments": selectors.order_shipments(order),
        "events": selectors.order_history(order), "can_fulfil": services.can_fulfil(request.user, order),
        "can_cancel": services.can_cancel(request.user, order), "cancel_form": CancelForm(),
        "kinds": LineKind, "problem": problem, "nav": "orders",
    }, status=status)


@login_required
@require_GET
def order_detail(request, pk: int):
    return _render_detail(request, _get_or_404(request.user, pk))


def _act(request, order, form, call, done: str, *, line=None):
    """Run `call(form.cleaned_data)`; on success flash `done` and go back to the order, else show why (422)."""
    if form.is_valid():
        try:
            call(form.cleaned_data)
        except DomainError as exc:
            if exc.status == 403:
                raise DjangoPermissionDenied(exc.message) from exc
            detail = [e.message for e in exc.errors] or [exc.message]
            return _render_detail(request, order, status=exc.status,
                                  problem={"line": getattr(line, "pk", None), "messages": detail})
        messages.success(request, done)
        return redirect("orders:order-detail", pk=order.pk)
    detail = [f"{form.fields[name].label}: {' '.join(errs)}" if name in form.fields else " ".join(errs)
              for name, errs in form.errors.items()]
    return _render_detail(request, order, status=422, problem={"line": getattr(line, "pk", None), "messages": detail})


@login_required
@require_POST
def line_ship(request, pk: int, line_id: int):
    order = _get_or_404(request.user, pk)
    line = _line_or_404(order, line_id)

    def call(data):
        services.shipment_create(actor=request.user, order=order, lines=[(line, data["quantity"])],
                                 shipped_on=data["date"], carrier=data["carrier"],
                                 tracking_number=data["tracking_number"])
    return _act(request, order, ShipForm(request.POST), call, _("Shipment recorded."), line=line)


@login_required
@require_POST
def line_deliver(request, pk: int, line_id: int):
    order = _get_or_404(request.user, pk)
    line = _line_or_404(order, line_id)
    return _act(request, order, DateForm(request.POST),
                lambda data: services.service_deliver(actor=request.user, line=line, delivered_on=data["date"]),
                _("Service marked as delivered."), line=line)


@login_required
@require_POST
def line_activate(request, pk: int, line_id: int):
    order = _get_or_404(request.user, pk)
    line = _line_or_404(order, line_id)
    return _act(request, order, ActivateForm(request.POST),
                lambda data: services.subscription_activate(actor=request.user, line=line,
                                                            service_start=data["service_start"]),
                _("Subscription activated."), line=line)


@login_required
@require_POST
def line_deactivate(request, pk: int, line_id: int):
    order = _get_or_404(request.user, pk)
    line = _line_or_404(order, line_id)
    return _act(request, order, DeactivateForm(request.POST),
                lambda data: services.subscription_deactivate(actor=request.user, line=line, date=data["date"]),
                _("Subscription ended."), line=line)


@login_required
@require_POST
def line_milestones(request, pk: int, line_id: int):
    order = _get_or_404(request.user, pk)
    line = _line_or_404(order, line_id)
    form = MilestonesForm(request.POST)
    return _act(request, order, form,
                lambda data: services.milestones_set(actor=request.user, line=line, milestones=form.milestones()),
                _("Milestones saved."), line=line)


@login_required
@require_POST
def milestone_complete(request, pk: int, milestone_id: int):
    order = _get_or_404(request.user, pk)
    milestone = next((m for line in order.lines.all() for m in line.milestones.all() if m.pk == milestone_id), None)
    if milestone is None:
        raise Http404(_("Order %(number)s has no milestone %(id)s.") % {"number": order.number, "id": milestone_id})
    return _act(request, order, DateForm(request.POST),
                lambda data: services.milestone_complete(actor=request.user, milestone=milestone,
                                                         completed_on=data["date"]),
                _("Milestone completed."), line=milestone.order_line)


@login_required
@require_POST
def order_cancel(request, pk: int):
    order = _get_or_404(request.user, pk)
    return _act(request, order, CancelForm(request.POST),
                lambda data: services.order_cancel(actor=request.user, order=order, reason=data["reason"]),
                _("Order %(number)s cancelled.") % {"number": order.number})


@login_required
@require_GET
def contract_orders(request, pk: int):
    """From a contract to its order (or the list of its orders when it has several)."""
    orders = list(selectors.orders_for_contract(user=request.user, contract_id=pk)[:2])
    if not orders:
        raise Http404(_("This contract has no order you can see."))
    if len(orders) == 1:
        return redirect("orders:order-detail", pk=orders[0].pk)
    return redirect(f"{reverse('orders:order-list')}?{urlencode({'q': orders[0].contract.number})}")
