"""POST /api/v1/leads with auto_assign: the assignment rules choose the owner."""
from l2c.leads.models import AssignmentRule, Lead


def test_auto_assign_routes_by_rule(api_for, manager, rep2, admin_user):
    # given a rule sending Chinese leads to rep2
    AssignmentRule.objects.create(name="China", priority=1, countries=["CN"], assign_to=rep2)
    # when the manager creates a Chinese lead asking for auto-assignment
    response = api_for(manager).post("/api/v1/leads", {"last_name": "王", "country": "CN", "auto_assign": True})
    # then rep2 owns it
    assert response.status_code == 201, response.content
    assert Lead.objects.get(pk=response.json()["id"]).owner_id == rep2.pk


def test_without_a_matching_rule_the_creator_keeps_it(api_for, rep):
    response = api_for(rep).post("/api/v1/leads", {"last_name": "Smith", "country": "GB", "auto_assign": True})
    assert response.status_code == 201, response.content
    assert Lead.objects.get(pk=response.json()["id"]).owner_id == rep.pk


def test_owner_and_auto_assign_together_is_refused(api_for, manager, rep):
    before = Lead.objects.count()
    response = api_for(manager).post("/api/v1/leads", {"last_name": "X", "owner": rep.pk, "auto_assign": True})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "owner"
    assert Lead.objects.count() == before


def test_a_managers_lead_without_a_matching_rule_waits_unassigned(api_for, manager):
    # the same rule as the lead form: a manager's auto-assigned lead goes to the unassigned queue
    response = api_for(manager).post("/api/v1/leads", {"last_name": "Queue", "country": "GB", "auto_assign": True})
    assert response.status_code == 201, response.content
    assert Lead.objects.get(pk=response.json()["id"]).owner_id is None


def test_the_answer_is_the_created_lead_even_when_routed_out_of_the_callers_sight(api_for, manager, outsider):
    # a rule routes it to a rep of another team, whose leads the manager may not see
    AssignmentRule.objects.create(name="West", priority=1, countries=["US"], assign_to=outsider)
    response = api_for(manager).post("/api/v1/leads", {"last_name": "Routed", "email": "r@west.example",
                                                       "country": "US", "auto_assign": True})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["owner"]["id"] == outsider.pk and body["last_name"] == "Routed"
    assert body["allowed_statuses"] and body["created_at"]
    assert api_for(manager).get(f"/api/v1/leads/{body['id']}").status_code == 404


def test_the_answer_matches_what_a_later_read_returns(api_for, rep):
    response = api_for(rep).post("/api/v1/leads", {"first_name": "Ann", "last_name": "Lee", "email": "Ann@X.example",
                                                   "phone": "+44 20 7946 0018", "country": "gb"})
    assert response.status_code == 201, response.content
    created = response.json()
    assert api_for(rep).get(f"/api/v1/leads/{created['id']}").json() == created
