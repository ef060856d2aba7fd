"""Orders: created from signed contracts (idempotent), phases, fulfilment per product kind, status, cancel."""
import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from l2c.core.errors import InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from l2c.core.models import AuditEvent
from l2c.orders import services
from l2c.orders.models import LineKind, LineStatus, Milestone, Order, OrderLine, OrderStatus, Shipment

from .factories import line_of, make_contract, make_order

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate


def fields(exc) -> set:
    return {e.field for e in exc.value.errors}


@pytest.fixture
def order(rep):
    return make_order(owner=rep)


def test_order_copies_the_contract(rep):
    contract = make_contract(owner=rep)
    order = services.order_create_from_contract(contract)
    assert order.number.startswith(f"ORD-{order.ordered_on.year}-") and order.status == OrderStatus.OPEN
    assert (order.account_id, order.owner_id, order.currency) == (contract.account_id, rep.pk, "USD")
    assert order.gross_total == contract.gross_total and order.net_total == contract.net_total
    lines = list(order.lines.order_by("position"))
    assert [line.kind for line in lines] == [LineKind.GOOD, LineKind.SERVICE, LineKind.MILESTONE, LineKind.SUBSCRIPTION]
    for line, cline in zip(lines, contract.lines.order_by("position"), strict=True):
        assert line.contract_line_id == cline.pk and line.quantity == cline.quantity
        assert (line.unit_price, line.net_amount, line.tax_amount, line.gross_amount) == (
            cline.unit_price, cline.net_amount, cline.tax_amount, cline.gross_amount)
        assert line.service_start == cline.service_start and line.status == LineStatus.PENDING
    # a milestone line starts with one milestone of 100 %
    assert list(lines[2].milestones.values_list("share_percent", flat=True)) == [Decimal("100")]
    assert AuditEvent.objects.filter(object_type="orders.order", object_id=str(order.pk), action="create").exists()


def test_creation_is_idempotent(rep):
    contract = make_contract(owner=rep)
    first = services.order_create_from_contract(contract)
    again = services.order_create_from_contract(contract)
    assert first.pk == again.pk and Order.objects.filter(contract=contract).count() == 1


def test_contract_created_event_creates_the_order_once(rep, django_capture_on_commit_callbacks):
    from l2c.contracts.services import _contract_payload
    from l2c.core import events

    contract = make_contract(owner=rep)
    with django_capture_on_commit_callbacks(execute=True):
        events.publish("contract.created", _contract_payload(contract))
    with django_capture_on_commit_callbacks(execute=True):
        events.publish("contract.created", _contract_payload(contract))  # delivered twice
    assert Order.objects.filter(contract=contract).count() == 1


def test_signing_a_quote_creates_the_order(rep, django_capture_on_commit_callbacks, settings, tmp_path):
    from l2c.contracts.tests.factories import make_sent_quote, sign

    settings.VAR_DIR = tmp_path
    settings.L2C_SIGNING_PKCS12 = ""
    settings.L2C_SIGNING_PASSWORD = ""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    quote, link, _token = make_sent_quote(owner=rep)
    with django_capture_on_commit_callbacks(execute=True):
        contract = sign(link, quote)
    order = Order.objects.get(contract=contract)
    assert order.lines.count() == contract.lines.count() == 2  # the optional quote line is not ordered
    assert order.gross_total == contract.gross_total


def test_further_order_only_for_remaining_quantities(rep, order):
    contract = order.contract
    widget = line_of(order, LineKind.GOOD).contract_line
    with pytest.raises(ValidationFailed) as exc:
        services.order_create_from_contract(contract, actor=rep, line_quantities={widget.pk: "1"})
    assert fields(exc) == {"lines.0.quantity"} and "ordered once" in exc.value.errors[0].message
    services.order_cancel(actor=None, order=order, reason="Customer changed the delivery address")
    second = services.order_create_from_contract(contract, actor=rep, line_quantities={widget.pk: "4"})
    assert second.pk != order.pk and second.lines.get().quantity == 4
    assert second.lines.get().net_amount == Decimal("400.00")
    with pytest.raises(ValidationFailed) as exc:
        services.order_create_from_contract(contract, actor=rep, line_quantities={widget.pk: "7"})
    assert "Only 6" in exc.value.errors[0].message
    with pytest.raises(ValidationFailed) as exc:
        services.order_create_from_contract(contract, actor=rep, line_quantities={999999: "1", widget.pk: "x"})
    assert fields(exc) == {"lines.0.contract_line", "lines.1.quantity"}


