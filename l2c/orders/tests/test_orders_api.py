"""/api/v1/orders: list, read, shipments, history, fulfil (one schema), cancel, split, milestones — and who may."""
import datetime as dt

import pytest
from django.utils import timezone

from l2c.orders.models import LineKind, OrderStatus, Shipment

from .factories import line_of, make_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def order(rep):
    return make_order(owner=rep)


def test_list_filters_and_paging(api_for, rep, order):
    make_order(owner=rep, name="Globex Corp")
    api = api_for(rep)
    body = api.get("/api/v1/orders").json()
    assert body["count"] == 2
    assert api.get("/api/v1/orders", {"contract": order.contract_id}).json()["items"][0]["number"] == order.number
    assert api.get("/api/v1/orders", {"account": order.account_id}).json()["count"] == 1
    assert api.get("/api/v1/orders", {"q": "Globex"}).json()["count"] == 1
    assert api.get("/api/v1/orders", {"status": "fulfilled"}).json()["count"] == 0
    assert len(api.get("/api/v1/orders", {"limit": 1}).json()["items"]) == 1
    for params in ({"status": "happy"}, {"account": "x"}, {"limit": 0}, {"ordering": "colour"}):
        assert api.get("/api/v1/orders", params).status_code == 422


def test_detail(api_for, rep, order):
    body = api_for(rep).get(f"/api/v1/orders/{order.pk}").json()
    assert body["number"] == order.number and body["status"] == "open" and body["gross_total"] == "2880.0000"
    assert [line["kind"] for line in body["lines"]] == ["good", "service", "milestone", "subscription"]
    assert body["lines"][2]["milestones"][0]["share_percent"] == "100.0000"
    assert body["shipments"] == [] and body["links"]["fulfil"] == f"/api/v1/orders/{order.pk}/fulfil"


def test_fulfil_goods_in_two_shipments(api_for, rep, order):
    api = api_for(rep)
    widget = line_of(order, LineKind.GOOD)
    day = str(timezone.localdate())
    response = api.post(f"/api/v1/orders/{order.pk}/fulfil", {"lines": [
        {"line": widget.pk, "quantity": "3", "tracking_number": "1Z999", "carrier": "UPS", "date": day}]})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "partially_fulfilled" and body["lines"][0]["quantity_fulfilled"] == "3.0000"
    assert body["shipments"][0]["tracking_number"] == "1Z999" and body["shipments"][0]["lines"][0]["quantity"] == "3.0000"
    over = api.post(f"/api/v1/orders/{order.pk}/fulfil", {"lines": [{"line": widget.pk, "quantity": "8"}]})
    assert over.status_code == 422 and over.json()["errors"][0]["field"] == "lines.0.quantity"
    assert "at most 7 left" in over.json()["errors"][0]["message"]
    shipments = api.get(f"/api/v1/orders/{order.pk}/shipments").json()
    assert len(shipments) == 1


def test_fulfil_everything_at_once(api_for, rep, order):
    api = api_for(rep)
    milestone = line_of(order, LineKind.MILESTONE).milestones.get()
    response = api.post(f"/api/v1/orders/{order.pk}/fulfil", {
        "lines": [{"line": line_of(order, LineKind.GOOD).pk, "quantity": "10"},
                  {"line": line_of(order, LineKind.SERVICE).pk}],
        "milestone": milestone.pk,
        "activate": [{"line": line_of(order, LineKind.SUBSCRIPTION).pk}]})
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "fulfilled"
    assert all(line["status"] in ("fulfilled", "active") for line in response.json()["lines"])
    history = api.get(f"/api/v1/orders/{order.pk}/history").json()
    assert any(event["changes"].get("status") == ["partially_fulfilled", "fulfilled"] for event in history)


def test_fulfil_is_all_or_nothing(api_for, rep, order):
    api = api_for(rep)
    response = api.post(f"/api/v1/orders/{order.pk}/fulfil", {
        "lines": [{"line": line_of(order, LineKind.GOOD).pk, "quantity": "2"}],
        "activate": [{"line": line_of(order, LineKind.SUBSCRIPTION).pk, "service_start": "2099-01-01"}]})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "activate.0.service_start"
    assert not Shipment.objects.exists()
    order.refresh_from_db()
    assert order.status == OrderStatus.OPEN


