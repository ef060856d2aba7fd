"""Order pages: list, detail with fulfilment actions and history, cancel, the contract's link, visibility."""
import pytest
from django.utils import timezone

from l2c.orders.models import LineKind, LineStatus, OrderStatus, Shipment

from .factories import line_of, make_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def order(rep):
    return make_order(owner=rep)


def test_list_and_detail(client, rep, order, django_assert_max_num_queries):
    make_order(owner=rep, name="Globex Corp")
    client.force_login(rep)
    with django_assert_max_num_queries(12):
        page = client.get("/orders/")
    assert page.status_code == 200 and order.number in page.content.decode()
    assert "Globex" not in client.get("/orders/", {"q": "Acme"}).content.decode()
    assert client.get("/orders/", {"status": "nonsense"}).status_code == 200
    detail = client.get(f"/orders/{order.pk}/").content.decode()
    for text in (order.number, order.contract.number, "Ship", "Mark delivered", "Complete milestone", "Activate",
                 "History"):
        assert text in detail


def test_ship_deliver_complete_activate(client, rep, order):
    client.force_login(rep)
    widget = line_of(order, LineKind.GOOD)
    day = str(timezone.localdate())
    response = client.post(f"/orders/{order.pk}/lines/{widget.pk}/ship/",
                           {"quantity": "4", "date": day, "carrier": "DHL", "tracking_number": "JD42"})
    assert response.status_code == 302
    assert Shipment.objects.get().tracking_number == "JD42"
    client.post(f"/orders/{order.pk}/lines/{line_of(order, LineKind.SERVICE).pk}/deliver/", {"date": day})
    milestone = line_of(order, LineKind.MILESTONE).milestones.get()
    client.post(f"/orders/{order.pk}/milestones/{milestone.pk}/complete/", {"date": day})
    client.post(f"/orders/{order.pk}/lines/{line_of(order, LineKind.SUBSCRIPTION).pk}/activate/", {"service_start": ""})
    statuses = dict(order.lines.values_list("kind", "status"))
    assert statuses == {"good": LineStatus.PARTIALLY_FULFILLED, "service": LineStatus.FULFILLED,
                        "milestone": LineStatus.FULFILLED, "subscription": LineStatus.ACTIVE}
    client.post(f"/orders/{order.pk}/lines/{widget.pk}/ship/", {"quantity": "6", "date": day})
    order.refresh_from_db()
    assert order.status == OrderStatus.FULFILLED
    page = client.get(f"/orders/{order.pk}/").content.decode()
    assert "JD42" in page and "fulfilled" in page


def test_over_shipping_shows_the_error(client, rep, order):
    client.force_login(rep)
    widget = line_of(order, LineKind.GOOD)
    response = client.post(f"/orders/{order.pk}/lines/{widget.pk}/ship/", {"quantity": "11"})
    assert response.status_code == 422 and "at most 10 left" in response.content.decode()
    response = client.post(f"/orders/{order.pk}/lines/{widget.pk}/ship/", {"quantity": ""})
    assert response.status_code == 422
    assert not Shipment.objects.exists()


def test_milestone_plan_form(client, rep, order):
    client.force_login(rep)
    line = line_of(order, LineKind.MILESTONE)
    bad = client.post(f"/orders/{order.pk}/lines/{line.pk}/milestones/", {"plan": "Design | 50\nBuild | 40"})
    assert bad.status_code == 422 and "add up to 90" in bad.content.decode()
    ok = client.post(f"/orders/{order.pk}/lines/{line.pk}/milestones/",
                     {"plan": "Design | 50 | 2027-01-31\nBuild | 50"})
    assert ok.status_code == 302 and list(line.milestones.values_list("name", flat=True)) == ["Design", "Build"]


def test_cancel_page(client, rep, finance, order):
    client.force_login(rep)
    assert client.post(f"/orders/{order.pk}/cancel/", {"reason": "x"}).status_code == 403
    client.force_login(finance)
    assert "Cancel the order" in client.get(f"/orders/{order.pk}/").content.decode()
    assert client.post(f"/orders/{order.pk}/cancel/", {"reason": ""}).status_code == 422
    assert client.post(f"/orders/{order.pk}/cancel/", {"reason": "Withdrawn"}).status_code == 302
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED


def test_visibility(client, order, rep2, outsider, finance, manager):
    widget = line_of(order, LineKind.GOOD)
    for user in (rep2, outsider):
        client.force_login(user)
        assert client.get(f"/orders/{order.pk}/").status_code == 404
        assert client.post(f"/orders/{order.pk}/lines/{widget.pk}/ship/", {"quantity": "1"}).status_code == 404
        assert client.get(f"/contracts/{order.contract_id}/orders/").status_code == 404
        assert order.number not in client.get("/orders/").content.decode()
    client.force_login(finance)
    page = client.get(f"/orders/{order.pk}/")
    assert page.status_code == 200 and "/ship/" not in page.content.decode()  # finance reads, does not ship
    assert client.post(f"/orders/{order.pk}/lines/{widget.pk}/ship/", {"quantity": "1"}).status_code == 403
    client.force_login(manager)
    assert client.get(f"/contracts/{order.contract_id}/orders/")["Location"] == f"/orders/{order.pk}/"
    client.logout()
    assert client.get("/orders/").status_code == 302


def test_contract_link_helpers(client, rep, outsider, order, rf):
    from django.template import Context, Template

    from l2c.orders import services

    widget = line_of(order, LineKind.GOOD)
    second = services.order_split(actor=rep, order=order, line_quantities={widget.pk: "3"})
    client.force_login(rep)
    location = client.get(f"/contracts/{order.contract_id}/orders/")["Location"]
    assert location == f"/orders/?q={order.contract.number}"
    template = Template("{% load orders_tags %}{% contract_orders contract as orders %}"
                        "{% for o in orders %}{{ o.number }};{% endfor %}")
    request = rf.get("/")
    request.user = rep
    assert template.render(Context({"request": request, "contract": order.contract})) == \
        f"{order.number};{second.number};"
    request.user = outsider
    assert template.render(Context({"request": request, "contract": order.contract})) == ""
