"""POST /api/v1/leads/bulk and the Touch of single POST /api/v1/leads."""
import pytest

from l2c.core import audit
from l2c.core.models import AuditEvent
from l2c.leads.choices import LeadStatus, TouchKind
from l2c.leads.models import Lead, Touch

from .factories import CampaignFactory, LeadFactory

URL = "/api/v1/leads/bulk"


def item(n, **kw):
    return {"last_name": f"Zhang{n}", "first_name": "Wei", "email": f"wei{n}@example.com", **kw}


def test_single_post_records_an_api_touch(api_for, rep):
    response = api_for(rep).post("/api/v1/leads", {"last_name": "Li", "email": "li@example.com"},
                                 headers={"User-Agent": "crm-sync/1.0"})
    assert response.status_code == 201
    touch = Touch.objects.get()
    assert (touch.lead_id, touch.kind, touch.user_agent) == (response.json()["id"], TouchKind.API, "crm-sync/1.0")
    assert response.json()["owner"]["id"] == rep.pk


def test_bulk_creates_valid_items_and_reports_each(api_for, rep, django_assert_max_num_queries):
    campaign = CampaignFactory()
    leads = [item(1, campaign=campaign.pk, phone="+86 138 1234 5678"), item(2), {"first_name": "no last name"},
             item(4, email="broken", country="XX"), "not an object", item(6, unknown_field=1), item(7)]
    client = api_for(rep)

    with django_assert_max_num_queries(30):  # does not grow with the number of items
        response = client.post(URL, {"leads": leads})

    assert response.status_code == 201
    body = response.json()
    assert body["counts"] == {"created": 3, "updated": 0, "duplicate": 0, "error": 4}
    statuses = [(r["index"], r["status"]) for r in body["results"]]
    assert statuses == [(0, "created"), (1, "created"), (2, "error"), (3, "error"), (4, "error"), (5, "error"),
                        (6, "created")]
    errors = {r["index"]: {e["field"]: e["code"] for e in r["errors"]} for r in body["results"] if r["status"] == "error"}
    assert errors[2] == {"last_name": "missing"}
    assert errors[3] == {"email": "invalid_email", "country": "invalid_country"}
    assert errors[4] == {"body": "invalid_type"}
    assert errors[5] == {"unknown_field": "extra_forbidden"}
    created = Lead.objects.order_by("id")
    assert [lead.pk for lead in created] == [body["results"][i]["id"] for i in (0, 1, 6)]
    first = created[0]
    assert (first.owner, first.campaign, first.phone, first.status) == (rep, campaign, "+8613812345678", LeadStatus.NEW)
    assert Touch.objects.filter(kind=TouchKind.API).count() == 3
    assert AuditEvent.objects.filter(object_type="leads.lead", action="create", actor_id=rep.pk).count() == 3
    assert audit.verify_chain()[1] is None


def test_more_than_1000_is_refused_naming_the_limit(api_for, rep):
    response = api_for(rep).post(URL, {"leads": [item(i) for i in range(1001)]})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "leads"
    assert "1,000" in response.json()["errors"][0]["message"]
    assert not Lead.objects.exists()


def test_exactly_1000_are_created(api_for, rep):
    response = api_for(rep).post(URL, {"leads": [item(i) for i in range(1000)]})
    assert response.status_code == 201 and response.json()["counts"]["created"] == 1000
    assert Lead.objects.count() == 1000 and Touch.objects.count() == 1000


def test_empty_batch_and_bad_on_duplicate(api_for, rep):
    client = api_for(rep)
    assert client.post(URL, {"leads": []}).status_code == 422
    assert client.post(URL, {"leads": [item(1)], "on_duplicate": "merge"}).status_code == 422
    assert not Lead.objects.exists()


def test_duplicates_within_the_batch_and_against_existing(api_for, rep, outsider):
    mine = LeadFactory(email="Wei1@Example.com", owner=rep)
    LeadFactory(email="wei2@example.com", owner=outsider)  # rep cannot see it
    leads = [item(1), item(2), item(3), item(33, email="WEI3@example.com"), item(4, phone="+1 202 555 0143"),
             item(5, email="", phone="+12025550143")]

    response = api_for(rep).post(URL, {"leads": leads})

    results = response.json()["results"]
    assert [r["status"] for r in results] == ["duplicate", "duplicate", "created", "duplicate", "created",
                                              "duplicate"]
    assert results[0]["id"] == mine.pk
    assert "id" not in results[1] or results[1]["id"] is None  # another rep's lead: no id leaked
    assert results[3]["duplicate_of_index"] == 2 and results[5]["duplicate_of_index"] == 4
    assert Lead.objects.count() == 4


def test_on_duplicate_update_and_create(api_for, rep):
    existing = LeadFactory(email="wei1@example.com", owner=rep, company="Old", title="")
    client = api_for(rep)

    updated = client.post(URL, {"leads": [item(1, company="New Co", title="CTO")], "on_duplicate": "update"})
    created = client.post(URL, {"leads": [item(1)], "on_duplicate": "create"})

    assert updated.status_code == 200
    assert updated.json()["results"] == [{"index": 0, "status": "updated", "id": existing.pk,
                                          "duplicate_of_index": None, "errors": None}]
    existing.refresh_from_db()
    assert (existing.company, existing.title) == ("New Co", "CTO")
    assert created.status_code == 201 and Lead.objects.filter(email="wei1@example.com").count() == 2


def test_converted_lead_is_not_updated(api_for, rep):
    LeadFactory(email="wei1@example.com", owner=rep, status=LeadStatus.CONVERTED, company="Kept")
    response = api_for(rep).post(URL, {"leads": [item(1, company="X")], "on_duplicate": "update"})
    assert response.json()["results"][0]["status"] == "duplicate"
    assert Lead.objects.get().company == "Kept"


def test_idempotency_key_replays_and_creates_nothing_more(api_for, rep):
    client = api_for(rep)
    body = {"leads": [item(1), item(2)]}

    first = client.post(URL, body, headers={"Idempotency-Key": "batch-1"})
    again = client.post(URL, body, headers={"Idempotency-Key": "batch-1"})
    other = client.post(URL, {"leads": [item(3)]}, headers={"Idempotency-Key": "batch-1"})

    assert first.status_code == 201 and again.status_code == 201
    assert again["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert other.status_code == 409
    assert Lead.objects.count() == 2


@pytest.mark.parametrize("role", ["finance"])
def test_finance_cannot_bulk_create(role, request, api_for):
    response = api_for(request.getfixturevalue(role)).post(URL, {"leads": [item(1)]})
    assert response.status_code == 403 and not Lead.objects.exists()


def test_anonymous_is_401(client):
    response = client.post(URL, {"leads": []}, content_type="application/json")
    assert response.status_code == 401


def test_rep_cannot_give_leads_away_or_use_unknown_ids(api_for, rep, rep2):
    response = api_for(rep).post(URL, {"leads": [item(1, owner=rep2.pk), item(2, owner=999999),
                                                 item(3, campaign=999999)]})
    errors = [r["errors"][0]["field"] + ":" + r["errors"][0]["code"] for r in response.json()["results"]]
    assert errors == ["owner:not_allowed", "owner:not_found", "campaign:not_found"]
    assert not Lead.objects.exists()
