"""/api/v1/assignment-rules, /assignment-rules/test, /leads/unassigned and /leads/assign."""
import pytest

from l2c.core import audit
from l2c.core.models import AuditEvent
from l2c.identity.models import Team
from l2c.leads.choices import LeadStatus
from l2c.leads.models import AssignmentRule, Lead
from l2c.leads.tests.factories import CampaignFactory, LeadFactory

RULES = "/api/v1/assignment-rules"


def fields(response) -> dict:
    return {e["field"]: e["code"] for e in response.json().get("errors", [])}


@pytest.mark.parametrize("who", ["rep", "finance"])
def test_reps_and_finance_are_refused(request, who, api_for, admin_user, rep2):
    user = request.getfixturevalue(who)
    rule = AssignmentRule.objects.create(name="x", assign_to=rep2)
    lead = LeadFactory()
    client = api_for(user)
    assert client.get(RULES).status_code == 403
    assert client.post(RULES, {"name": "x", "assign_to": rep2.pk}).status_code == 403
    assert client.patch(f"{RULES}/{rule.pk}", {"name": "y"}).status_code == 403
    assert client.delete(f"{RULES}/{rule.pk}").status_code == 403
    assert client.post(f"{RULES}/test", {"country": "US"}).status_code == 403
    assert client.get("/api/v1/leads/unassigned").status_code == 403
    response = client.post("/api/v1/leads/assign", {"lead_ids": [lead.pk], "owner_id": rep2.pk})
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert not AssignmentRule.objects.exclude(name="x").exists()
    assert Lead.objects.get(pk=lead.pk).owner is None


def test_anonymous_is_401(client, db):
    assert client.get(RULES).status_code == 401


def test_rule_crud(api_for, admin_user, rep, rep2):
    api = api_for(admin_user)
    campaign = CampaignFactory()
    # create
    response = api.post(RULES, {"name": "China", "countries": ["cn"], "sources": ["event"], "campaign": campaign.pk,
                                "team": rep.team_id})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["countries"] == ["CN"] and body["team"]["id"] == rep.team_id and body["assign_to"] is None
    assert body["campaign"] == {"id": campaign.pk, "name": campaign.name} and body["priority"] == 10
    rule_id = body["id"]
    # list
    listing = api.get(RULES).json()
    assert listing["count"] == 1 and listing["items"][0]["id"] == rule_id
    # patch: switch to one user
    response = api.patch(f"{RULES}/{rule_id}", {"assign_to": rep2.pk, "is_active": False})
    assert response.status_code == 200, response.json()
    assert response.json()["assign_to"]["id"] == rep2.pk and response.json()["team"] is None
    assert response.json()["is_active"] is False
    # delete
    assert api.delete(f"{RULES}/{rule_id}").status_code == 204
    assert api.get(f"{RULES}/{rule_id}").status_code == 404
    assert api.delete(f"{RULES}/{rule_id}").status_code == 404


def test_rule_bad_input(api_for, admin_user, rep, finance):
    api = api_for(admin_user)
    response = api.post(RULES, {"name": "x", "countries": ["USA"], "sources": ["carrier pigeon"], "assign_to": rep.pk})
    assert response.status_code == 422
    assert fields(response) == {"countries": "invalid_country", "sources": "invalid_choice"}
    assert "USA" in response.json()["detail"]
    assert fields(api.post(RULES, {"name": "x", "assign_to": 999999})) == {"assign_to": "not_found"}
    assert fields(api.post(RULES, {"name": "x", "team": 999999})) == {"team": "not_found"}
    assert fields(api.post(RULES, {"name": "x", "campaign": 999999, "assign_to": rep.pk})) == {"campaign": "not_found"}
    assert fields(api.post(RULES, {"name": "x", "assign_to": finance.pk})) == {"assign_to": "invalid_owner"}
    assert fields(api.post(RULES, {"name": "x"})) == {"assign_to": "target_required"}
    assert fields(api.post(RULES, {"name": "x", "assign_to": rep.pk, "team": rep.team_id})) == {"assign_to": "one_target"}
    assert api.post(RULES, {"name": "x", "assign_to": rep.pk, "colour": "red"}).status_code == 422
    assert api.post(RULES, {"name": "x", "assign_to": rep.pk, "priority": -5}).status_code == 422
    assert not AssignmentRule.objects.exists()
    rule = AssignmentRule.objects.create(name="ok", assign_to=rep)
    assert fields(api.patch(f"{RULES}/{rule.pk}", {"name": None})) == {"name": "null"}
    assert fields(api.patch(f"{RULES}/{rule.pk}", {"countries": ["EU"]})) == {"countries": "invalid_country"}
    assert AssignmentRule.objects.get(pk=rule.pk).countries == []


