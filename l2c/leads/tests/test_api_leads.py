"""The /leads and /campaigns API: each role, other people's ids, bad input, idempotency, history."""
import pytest

from l2c.core.models import AuditEvent
from l2c.leads.choices import LeadStatus
from l2c.leads.models import Campaign, Lead

from .factories import CampaignFactory, LeadFactory

ROLES = ["admin_user", "manager", "rep", "rep2", "outsider", "finance"]
# A lead owned by `rep` (team East): admin, the team manager and rep see it; finance sees no leads.
SEES_REPS_LEAD = {"admin_user": True, "manager": True, "rep": True, "rep2": False, "outsider": False,
                  "finance": False}


@pytest.fixture
def users(request):
    return {name: request.getfixturevalue(name) for name in ROLES}


@pytest.mark.parametrize("role", ROLES)
def test_lead_read_endpoints_per_role(role, users, api_for):
    lead = LeadFactory(owner=users["rep"])
    client = api_for(users[role])

    detail = client.get(f"/api/v1/leads/{lead.pk}")
    history = client.get(f"/api/v1/leads/{lead.pk}/history")
    listing = client.get("/api/v1/leads")

    if SEES_REPS_LEAD[role]:
        assert detail.status_code == 200 and detail.json()["id"] == lead.pk
        assert history.status_code == 200
        assert [item["id"] for item in listing.json()["items"]] == [lead.pk]
    else:
        assert detail.status_code == 404 and detail.json()["code"] == "not_found"
        assert history.status_code == 404
        assert listing.json() == {"items": [], "count": 0}


@pytest.mark.parametrize("role", ROLES)
def test_lead_write_endpoints_per_role(role, users, api_for):
    lead = LeadFactory(owner=users["rep"], company="Old")
    client = api_for(users[role])

    patched = client.patch(f"/api/v1/leads/{lead.pk}", {"company": "New"})
    moved = client.post(f"/api/v1/leads/{lead.pk}/status", {"status": "working"})
    lead.refresh_from_db()

    if SEES_REPS_LEAD[role]:
        assert patched.status_code == 200 and moved.status_code == 200
        assert (lead.company, lead.status) == ("New", "working")
        assert moved.json()["allowed_statuses"] == ["new", "nurturing", "qualified", "disqualified"]
    else:
        assert patched.status_code == 404 and moved.status_code == 404
        assert (lead.company, lead.status) == ("Old", "new")
        assert not AuditEvent.objects.filter(object_type="leads.lead").exists()


def test_unassigned_leads_are_the_managers_queue(manager, rep, api_for):
    lead = LeadFactory(owner=None)
    assert api_for(manager).get(f"/api/v1/leads/{lead.pk}").status_code == 200
    assert api_for(rep).get(f"/api/v1/leads/{lead.pk}").status_code == 404
    assert api_for(manager).get("/api/v1/leads", {"owner": "none"}).json()["count"] == 1


def test_finance_cannot_create_leads(finance, api_for):
    response = api_for(finance).post("/api/v1/leads", {"last_name": "Doe"})
    assert response.status_code == 403
    assert Lead.objects.count() == 0


def test_create_lead_201(rep, api_for):
    campaign = CampaignFactory()
    response = api_for(rep).post("/api/v1/leads", {
        "first_name": "Jane", "last_name": "Doe", "email": " Jane@Example.COM", "company": "Example",
        "country": "gb", "source": "event", "campaign": campaign.pk, "utm_source": "linkedin",
    })
    assert response.status_code == 201
    body = response.json()
    assert body["email"] == "Jane@example.com" and body["country"] == "GB"
    assert body["status"] == "new" and body["owner"]["username"] == "rep"
    assert body["campaign"] == {"id": campaign.pk, "name": campaign.name}
    assert body["can_convert"] is False
    assert body["language"] == ""  # not known


def test_a_lead_carries_the_language_to_write_to_them_in(rep, api_for):
    created = api_for(rep).post("/api/v1/leads", {"last_name": "王", "first_name": "芳", "country": "SG",
                                                  "language": "zh-hans"}).json()
    assert created["language"] == "zh-hans"
    changed = api_for(rep).patch(f"/api/v1/leads/{created['id']}", {"language": "en"})
    assert changed.status_code == 200 and changed.json()["language"] == "en"


