import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from l2c.leads.choices import LeadStatus
from l2c.pipeline.models import Activity, Opportunity, Stage, StageHistory

from .factories import AccountFactory, ContactFactory, LeadFactory, OpportunityFactory

PROBLEM = "application/problem+json"


def fields_of(response):
    assert response["Content-Type"].startswith(PROBLEM), response.content
    return [e["field"] for e in response.json().get("errors", [])]


# --- auth and roles -----------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/api/v1/stages", "/api/v1/opportunities", "/api/v1/activities",
                                  "/api/v1/activities/my-tasks"])
def test_anonymous_is_401(db, path):
    response = Client().get(path)
    assert response.status_code == 401 and response["Content-Type"].startswith(PROBLEM)


def test_stage_endpoints(api_for, admin_user, manager, rep, finance, stages):
    for user in (admin_user, manager, rep, finance):
        response = api_for(user).get("/api/v1/stages")
        assert response.status_code == 200 and len(response.json()) == 6
    body = {"name": "Verbal yes", "probability": 90, "required_fields": ["next_step"]}
    for user in (manager, rep, finance):
        assert api_for(user).post("/api/v1/stages", body).status_code == 403
        assert api_for(user).patch(f"/api/v1/stages/{stages['Proposal'].pk}", {"probability": 1}).status_code == 403
    admin = api_for(admin_user)
    created = admin.post("/api/v1/stages", body)
    assert created.status_code == 201 and created.json()["required_fields"] == ["next_step"]
    patched = admin.patch(f"/api/v1/stages/{created.json()['id']}", {"probability": 95})
    assert patched.status_code == 200 and patched.json()["probability"] == 95
    assert admin.patch("/api/v1/stages/999999", {"probability": 5}).status_code == 404
    bad = admin.post("/api/v1/stages", {"name": "X", "probability": 10, "required_fields": ["owner"]})
    assert bad.status_code == 422 and fields_of(bad) == ["required_fields"]
    both = admin.post("/api/v1/stages", {"name": "Y", "probability": 10, "is_won": True, "is_lost": True})
    assert both.status_code == 422 and fields_of(both) == ["is_lost"]
    assert Stage.objects.count() == 7


def test_opportunity_visibility_per_role(api_for, admin_user, manager, rep, rep2, outsider, finance, stages):
    mine = OpportunityFactory(owner=rep)
    teammate = OpportunityFactory(owner=rep2)
    other_team = OpportunityFactory(owner=outsider)

    def ids(user):
        response = api_for(user).get("/api/v1/opportunities")
        assert response.status_code == 200
        return {item["id"] for item in response.json()["items"]}

    assert ids(rep) == {mine.pk}
    assert ids(manager) == {mine.pk, teammate.pk}
    assert ids(admin_user) == {mine.pk, teammate.pk, other_team.pk}
    assert ids(finance) == set()
    client = api_for(rep)
    for opp in (teammate, other_team):
        for path in ("", "/history", "/stage-history"):
            response = client.get(f"/api/v1/opportunities/{opp.pk}{path}")
            assert response.status_code == 404 and response["Content-Type"].startswith(PROBLEM)
        assert client.patch(f"/api/v1/opportunities/{opp.pk}", {"name": "x"}).status_code == 404
        move = client.post(f"/api/v1/opportunities/{opp.pk}/move", {"stage_id": stages["Negotiation"].pk})
        assert move.status_code == 404
    assert api_for(manager).get(f"/api/v1/opportunities/{other_team.pk}").status_code == 404
    assert api_for(manager).get(f"/api/v1/opportunities/{teammate.pk}").status_code == 200
    assert Opportunity.objects.get(pk=other_team.pk).stage == stages["Prospecting"]