def test_manager_cannot_route_to_or_edit_another_team(api_for, admin_user, manager, outsider, other_team):
    api = api_for(manager)
    assert fields(api.post(RULES, {"name": "x", "assign_to": outsider.pk})) == {"assign_to": "not_allowed"}
    assert fields(api.post(RULES, {"name": "x", "team": other_team.pk})) == {"team": "not_allowed"}
    theirs = AssignmentRule.objects.create(name="West", assign_to=outsider)
    # managers see every rule (the order matters across teams) but may not change others'
    assert api.get(f"{RULES}/{theirs.pk}").status_code == 200
    assert api.patch(f"{RULES}/{theirs.pk}", {"name": "mine"}).status_code == 403
    assert api.delete(f"{RULES}/{theirs.pk}").status_code == 403
    assert AssignmentRule.objects.get(pk=theirs.pk).name == "West"


def test_move_rule(api_for, admin_user, rep, rep2):
    api = api_for(admin_user)
    a = api.post(RULES, {"name": "a", "assign_to": rep.pk}).json()["id"]
    b = api.post(RULES, {"name": "b", "assign_to": rep2.pk}).json()["id"]
    response = api.post(f"{RULES}/{b}/move", {"direction": "up"})
    assert response.status_code == 200
    assert [r["id"] for r in response.json()] == [b, a]
    assert api.post(f"{RULES}/{b}/move", {"direction": "left"}).status_code == 422


def test_rule_test_endpoint_does_not_move_the_round_robin(api_for, admin_user, rep, rep2):
    api = api_for(admin_user)
    rule = AssignmentRule.objects.create(name="East", countries=["DE"], team=rep.team)
    body = api.post(f"{RULES}/test", {"country": "de", "source": "web_form"}).json()
    assert body["rule"]["id"] == rule.pk and body["owner"]["id"] == rep.pk
    assert api.post(f"{RULES}/test", {"country": "DE"}).json()["owner"]["id"] == rep.pk  # still rep: nothing moved
    assert api.post(f"{RULES}/test", {"country": "FR"}).json() == {"rule": None, "owner": None, "passed_over": []}
    response = api.post(f"{RULES}/test", {"country": "XX", "source": "nope"})
    assert response.status_code == 422
    assert fields(response) == {"country": "invalid_country", "source": "invalid_choice"}
    AssignmentRule.objects.filter(pk=rule.pk).update(last_assigned=rep)
    assert api.post(f"{RULES}/test", {"country": "DE"}).json()["owner"]["id"] == rep2.pk


def test_unassigned_queue_api(api_for, manager, rep, outsider):
    # given
    campaign = CampaignFactory()
    waiting = [LeadFactory(country="CN", campaign=campaign), LeadFactory(country="US")]
    LeadFactory(owner=rep)
    LeadFactory(status=LeadStatus.DISQUALIFIED)
    LeadFactory(status=LeadStatus.CONVERTED)
    LeadFactory(merged_into=waiting[1])
    api = api_for(manager)
    # when / then
    body = api.get("/api/v1/leads/unassigned").json()
    assert [item["id"] for item in body["items"]] == [lead.pk for lead in waiting]
    assert [i["id"] for i in api.get("/api/v1/leads/unassigned", {"country": "cn"}).json()["items"]] == [waiting[0].pk]
    assert api.get("/api/v1/leads/unassigned", {"campaign": campaign.pk}).json()["count"] == 1
    assert api.get("/api/v1/leads/unassigned", {"source": "import"}).json()["count"] == 0
    assert api.get("/api/v1/leads/unassigned", {"limit": 1, "offset": 1}).json()["items"][0]["id"] == waiting[1].pk
    assert fields(api.get("/api/v1/leads/unassigned", {"country": "ZZ"})) == {"country": "invalid_country"}
    assert api.get("/api/v1/leads/unassigned", {"source": "bogus"}).status_code == 422