def test_partial_shipments_and_status(rep, order):
    widget = line_of(order, LineKind.GOOD)
    shipment = services.shipment_create(actor=rep, order=order, lines=[(widget, "4")], carrier="DHL",
                                        tracking_number="JD0001", shipped_on=TODAY())
    widget.refresh_from_db()
    order.refresh_from_db()
    assert (widget.quantity_fulfilled, widget.status) == (Decimal("4"), LineStatus.PARTIALLY_FULFILLED)
    assert order.status == OrderStatus.PARTIALLY_FULFILLED
    assert shipment.lines.get().quantity == 4 and shipment.tracking_number == "JD0001"
    assert widget.net_fulfilled == Decimal("400.00")
    services.shipment_create(actor=rep, order=order, lines=[(widget.pk, "6")])
    widget.refresh_from_db()
    assert widget.status == LineStatus.FULFILLED and widget.delivered_on == TODAY()
    assert widget.net_fulfilled == widget.net_amount and widget.gross_fulfilled == widget.gross_amount
    assert Shipment.objects.filter(order=order).count() == 2


def test_over_shipping_is_refused_and_changes_nothing(rep, order):
    widget = line_of(order, LineKind.GOOD)
    services.shipment_create(actor=rep, order=order, lines=[(widget, "8")])
    with pytest.raises(ValidationFailed) as exc:
        services.shipment_create(actor=rep, order=order, lines=[(widget, "3")], tracking_number="X")
    assert fields(exc) == {"lines.0.quantity"}
    assert "at most 2 left" in exc.value.errors[0].message
    widget.refresh_from_db()
    assert widget.quantity_fulfilled == 8 and Shipment.objects.count() == 1


@pytest.mark.parametrize("qty, code", [("0", "min_value"), ("-1", "min_value"), ("abc", "invalid"),
                                       ("1.00001", "invalid"), ("NaN", "invalid"), (1.5, "invalid"), ("", "required")])
def test_bad_quantities(rep, order, qty, code):
    widget = line_of(order, LineKind.GOOD)
    with pytest.raises(ValidationFailed) as exc:
        services.shipment_create(actor=rep, order=order, lines=[(widget, qty)])
    assert exc.value.errors[0].code == code and not Shipment.objects.exists()


def test_bad_shipment_input(rep, order):
    service = line_of(order, LineKind.SERVICE)
    future = TODAY() + dt.timedelta(days=1)
    with pytest.raises(ValidationFailed) as exc:
        services.shipment_create(actor=rep, order=order, lines=[(service, "1"), (999999, "1")],
                                 shipped_on=future, carrier="x" * 101)
    assert fields(exc) == {"date", "carrier", "lines.0.line", "lines.1.line"}
    with pytest.raises(ValidationFailed):
        services.shipment_create(actor=rep, order=order, lines=[])


def test_uneven_amounts_add_up_exactly(rep):
    order = make_order(owner=rep, lines=(("Bolt", "good", "10.00", 3),))
    line = order.lines.get()
    reported = []
    for _ in range(3):
        before = line.net_fulfilled
        services.shipment_create(actor=rep, order=order, lines=[(line, "1")])
        line.refresh_from_db()
        reported.append(line.net_fulfilled - before)
    assert sum(reported) == line.net_amount


def test_service_delivery(rep, order):
    service = line_of(order, LineKind.SERVICE)
    day = TODAY() - dt.timedelta(days=2)
    services.service_deliver(actor=rep, line=service, delivered_on=day)
    service.refresh_from_db()
    assert (service.status, service.delivered_on, service.quantity_fulfilled) == (LineStatus.FULFILLED, day, 1)
    with pytest.raises(ValidationFailed) as exc:
        services.service_deliver(actor=rep, line=service)
    assert exc.value.errors[0].code == "already_done"
    with pytest.raises(ValidationFailed) as exc:
        services.service_deliver(actor=rep, line=line_of(order, LineKind.GOOD))
    assert exc.value.errors[0].code == "wrong_kind"


