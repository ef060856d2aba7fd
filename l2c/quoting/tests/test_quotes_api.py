"""The quotes API: the whole flow over HTTP, amounts as strings, roles, 404s, bad input as problems."""
from decimal import Decimal as D

import pytest

from l2c.quoting.models import ApprovalRule, Quote
from l2c.quoting.tests.quote_factories import Catalogue, default_rules, gb_vat, opportunity_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def cat(db):
    gb_vat()
    default_rules()
    return Catalogue("USD")


def _create(api, opportunity, **extra):
    response = api.post("/api/v1/quotes", {"opportunity": opportunity.pk, **extra})
    assert response.status_code == 201, response.content
    return response.json()


def test_build_submit_approve_over_the_api(api_for, rep, manager, cat):
    api = api_for(rep)
    opportunity = opportunity_for(rep)
    quote = _create(api, opportunity, title="Offer", header_discount_percent="5")
    assert quote["status"] == "draft" and quote["is_primary"] and quote["price_book"]["id"] == cat.book.pk
    assert quote["blockers"] == ["The quote has no lines.", "The quote has not been submitted for approval."]
    # lines: the response is the whole quote with totals as strings
    response = api.post(f"/api/v1/quotes/{quote['id']}/lines",
                        {"product": cat.good.pk, "quantity": "3", "discount_percent": "20"})
    assert response.status_code == 201, response.content
    body = response.json()
    line = body["lines"][0]
    assert (line["list_price"], line["unit_price"], line["net_amount"], line["tax_rate"]) == (
        "100.0000", "80.0000", "228.00", "20")
    assert body["totals"]["net_total"] == "228.00"  # 240 less 5 %
    assert body["totals"]["tax_total"] == "45.60" and body["totals"]["gross_total"] == "273.60"
    assert body["totals"]["effective_discount_percent"] == "24"
    assert body["totals"]["tax_breakdown"] == [{"rate": "20", "inclusive": False, "net": "228.00", "tax": "45.60"}]
    assert body["warnings"] == []
    # submit: 24 % needs the manager
    body = api.post(f"/api/v1/quotes/{quote['id']}/submit").json()
    assert body["status"] == "pending_approval"
    assert body["approvals"][0]["reason"] == "Overall discount 24.00 % is over 15 %"
    assert body["blockers"][0].startswith("Waiting for approval (level 1)")
    # the rep cannot approve their own quote
    response = api.post(f"/api/v1/quotes/{quote['id']}/approve", {})
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"
    response = api_for(manager).post(f"/api/v1/quotes/{quote['id']}/approve", {"comment": "fine"})
    assert response.status_code == 200
    assert response.json()["status"] == "approved" and response.json()["blockers"] == []
    assert response.json()["approvals"][0]["decided_by"]["username"] == "manager"


def test_reject_needs_a_comment(api_for, rep, manager, cat):
    api = api_for(rep)
    quote = _create(api, opportunity_for(rep))
    api.post(f"/api/v1/quotes/{quote['id']}/lines", {"product": cat.good.pk, "discount_percent": "50"})
    api.post(f"/api/v1/quotes/{quote['id']}/submit")
    response = api_for(manager).post(f"/api/v1/quotes/{quote['id']}/reject", {})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "comment"
    response = api_for(manager).post(f"/api/v1/quotes/{quote['id']}/reject", {"comment": "Too much"})
    assert response.json()["status"] == "rejected"
    assert response.json()["blockers"][0] == "Rejected by Manager: Too much"


def test_bad_line_input_is_a_422_naming_the_field(api_for, rep, cat):
    api = api_for(rep)
    quote = _create(api, opportunity_for(rep))
    url = f"/api/v1/quotes/{quote['id']}/lines"
    for body, field in (({"product": cat.good.pk, "quantity": "-1"}, "quantity"),
                        ({"product": cat.good.pk, "discount_percent": "150"}, "discount_percent"),
                        ({"product": cat.good.pk, "list_price": "abc"}, "list_price"),
                        ({"product": 0}, "product"),
                        ({"product": cat.good.pk, "colour": "red"}, "colour")):
        response = api.post(url, body)
        assert response.status_code == 422, (body, response.content)
        assert field in {e["field"] for e in response.json()["errors"]}, (body, response.json())
    assert not Quote.objects.get(pk=quote["id"]).lines.exists()


def test_line_patch_and_delete(api_for, rep, cat):
    api = api_for(rep)
    quote = _create(api, opportunity_for(rep))
    body = api.post(f"/api/v1/quotes/{quote['id']}/lines", {"product": cat.good.pk, "quantity": "2"}).json()
    line_id = body["lines"][0]["id"]
    body = api.patch(f"/api/v1/quotes/{quote['id']}/lines/{line_id}", {"quantity": "4", "section": "Hardware"}).json()
    assert body["lines"][0]["quantity"] == "4" and body["lines"][0]["section"] == "Hardware"
    assert body["totals"]["net_total"] == "400.00"
    response = api.delete(f"/api/v1/quotes/{quote['id']}/lines/{line_id}")
    assert response.status_code == 200 and response.json()["lines"] == []
    assert api.delete(f"/api/v1/quotes/{quote['id']}/lines/{line_id}").status_code == 404