def test_create_update_and_read(api_for, rep, stages):
    account = AccountFactory(owner=rep)
    contact = ContactFactory(account=account, owner=rep)
    client = api_for(rep)
    response = client.post("/api/v1/opportunities", {
        "name": "Rollout", "account": account.pk, "contact": contact.pk, "amount": "15000.00", "currency": "USD",
        "expected_close_date": "2030-06-30"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["stage"]["name"] == "Prospecting" and body["amount"] == "15000.00"
    assert body["days_in_stage"] == 0 and body["owner"]["id"] == rep.pk and body["account"]["id"] == account.pk
    patched = client.patch(f"/api/v1/opportunities/{body['id']}", {"next_step": "Call CFO", "probability": 30})
    assert patched.status_code == 200 and patched.json()["next_step"] == "Call CFO"
    assert patched.json()["probability"] == 30
    history = client.get(f"/api/v1/opportunities/{body['id']}/history").json()
    assert [e["action"] for e in history["items"]] == ["update", "create"]


def test_create_is_idempotent_with_a_key(api_for, rep, stages):
    account = AccountFactory(owner=rep)
    client = api_for(rep)
    body = {"name": "Once", "account": account.pk}
    first = client.post("/api/v1/opportunities", body, headers={"Idempotency-Key": "k-1"})
    again = client.post("/api/v1/opportunities", body, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 201 and first.json()["id"] == again.json()["id"]
    assert Opportunity.objects.count() == 1


@pytest.mark.parametrize("body, field", [
    ({"name": "n" * 201}, "name"),
    ({"competitor": "c" * 201}, "competitor"),
    ({"amount": "-1"}, "amount"),
    ({"amount": "1.234"}, "amount"),
    ({"currency": "ZZZ"}, "currency"),
    ({"probability": 120}, "probability"),
    ({"expected_close_date": "2030-02-30"}, "expected_close_date"),
    ({"account": 999999}, "account"),
    ({"stage": 999999}, "stage"),
    ({"colour": "red"}, "colour"),
])
def test_create_bad_input_is_a_problem_and_creates_nothing(api_for, rep, stages, body, field):
    account = AccountFactory(owner=rep)
    payload = {"name": "Deal", "account": account.pk, **body}
    response = api_for(rep).post("/api/v1/opportunities", payload)
    assert response.status_code == 422, response.content
    assert field in fields_of(response)
    assert not Opportunity.objects.exists()


def test_invalid_json_is_400(api_for, rep, stages):
    opp = OpportunityFactory(owner=rep)
    client = api_for(rep)
    response = client.post("/api/v1/opportunities", raw="{not json")
    assert response.status_code == 400 and response.json()["code"] == "invalid_json"
    response = client.post(f"/api/v1/opportunities/{opp.pk}/move", raw="{\"stage_id\": ")
    assert response.status_code == 400 and response["Content-Type"].startswith(PROBLEM)
    assert StageHistory.objects.filter(opportunity=opp).count() == 1


def test_unknown_ordering_and_filters(api_for, rep, stages):
    OpportunityFactory(owner=rep, name="Alpha", amount=5)
    OpportunityFactory(owner=rep, name="Beta", amount=50, expected_close_date=dt.date(2030, 1, 1))
    client = api_for(rep)
    bad = client.get("/api/v1/opportunities", {"ordering": "password"})
    assert bad.status_code == 422 and fields_of(bad) == ["ordering"]
    names = [o["name"] for o in client.get("/api/v1/opportunities", {"ordering": "-amount"}).json()["items"]]
    assert names == ["Beta", "Alpha"]
    found = client.get("/api/v1/opportunities", {"q": "alp"}).json()
    assert found["count"] == 1 and found["items"][0]["name"] == "Alpha"
    closing = client.get("/api/v1/opportunities", {"close_before": "2030-12-31", "close_after": "2029-01-01"}).json()
    assert [o["name"] for o in closing["items"]] == ["Beta"]
    assert client.get("/api/v1/opportunities", {"stage": stages["Proposal"].pk}).json()["count"] == 0
    page = client.get("/api/v1/opportunities", {"limit": 1, "offset": 1, "ordering": "name"}).json()
    assert page["count"] == 2 and [o["name"] for o in page["items"]] == ["Beta"]


def test_move_endpoint(api_for, rep, stages):
    opp = OpportunityFactory(owner=rep, amount=None)
    client = api_for(rep)
    url = f"/api/v1/opportunities/{opp.pk}/move"
    unknown = client.post(url, {"stage_id": 999999})
    assert unknown.status_code == 422 and fields_of(unknown) == ["stage_id"]
    missing = client.post(url, {"stage_id": stages["Proposal"].pk})
    assert missing.status_code == 422
    assert sorted(fields_of(missing)) == ["amount", "expected_close_date"]
    assert all(e["code"] == "required_for_stage" for e in missing.json()["errors"])
    assert "Proposal" in missing.json()["detail"]
    opp.refresh_from_db()
    assert opp.stage == stages["Prospecting"] and opp.amount is None
    too_long = client.post(url, {"stage_id": stages["Closed Lost"].pk, "fields": {"lost_reason": "r" * 300}})
    assert too_long.status_code == 422 and fields_of(too_long) == ["lost_reason"]
    ok = client.post(url, {"stage_id": stages["Proposal"].pk,
                           "fields": {"amount": "2500.00", "expected_close_date": "2030-03-01"}})
    assert ok.status_code == 200, ok.content
    assert ok.json()["stage"]["name"] == "Proposal" and ok.json()["probability"] == 50
    lost = client.post(url, {"stage_id": stages["Closed Lost"].pk, "fields": {"lost_reason": "Budget cut"}})
    assert lost.status_code == 200 and lost.json()["closed_at"] is not None
    stays = client.get(f"/api/v1/opportunities/{opp.pk}/stage-history").json()
    assert [s["stage"]["name"] for s in stays] == ["Prospecting", "Proposal", "Closed Lost"]
    assert stays[0]["left_at"] is not None and stays[-1]["left_at"] is None
    assert stays[1]["from_stage"]["name"] == "Prospecting"


def test_activity_endpoints(api_for, rep, rep2, outsider, finance, stages):
    opp = OpportunityFactory(owner=rep)
    client = api_for(rep)
    due = (timezone.now() - dt.timedelta(hours=1)).isoformat()
    created = client.post("/api/v1/activities", {"kind": "task", "subject": "Chase PO", "due_at": due,
                                                 "opportunity": opp.pk})
    assert created.status_code == 201, created.content
    activity_id = created.json()["id"]
    assert created.json()["is_overdue"] is True
    assert [a["id"] for a in client.get("/api/v1/activities/my-tasks").json()] == [activity_id]
    assert client.get("/api/v1/activities", {"opportunity": opp.pk}).json()["count"] == 1
    assert client.get("/api/v1/activities", {"ordering": "nope"}).status_code == 422
    patched = client.patch(f"/api/v1/activities/{activity_id}", {"subject": "Chase the PO"})
    assert patched.status_code == 200 and patched.json()["subject"] == "Chase the PO"
    done = client.post(f"/api/v1/activities/{activity_id}/complete")
    assert done.status_code == 200 and done.json()["done_at"] is not None
    again = client.post(f"/api/v1/activities/{activity_id}/complete")
    assert again.status_code == 409 and again.json()["code"] == "already_done"
    # another team's rep and finance cannot reach it
    for user in (outsider, finance):
        other = api_for(user)
        assert other.get(f"/api/v1/activities/{activity_id}").status_code == 404
        assert other.patch(f"/api/v1/activities/{activity_id}", {"subject": "x"}).status_code == 404
        assert other.post(f"/api/v1/activities/{activity_id}/reopen").status_code == 404
    # attaching to someone else's record is refused
    hidden = OpportunityFactory(owner=outsider)
    refused = client.post("/api/v1/activities", {"kind": "note", "subject": "x", "opportunity": hidden.pk})
    assert refused.status_code == 422 and fields_of(refused) == ["opportunity"]
    long = client.post("/api/v1/activities", {"kind": "note", "subject": "s" * 201, "opportunity": opp.pk})
    assert long.status_code == 422 and fields_of(long) == ["subject"]
    nothing = client.post("/api/v1/activities", {"kind": "note", "subject": "floating"})
    assert nothing.status_code == 422 and fields_of(nothing) == ["target"]
    assert Activity.objects.count() == 1
    assert api_for(finance).post("/api/v1/activities", {"kind": "note", "subject": "x",
                                                        "account": opp.account_id}).status_code == 403


def test_convert_endpoint(api_for, rep, outsider, stages):
    lead = LeadFactory(owner=rep, status=LeadStatus.QUALIFIED, company="Helix AG", email="eva@helix.example")
    client = api_for(rep)
    assert api_for(outsider).post(f"/api/v1/leads/{lead.pk}/convert", {}).status_code == 404
    bad = client.post(f"/api/v1/leads/{lead.pk}/convert", {"amount": "-3"})
    assert bad.status_code == 422 and fields_of(bad) == ["amount"]
    response = client.post(f"/api/v1/leads/{lead.pk}/convert", {
        "opportunity_name": "Helix pilot", "amount": "4000", "currency": "CHF", "expected_close_date": "2030-01-15"})
    assert response.status_code == 201, response.content
    body = response.json()
    opp = Opportunity.objects.get(pk=body["opportunity_id"])
    assert opp.account_id == body["account_id"] and opp.contact_id == body["contact_id"] and opp.lead == lead
    assert opp.currency == "CHF" and body["account_created"] is True
    again = client.post(f"/api/v1/leads/{lead.pk}/convert", {})
    assert again.status_code == 409 and again.json()["code"] == "invalid_transition"
    new_lead = LeadFactory(owner=rep, status=LeadStatus.NEW)
    refused = client.post(f"/api/v1/leads/{new_lead.pk}/convert", {})
    assert refused.status_code == 409 and fields_of(refused) == ["status"]
    assert client.post("/api/v1/leads/999999/convert", {}).status_code == 404