def test_milestone_shares_must_sum_to_100(rep, order):
    line = line_of(order, LineKind.MILESTONE)
    with pytest.raises(ValidationFailed) as exc:
        services.milestones_set(actor=rep, line=line, milestones=[{"name": "Design", "share": "30"},
                                                                  {"name": "Build", "share": "60"}])
    assert exc.value.errors[0].code == "shares_not_100" and "90" in exc.value.errors[0].message
    with pytest.raises(ValidationFailed) as exc:
        services.milestones_set(actor=rep, line=line, milestones=[{"name": "", "share": "120"},
                                                                  {"name": "B", "share": "0", "due_date": "2026-13-01"}])
    assert fields(exc) == {"milestones.0.name", "milestones.0.share", "milestones.1.share",
                           "milestones.1.due_date"}
    assert line.milestones.count() == 1  # unchanged
    plan = services.milestones_set(actor=rep, line=line, milestones=[
        {"name": "Design", "share": "30", "due_date": "2027-01-31"}, {"name": "Build", "share": "45"},
        {"name": "Go-live", "share": "25"}])
    assert [m.share_percent for m in plan] == [30, 45, 25] and plan[0].due_date == dt.date(2027, 1, 31)


def test_milestones_complete_one_at_a_time(rep, order):
    line = line_of(order, LineKind.MILESTONE)
    design, build = services.milestones_set(actor=rep, line=line, milestones=[
        {"name": "Design", "share": "30"}, {"name": "Build", "share": "70"}])
    services.milestone_complete(actor=rep, milestone=design)
    line.refresh_from_db()
    assert line.status == LineStatus.PARTIALLY_FULFILLED and line.quantity_fulfilled == Decimal("0.3")
    assert line.net_fulfilled == Decimal("300.00")
    with pytest.raises(ValidationFailed) as exc:
        services.milestone_complete(actor=rep, milestone=design)
    assert exc.value.errors[0].code == "already_completed"
    with pytest.raises(ValidationFailed) as exc:  # the plan is locked once a milestone is done
        services.milestones_set(actor=rep, line=line, milestones=[{"name": "All", "share": "100"}])
    assert exc.value.errors[0].code == "locked"
    services.milestone_complete(actor=rep, milestone=build.pk)
    line.refresh_from_db()
    assert line.status == LineStatus.FULFILLED and line.net_fulfilled == line.net_amount
    with pytest.raises(NotFound):
        services.milestone_complete(actor=rep, milestone=999999)


def test_subscription_activation_and_end(rep, order):
    sub = line_of(order, LineKind.SUBSCRIPTION)
    with pytest.raises(ValidationFailed) as exc:
        services.subscription_activate(actor=rep, line=sub, service_start=sub.service_end + dt.timedelta(days=1))
    assert fields(exc) == {"service_start"}
    services.subscription_activate(actor=rep, line=sub)  # defaults to the line's service start
    sub.refresh_from_db()
    assert (sub.status, sub.active_from) == (LineStatus.ACTIVE, sub.service_start)
    with pytest.raises(ValidationFailed):
        services.subscription_activate(actor=rep, line=sub)
    with pytest.raises(ValidationFailed) as exc:
        services.subscription_deactivate(actor=rep, line=sub, date=sub.active_from - dt.timedelta(days=1))
    assert fields(exc) == {"date"}
    services.subscription_deactivate(actor=rep, line=sub, date=sub.service_end)
    sub.refresh_from_db()
    assert sub.status == LineStatus.ENDED and sub.active_until == sub.service_end
    with pytest.raises(InvalidTransition):
        services.subscription_deactivate(actor=rep, line=sub, date=sub.service_end)


def test_order_fulfilled_after_every_line(rep, order, django_capture_on_commit_callbacks):
    from l2c.core import events

    seen = []
    events.subscribe("order.line_fulfilled", lambda name, payload: seen.append((name, payload)))
    events.subscribe("order.fulfilled", lambda name, payload: seen.append((name, payload)))
    with django_capture_on_commit_callbacks(execute=True):
        services.shipment_create(actor=rep, order=order, lines=[(line_of(order, LineKind.GOOD), "10")])
        services.service_deliver(actor=rep, line=line_of(order, LineKind.SERVICE))
        services.milestone_complete(actor=rep, milestone=line_of(order, LineKind.MILESTONE).milestones.get())
        order.refresh_from_db()
        assert order.status == OrderStatus.PARTIALLY_FULFILLED
        services.subscription_activate(actor=rep, line=line_of(order, LineKind.SUBSCRIPTION))
    order.refresh_from_db()
    assert order.status == OrderStatus.FULFILLED and order.fulfilled_on is not None
    mine = [(n, p) for n, p in seen if p.get("order_id") == order.pk]
    assert [n for n, _p in mine] == ["order.line_fulfilled"] * 4 + ["order.fulfilled"]
    assert sum(Decimal(p["net_amount"]) for n, p in mine if n == "order.line_fulfilled") == order.net_total
    assert {p["source"] for n, p in mine if n == "order.line_fulfilled"} == {"shipment", "delivery", "milestone",
                                                                              "activation"}
    with pytest.raises(InvalidTransition):
        services.shipment_create(actor=rep, order=order, lines=[(line_of(order, LineKind.GOOD), "1")])