def test_versions_and_primary(api_for, rep, cat):
    api = api_for(rep)
    opportunity = opportunity_for(rep)
    first = _create(api, opportunity)
    api.post(f"/api/v1/quotes/{first['id']}/lines", {"product": cat.good.pk})
    assert api.post(f"/api/v1/quotes/{first['id']}/new-version").status_code == 409  # a draft is edited in place
    api.post(f"/api/v1/quotes/{first['id']}/submit")
    response = api.post(f"/api/v1/quotes/{first['id']}/new-version")
    assert response.status_code == 201
    second = response.json()
    assert (second["number"], second["version"], second["previous_version_id"]) == (first["number"], 2, first["id"])
    versions = api.get(f"/api/v1/quotes/{second['id']}/versions").json()
    assert [(v["version"], v["status"]) for v in versions] == [(2, "draft"), (1, "superseded")]
    other = _create(api, opportunity)
    api.post(f"/api/v1/quotes/{other['id']}/lines", {"product": cat.service.pk})
    body = api.post(f"/api/v1/quotes/{other['id']}/primary").json()
    assert body["is_primary"]
    opportunity.refresh_from_db()
    assert opportunity.amount == D("1000.00")


def test_list_filters_and_visibility(api_for, rep, rep2, manager, finance, outsider, cat):
    mine = _create(api_for(rep), opportunity_for(rep))
    theirs = _create(api_for(rep2), opportunity_for(rep2))
    ids = lambda api, **params: {q["id"] for q in api.get("/api/v1/quotes", params).json()["items"]}  # noqa: E731
    assert ids(api_for(rep)) == {mine["id"]}
    assert ids(api_for(manager)) == ids(api_for(finance)) == {mine["id"], theirs["id"]}
    assert ids(api_for(outsider)) == set()
    assert ids(api_for(manager), owner=rep2.pk) == {theirs["id"]}
    assert ids(api_for(manager), status="draft", q=mine["number"]) == {mine["id"]}
    assert api_for(rep).get("/api/v1/quotes", {"status": "nope"}).status_code == 422
    assert api_for(rep).get("/api/v1/quotes", {"ordering": "colour"}).status_code == 422


def test_another_reps_quote_is_404_and_finance_reads_only(api_for, rep, rep2, finance, outsider, cat):
    quote = _create(api_for(rep), opportunity_for(rep))
    for user in (rep2, outsider):
        api = api_for(user)
        assert api.get(f"/api/v1/quotes/{quote['id']}").status_code == 404
        assert api.patch(f"/api/v1/quotes/{quote['id']}", {"title": "x"}).status_code == 404
        assert api.post(f"/api/v1/quotes/{quote['id']}/lines", {"product": cat.good.pk}).status_code == 404
    api = api_for(finance)
    assert api.get(f"/api/v1/quotes/{quote['id']}").status_code == 200
    response = api.patch(f"/api/v1/quotes/{quote['id']}", {"title": "x"})
    assert response.status_code == 403
    assert api.post("/api/v1/quotes", {"opportunity": quote["opportunity"]["id"]}).status_code == 403
    assert api_for(rep2).post("/api/v1/quotes", {"opportunity": quote["opportunity"]["id"]}).status_code == 404


def test_patch_header_and_bad_header_input(api_for, rep, cat):
    api = api_for(rep)
    quote = _create(api, opportunity_for(rep))
    body = api.patch(f"/api/v1/quotes/{quote['id']}", {"payment_terms": "upfront_50", "notes": "Hi",
                                                       "auto_renew": True}).json()
    assert (body["payment_terms"], body["notes"], body["auto_renew"]) == ("upfront_50", "Hi", True)
    response = api.patch(f"/api/v1/quotes/{quote['id']}", {"valid_until": "2000-01-01"})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "valid_until"
    response = api.patch(f"/api/v1/quotes/{quote['id']}", {"payment_terms": "whenever"})
    assert response.status_code == 422
    assert api.get("/api/v1/quotes/999999").status_code == 404


def test_unauthenticated_is_401(client, db):
    assert client.get("/api/v1/quotes").status_code == 401


def test_approval_rules_api(api_for, admin_user, rep, db):
    ApprovalRule.objects.all().delete()
    api = api_for(admin_user)
    response = api.post("/api/v1/approval-rules", {"name": "Over 20", "threshold_percent": "20",
                                                   "approver_roles": ["manager"]})
    assert response.status_code == 201, response.content
    rule = response.json()
    assert (rule["threshold_percent"], rule["measure"], rule["level"]) == ("20", "overall", 1)
    assert api_for(rep).get("/api/v1/approval-rules").json()[0]["id"] == rule["id"]
    assert api_for(rep).post("/api/v1/approval-rules", {"name": "x", "threshold_percent": "1",
                                                        "approver_roles": ["manager"]}).status_code == 403
    assert api.post("/api/v1/approval-rules", {"name": "x", "threshold_percent": "1",
                                               "approver_roles": ["rep"]}).status_code == 422
    response = api.patch(f"/api/v1/approval-rules/{rule['id']}", {"threshold_percent": "25", "level": 2})
    assert response.json()["threshold_percent"] == "25" and response.json()["level"] == 2
    assert api_for(rep).delete(f"/api/v1/approval-rules/{rule['id']}").status_code == 403
    assert api.delete(f"/api/v1/approval-rules/{rule['id']}").status_code == 204
    assert api.delete(f"/api/v1/approval-rules/{rule['id']}").status_code == 404