@pytest.mark.parametrize("body, field", [
    ({"last_name": "x" * 101}, "last_name"),
    ({"last_name": "A", "company": "c" * 201}, "company"),
    ({"last_name": "A", "utm_source": "u" * 101}, "utm_source"),
    ({"last_name": "A", "email": "not-an-email"}, "email"),
    ({"last_name": "A", "country": "Germany"}, "country"),
    ({"last_name": "A", "country": "XK"}, "country"),
    ({"last_name": "A", "source": "pigeon"}, "source"),
    ({"last_name": "A", "language": "fr"}, "language"),
    ({"last_name": "A", "campaign": 999999}, "campaign"),
    ({"last_name": "A", "owner": 999999}, "owner"),
    ({"last_name": "A", "status": "qualified"}, "status"),
    ({"first_name": "A"}, "last_name"),
])
def test_bad_lead_input_is_a_problem_and_creates_nothing(rep, api_for, body, field):
    response = api_for(rep).post("/api/v1/leads", body)
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert field in [e["field"] for e in problem["errors"]]
    assert problem["detail"]
    assert Lead.objects.count() == 0
    assert AuditEvent.objects.filter(object_type="leads.lead").count() == 0


def test_invalid_json_is_400_and_creates_nothing(rep, api_for):
    client = api_for(rep)
    lead = LeadFactory(owner=rep)
    for path in ("/api/v1/leads", f"/api/v1/leads/{lead.pk}/status", "/api/v1/campaigns"):
        response = client.post(path, raw="{not json")
        assert response.status_code == 400, path
        assert response.json()["code"] == "invalid_json"
    assert Lead.objects.count() == 1
    lead.refresh_from_db()
    assert lead.status == "new"


def test_status_change_errors_are_clear(rep, api_for):
    lead = LeadFactory(owner=rep, status=LeadStatus.NEW)
    client = api_for(rep)

    unknown = client.post(f"/api/v1/leads/{lead.pk}/status", {"status": "won"})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "status"

    converted = client.post(f"/api/v1/leads/{lead.pk}/status", {"status": "converted"})
    assert converted.status_code == 409 and converted.json()["code"] == "invalid_transition"

    no_reason = client.post(f"/api/v1/leads/{lead.pk}/status", {"status": "disqualified"})
    assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["field"] == "reason"

    lead.status = LeadStatus.NURTURING
    lead.save()
    backwards = client.post(f"/api/v1/leads/{lead.pk}/status", {"status": "new"})
    assert backwards.status_code == 409
    assert "nurturing" in backwards.json()["detail"] and "new" in backwards.json()["detail"]

    lead.refresh_from_db()
    assert lead.status == LeadStatus.NURTURING
    assert not AuditEvent.objects.filter(object_type="leads.lead").exists()


def test_disqualify_with_reason_and_history(rep, api_for):
    lead = LeadFactory(owner=rep)
    client = api_for(rep)
    response = client.post(f"/api/v1/leads/{lead.pk}/status", {"status": "disqualified", "reason": "No budget"})
    assert response.status_code == 200
    assert response.json()["disqualified_reason"] == "No budget"
    history = client.get(f"/api/v1/leads/{lead.pk}/history").json()
    assert history["count"] == 1
    assert history["items"][0]["action"] == "transition"
    assert history["items"][0]["changes"]["status"] == ["new", "disqualified"]


def test_idempotency_key_replays_and_refuses_other_body(rep, api_for):
    client = api_for(rep)
    headers = {"Idempotency-Key": "lead-123"}
    first = client.post("/api/v1/leads", {"last_name": "Doe"}, headers=headers)
    replay = client.post("/api/v1/leads", {"last_name": "Doe"}, headers=headers)
    assert first.status_code == replay.status_code == 201
    assert replay.json() == first.json()
    assert replay["Idempotent-Replayed"] == "true"
    assert Lead.objects.count() == 1

    other = client.post("/api/v1/leads", {"last_name": "Roe"}, headers=headers)
    assert other.status_code == 409
    assert other.json()["code"] == "idempotency_key_reused"
    assert Lead.objects.count() == 1