@pytest.mark.parametrize("body, field", [
    ({}, "lines"),
    ({"lines": [{"line": 999999, "quantity": "1"}]}, "lines.0.line"),
    ({"lines": [{"line": "GOOD", "quantity": 2.5}]}, "lines.0.quantity"),
    ({"lines": [{"line": "GOOD", "quantity": "-2"}]}, "lines.0.quantity"),
    ({"lines": [{"line": "GOOD"}]}, "lines.0.quantity"),
    ({"lines": [{"line": "GOOD", "quantity": "1", "date": "2026-02-30"}]}, "lines.0.date"),
    ({"lines": [{"line": "SUB", "quantity": "1"}]}, "lines.0.line"),
    ({"lines": [{"line": "SERVICE", "quantity": "2"}]}, "lines.0.quantity"),
    ({"milestone": 999999}, "milestone"),
    ({"activate": [{"line": "GOOD"}]}, "activate.0.line"),
    ({"deactivate": [{"line": "SUB", "date": "2026-01-01"}]}, None),
    ({"colour": "red"}, "colour"),
])
def test_fulfil_bad_input(api_for, rep, order, body, field):
    ids = {"GOOD": line_of(order, LineKind.GOOD).pk, "SUB": line_of(order, LineKind.SUBSCRIPTION).pk,
           "SERVICE": line_of(order, LineKind.SERVICE).pk}
    for key in ("lines", "activate", "deactivate"):
        for item in body.get(key, []):
            item["line"] = ids.get(item["line"], item["line"])
    response = api_for(rep).post(f"/api/v1/orders/{order.pk}/fulfil", body)
    assert response.status_code in (409, 422), response.json()
    if field is not None:
        found = [e["field"] for e in response.json().get("errors", [])]
        assert any(f == field or f.endswith(field) for f in found), found
    assert not Shipment.objects.exists()


def test_future_shipping_date_refused(api_for, rep, order):
    tomorrow = str(timezone.localdate() + dt.timedelta(days=1))
    response = api_for(rep).post(f"/api/v1/orders/{order.pk}/fulfil", {
        "lines": [{"line": line_of(order, LineKind.GOOD).pk, "quantity": "1", "date": tomorrow}]})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "lines.0.date"


def test_visibility_and_roles(api_for, order, rep, rep2, outsider, finance, manager, admin_user):
    widget = line_of(order, LineKind.GOOD)
    for user in (rep2, outsider):
        api = api_for(user)
        assert api.get(f"/api/v1/orders/{order.pk}").status_code == 404
        assert api.get(f"/api/v1/orders/{order.pk}/shipments").status_code == 404
        assert api.post(f"/api/v1/orders/{order.pk}/fulfil",
                        {"lines": [{"line": widget.pk, "quantity": "1"}]}).status_code == 404
        assert api.post(f"/api/v1/orders/{order.pk}/cancel", {"reason": "x"}).status_code == 404
        assert api.get("/api/v1/orders").json()["count"] == 0
    for user in (manager, finance, admin_user):
        assert api_for(user).get(f"/api/v1/orders/{order.pk}").status_code == 200
        assert api_for(user).get("/api/v1/orders").json()["count"] == 1
    fin = api_for(finance).post(f"/api/v1/orders/{order.pk}/fulfil", {"lines": [{"line": widget.pk, "quantity": "1"}]})
    assert fin.status_code == 403
    from django.test import Client

    assert Client().get("/api/v1/orders").status_code == 401


def test_cancel(api_for, rep, finance, order):
    path = f"/api/v1/orders/{order.pk}/cancel"
    assert api_for(rep).post(path, {"reason": "No"}).status_code == 403
    assert api_for(finance).post(path, {}).status_code == 422
    assert api_for(finance).post(path, {"reason": ""}).status_code == 422
    done = api_for(finance).post(path, {"reason": "Customer withdrew"})
    assert done.status_code == 200 and done.json()["status"] == "cancelled"
    assert api_for(finance).post(path, {"reason": "again"}).status_code == 409


def test_split_and_milestones(api_for, rep, order):
    api = api_for(rep)
    widget = line_of(order, LineKind.GOOD)
    milestone_line = line_of(order, LineKind.MILESTONE)
    plan = api.put(f"/api/v1/orders/{order.pk}/lines/{milestone_line.pk}/milestones",
                   {"milestones": [{"name": "Design", "share": "40"}, {"name": "Build", "share": "60"}]})
    assert plan.status_code == 200 and [m["share_percent"] for m in plan.json()] == ["40.0000", "60.0000"]
    bad = api.put(f"/api/v1/orders/{order.pk}/lines/{milestone_line.pk}/milestones",
                  {"milestones": [{"name": "Design", "share": "40"}]})
    assert bad.status_code == 422 and bad.json()["errors"][0]["code"] == "shares_not_100"
    assert api.put(f"/api/v1/orders/{order.pk}/lines/999999/milestones",
                   {"milestones": [{"name": "A", "share": "100"}]}).status_code == 404
    split = api.post(f"/api/v1/orders/{order.pk}/split", {"lines": [{"line": widget.pk, "quantity": "4"}]})
    assert split.status_code == 201 and split.json()["split_from_id"] == order.pk
    assert split.json()["lines"][0]["quantity"] == "4.0000"
    assert api.post(f"/api/v1/orders/{order.pk}/split",
                    {"lines": [{"line": widget.pk, "quantity": "7"}]}).status_code == 422