def test_cancel_rules(rep, finance, manager, order):
    with pytest.raises(PermissionDenied):
        services.order_cancel(actor=rep, order=order, reason="No")
    with pytest.raises(ValidationFailed) as exc:
        services.order_cancel(actor=finance, order=order, reason="  ")
    assert fields(exc) == {"reason"}
    other = make_order(owner=rep, name="Other Ltd")
    services.service_deliver(actor=rep, line=line_of(other, LineKind.SERVICE))
    with pytest.raises(InvalidTransition):
        services.order_cancel(actor=manager, order=other, reason="Too late")
    done = services.order_cancel(actor=finance, order=order, reason="Customer withdrew")
    assert done.status == OrderStatus.CANCELLED and done.cancel_reason == "Customer withdrew"
    assert set(done.lines.values_list("status", flat=True)) == {LineStatus.CANCELLED}
    with pytest.raises(InvalidTransition):
        services.order_cancel(actor=finance, order=order, reason="again")
    with pytest.raises(InvalidTransition):
        services.service_deliver(actor=rep, line=line_of(order, LineKind.SERVICE))


def test_permissions(rep, rep2, outsider, finance, manager, order):
    widget = line_of(order, LineKind.GOOD)
    for user in (rep2, outsider):
        with pytest.raises(NotFound):
            services.shipment_create(actor=user, order=order, lines=[(widget, "1")])
    with pytest.raises(PermissionDenied):  # finance sees the order but does not ship
        services.shipment_create(actor=finance, order=order, lines=[(widget, "1")])
    services.shipment_create(actor=manager, order=order, lines=[(widget, "1")])  # same team
    assert Shipment.objects.count() == 1


def test_split_into_a_second_phase(rep, order):
    widget = line_of(order, LineKind.GOOD)
    sub = line_of(order, LineKind.SUBSCRIPTION)
    services.shipment_create(actor=rep, order=order, lines=[(widget, "6")])
    with pytest.raises(ValidationFailed) as exc:
        services.order_split(actor=rep, order=order, line_quantities={widget.pk: "5", sub.pk: "2"})
    assert fields(exc) == {"lines.0.quantity", "lines.1.quantity"}
    phase2 = services.order_split(actor=rep, order=order, line_quantities={widget.pk: "4", sub.pk: "5"},
                                  notes="Phase 2")
    order.refresh_from_db()
    widget.refresh_from_db()
    assert phase2.split_from_id == order.pk and phase2.contract_id == order.contract_id
    assert widget.quantity == 6 and widget.status == LineStatus.FULFILLED
    moved = phase2.lines.get(kind=LineKind.GOOD)
    assert moved.quantity == 4 and moved.contract_line_id == widget.contract_line_id
    assert OrderLine.objects.get(pk=sub.pk).order_id == phase2.pk  # a subscription moves whole
    # nothing is ordered twice, and the money is unchanged
    assert services.remaining_quantities(order.contract) == {}
    assert order.gross_total + phase2.gross_total == order.contract.gross_total
    assert widget.net_amount + moved.net_amount == Decimal("1000.00")
    assert Milestone.objects.filter(order_line__order=order).count() == 1


def test_split_keeps_a_line_and_moves_pending_lines_only(rep):
    order = make_order(owner=rep)
    everything = {line.pk: line.quantity for line in order.lines.all()}
    with pytest.raises(ValidationFailed) as exc:
        services.order_split(actor=rep, order=order, line_quantities=everything)
    assert exc.value.errors[0].code == "nothing_left"
    service = line_of(order, LineKind.SERVICE)
    services.service_deliver(actor=rep, line=service)
    with pytest.raises(ValidationFailed) as exc:
        services.order_split(actor=rep, order=order, line_quantities={service.pk: "1"})
    assert exc.value.errors[0].code == "not_movable"
    with pytest.raises(ValidationFailed) as exc:
        services.order_split(actor=rep, order=order, line_quantities={})
    assert Order.objects.count() == 1