def test_lead_list_search_filters_ordering(rep, api_for):
    campaign = CampaignFactory()
    a = LeadFactory(owner=rep, last_name="Alvarez", company="Zeta Corp", status="working", score=10, country="ES")
    b = LeadFactory(owner=rep, last_name="Brown", company="Acme", status="new", score=None, campaign=campaign,
                    email="bb@acme.io", source="event")
    c = LeadFactory(owner=rep, last_name="Chen", company="Acme", status="qualified", score=90, phone="+86 10 5555")
    client = api_for(rep)

    def ids(params):
        response = client.get("/api/v1/leads", params)
        assert response.status_code == 200, response.content
        return [item["id"] for item in response.json()["items"]]

    assert ids({"q": "acme"}) == [c.pk, b.pk]  # default newest first
    assert ids({"q": "bb@acme"}) == [b.pk]
    assert ids({"q": "5555"}) == [c.pk]
    assert ids({"q": "chen acme"}) == [c.pk]
    assert ids({"status": "working"}) == [a.pk]
    assert ids({"source": "event"}) == [b.pk]
    assert ids({"campaign": campaign.pk}) == [b.pk]
    assert ids({"country": "es"}) == [a.pk]
    assert ids({"owner": "me", "ordering": "last_name"}) == [a.pk, b.pk, c.pk]
    assert ids({"ordering": "-score"}) == [c.pk, a.pk, b.pk]  # no score last
    assert ids({"ordering": "company"})[0] in (b.pk, c.pk)


def test_lead_list_bad_filters_are_422(rep, api_for):
    client = api_for(rep)
    for params, field in (({"ordering": "email"}, "ordering"), ({"status": "won"}, "status"),
                          ({"source": "x"}, "source"), ({"campaign": "abc"}, "campaign"),
                          ({"q": "q" * 201}, "q")):
        response = client.get("/api/v1/leads", params)
        assert response.status_code == 422, params
        assert response.json()["errors"][0]["field"] == field


# --- campaigns --------------------------------------------------------------------------------

@pytest.mark.parametrize("role", ROLES)
def test_campaigns_are_shared_reading_but_managed_by_managers(role, users, api_for):
    campaign = CampaignFactory(name="Expo")
    client = api_for(users[role])
    assert client.get(f"/api/v1/campaigns/{campaign.pk}").status_code == 200
    assert client.get("/api/v1/campaigns").json()["count"] == 1
    created = client.post("/api/v1/campaigns", {"name": f"New {role}", "budget": "100.00"})
    patched = client.patch(f"/api/v1/campaigns/{campaign.pk}", {"cost": "10"})
    if role in ("admin_user", "manager"):
        assert created.status_code == 201 and created.json()["budget"] == "100.00"
        assert patched.status_code == 200 and patched.json()["cost"] == "10.00"
    else:
        assert created.status_code == 403 and patched.status_code == 403
        assert Campaign.objects.count() == 1


@pytest.mark.parametrize("body, field", [
    ({"name": "A", "budget": "-5"}, "budget"),
    ({"name": "A", "cost": "abc"}, "cost"),
    ({"name": "A", "currency": "XYZ"}, "currency"),
    ({"name": "A", "currency": "dollars"}, "currency"),
    ({"name": "A", "start_date": "2025-05-01", "end_date": "2025-04-01"}, "end_date"),
    ({"name": "A", "start_date": "2025-13-01"}, "start_date"),
    ({"name": "n" * 201}, "name"),
])
def test_bad_campaign_input(manager, api_for, body, field):
    response = api_for(manager).post("/api/v1/campaigns", body)
    assert response.status_code == 422
    assert field in [e["field"] for e in response.json()["errors"]]
    assert Campaign.objects.count() == 0


def test_campaign_list_counts_leads(manager, api_for):
    campaign = CampaignFactory()
    LeadFactory.create_batch(3, campaign=campaign, owner=manager)
    body = api_for(manager).get("/api/v1/campaigns", {"ordering": "-budget"}).json()
    assert body["items"][0]["leads_count"] == 3
    assert api_for(manager).get("/api/v1/campaigns", {"ordering": "leads"}).status_code == 422