def test_bulk_assign_api(api_for, manager, rep, rep2, outsider):
    # given: unassigned leads, one of the team's, one of another team (invisible to the manager)
    free = [LeadFactory(), LeadFactory()]
    team_lead = LeadFactory(owner=rep)
    foreign = LeadFactory(owner=outsider)
    api = api_for(manager)
    last = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    # when
    response = api.post("/api/v1/leads/assign", {"lead_ids": [free[0].pk, free[1].pk, team_lead.pk, foreign.pk,
                                                               free[0].pk], "owner_id": rep2.pk})
    # then
    assert response.status_code == 200, response.json()
    body = response.json()
    assert [(r["lead_id"], r["outcome"]) for r in body["results"]] == [
        (free[0].pk, "assigned"), (free[1].pk, "assigned"), (team_lead.pk, "assigned"), (foreign.pk, "not_found")]
    assert body["results"][0]["owner"]["id"] == rep2.pk
    assert body["counts"] == {"assigned": 3, "not_found": 1}
    assert Lead.objects.get(pk=foreign.pk).owner == outsider
    events = AuditEvent.objects.filter(pk__gt=last, object_type="leads.lead")
    assert sorted(int(e.object_id) for e in events) == sorted([free[0].pk, free[1].pk, team_lead.pk])
    assert audit.verify_chain()[1] is None


def test_bulk_assign_api_bad_input(api_for, manager, outsider):
    lead = LeadFactory()
    api = api_for(manager)
    response = api.post("/api/v1/leads/assign", {"lead_ids": [lead.pk], "owner_id": outsider.pk})
    assert response.status_code == 422 and fields(response) == {"owner_id": "not_allowed"}
    assert fields(api.post("/api/v1/leads/assign", {"lead_ids": [lead.pk], "owner_id": 987654})) == {
        "owner_id": "not_found"}
    assert fields(api.post("/api/v1/leads/assign", {"lead_ids": [lead.pk]})) == {"owner_id": "required"}
    assert fields(api.post("/api/v1/leads/assign", {"lead_ids": [lead.pk], "owner_id": outsider.pk,
                                                    "auto": True})) == {"owner_id": "owner_and_auto"}
    assert api.post("/api/v1/leads/assign", {"lead_ids": [], "owner_id": None}).status_code == 422
    assert api.post("/api/v1/leads/assign", {"lead_ids": ["abc"], "owner_id": None}).status_code == 422
    assert api.post("/api/v1/leads/assign", {"lead_ids": list(range(1, 1002)), "owner_id": None}).status_code == 422
    assert Lead.objects.get(pk=lead.pk).owner is None


def test_bulk_unassign_and_auto_assign_api(api_for, admin_user, rep, rep2):
    team = Team.objects.get(pk=rep.team_id)
    AssignmentRule.objects.create(name="East", team=team)
    leads = [LeadFactory(owner=rep), LeadFactory(owner=rep2)]
    api = api_for(admin_user)
    response = api.post("/api/v1/leads/assign", {"lead_ids": [lead.pk for lead in leads], "owner_id": None})
    assert response.json()["counts"] == {"assigned": 2}
    assert not Lead.objects.filter(owner__isnull=False).exists()
    extra = LeadFactory(status=LeadStatus.CONVERTED)
    response = api.post("/api/v1/leads/assign", {"lead_ids": [*[lead.pk for lead in leads], extra.pk], "auto": True})
    assert response.status_code == 200
    assert [r["outcome"] for r in response.json()["results"]] == ["assigned", "assigned", "converted"]
    assert [r["owner"]["id"] for r in response.json()["results"][:2]] == [rep.pk, rep2.pk]
    # again: they have owners now
    response = api.post("/api/v1/leads/assign", {"lead_ids": [leads[0].pk], "auto": True})
    assert response.json()["results"][0]["outcome"] == "already_assigned"
