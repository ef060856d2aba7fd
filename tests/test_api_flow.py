"""The whole lead-to-opportunity flow through the API with bearer tokens, as an integration would run it:
campaign → lead (idempotent) → qualified → converted → moved through stages → activity logged; the
opportunity keeps the lead's source and campaign, and the audit chain still verifies afterwards."""
import re
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from l2c.core.models import AuditEvent
from l2c.leads.models import Campaign, Lead
from l2c.pipeline.models import Activity, Opportunity, StageHistory
from l2c.pipeline.services import ensure_default_stages

LEADS = "/api/v1/leads"
OPPS = "/api/v1/opportunities"


@pytest.fixture
def stages(db):
    return {stage.name: stage for stage in ensure_default_stages()}


def _problem_fields(response) -> dict[str, str]:
    body = response.json()
    assert response["Content-Type"].startswith("application/problem+json"), response["Content-Type"]
    assert body["status"] == response.status_code
    return {error["field"]: error["code"] for error in body.get("errors", [])}


def test_campaign_to_moved_opportunity_through_the_api(api_for, manager, rep, stages):
    as_manager, as_rep = api_for(manager), api_for(rep)

    # a manager sets up the campaign; a rep may not
    response = as_manager.post("/api/v1/campaigns", {
        "name": "Canton Fair 2030", "type": "event", "status": "active", "start_date": "2030-04-15",
        "end_date": "2030-04-19", "currency": "CNY", "budget": "80000.00", "cost": "65000.00"})
    assert response.status_code == 201, response.content
    campaign = response.json()
    assert (campaign["name"], campaign["type"], Decimal(campaign["budget"])) == ("Canton Fair 2030", "event",
                                                                                   Decimal("80000"))
    assert as_rep.post("/api/v1/campaigns", {"name": "Rogue"}).status_code == 403
    assert not Campaign.objects.filter(name="Rogue").exists()

    # the rep creates a lead with the campaign and UTM fields, with an Idempotency-Key
    lead_body = {"first_name": "Wei", "last_name": "Zhang", "email": "wei.zhang@hengda-tools.example",
                 "company": "Hengda Tools", "country": "CN", "source": "event", "campaign": campaign["id"],
                 "utm_source": "cantonfair", "utm_medium": "booth", "utm_campaign": "cf2030",
                 "utm_term": "cnc", "utm_content": "flyer-a"}
    key = {"Idempotency-Key": "lead-wei-zhang-1"}
    response = as_rep.post(LEADS, lead_body, headers=key)
    assert response.status_code == 201, response.content
    lead = response.json()
    assert lead["owner"]["id"] == rep.pk and lead["status"] == "new"
    assert lead["campaign"] == {"id": campaign["id"], "name": "Canton Fair 2030"}
    assert {k: lead[k] for k in ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")} == {
        "utm_source": "cantonfair", "utm_medium": "booth", "utm_campaign": "cf2030", "utm_term": "cnc",
        "utm_content": "flyer-a"}
    # a replay returns the first response and creates nothing; the same key with another body is a 409
    events_before = AuditEvent.objects.count()
    replay = as_rep.post(LEADS, lead_body, headers=key)
    assert replay.status_code == 201 and replay.json() == lead and replay["Idempotent-Replayed"] == "true"
    conflict = as_rep.post(LEADS, {**lead_body, "company": "Other Co"}, headers=key)
    assert conflict.status_code == 409
    assert Lead.objects.filter(email="wei.zhang@hengda-tools.example").count() == 1
    assert not Lead.objects.filter(company="Other Co").exists()
    assert AuditEvent.objects.count() == events_before

    # qualify it (working first, as a rep would)
    for status in ("working", "qualified"):
        response = as_rep.post(f"{LEADS}/{lead['id']}/status", {"status": status})
        assert response.status_code == 200, response.content
        assert response.json()["status"] == status
    assert response.json()["can_convert"] is True

    # convert: new account + contact + opportunity
    response = as_rep.post(f"{LEADS}/{lead['id']}/convert", {
        "create_account_name": "Hengda Tools Co., Ltd.", "opportunity_name": "Hengda — 12 CNC cells",
        "amount": "360000.00", "currency": "CNY", "expected_close_date": "2030-09-30"})
    assert response.status_code == 201, response.content
    converted = response.json()
    assert converted["account_created"] and converted["contact_created"] and converted["opportunity_id"]
    opp_id = converted["opportunity_id"]
    opp = as_rep.get(f"{OPPS}/{opp_id}").json()
    assert opp["stage"]["name"] == "Prospecting" and opp["probability"] == stages["Prospecting"].probability
    assert (opp["lead_id"], opp["source"], opp["campaign_id"]) == (lead["id"], "event", campaign["id"])
    assert (opp["account"]["id"], opp["contact"]["id"]) == (converted["account_id"], converted["contact_id"])
    assert (Decimal(opp["amount"]), opp["currency"], opp["expected_close_date"]) == (
        Decimal("360000"), "CNY", "2030-09-30")
    assert as_rep.get(f"{LEADS}/{lead['id']}").json()["status"] == "converted"

    # a move to Qualification without what it requires: 422 naming each missing field, nothing changes
    qualification = stages["Qualification"]
    response = as_rep.post(f"{OPPS}/{opp_id}/move", {"stage_id": qualification.pk})
    assert response.status_code == 422, response.content
    assert set(_problem_fields(response)) == set(qualification.required_fields) == {"budget", "need"}
    assert "Qualification" in response.json()["detail"]
    assert Opportunity.objects.get(pk=opp_id).stage_id == stages["Prospecting"].pk
    assert StageHistory.objects.filter(opportunity_id=opp_id).count() == 1

    # with the fields it moves, and the fields are saved with the move
    response = as_rep.post(f"{OPPS}/{opp_id}/move", {
        "stage_id": qualification.pk,
        "fields": {"budget": "Capex approved for 2030", "need": "Replace 12 manual lathes"}})
    assert response.status_code == 200, response.content
    moved = response.json()
    assert moved["stage"]["id"] == qualification.pk and moved["probability"] == qualification.probability
    assert (moved["budget"], moved["need"]) == ("Capex approved for 2030", "Replace 12 manual lathes")
    stays = as_rep.get(f"{OPPS}/{opp_id}/stage-history").json()
    assert sorted(s["stage"]["name"] for s in stays) == ["Prospecting", "Qualification"]
    assert [s["left_at"] is None for s in stays if s["stage"]["name"] == "Prospecting"] == [False]

    # list opportunities filtered by stage
    in_qualification = as_rep.get(OPPS, {"stage": qualification.pk}).json()
    assert in_qualification["count"] == 1 and [o["id"] for o in in_qualification["items"]] == [opp_id]
    assert as_rep.get(OPPS, {"stage": stages["Prospecting"].pk}).json()["count"] == 0

    # log a call on the opportunity
    response = as_rep.post("/api/v1/activities", {"kind": "call", "subject": "Discovery call with Wei",
                                                  "body": "Needs delivery before Q4.", "opportunity": opp_id,
                                                  "done": True})
    assert response.status_code == 201, response.content
    activity = response.json()
    assert activity["opportunity"]["id"] == opp_id and activity["done_at"] and not activity["is_open"]
    listed = as_rep.get("/api/v1/activities", {"opportunity": opp_id}).json()
    assert [a["id"] for a in listed["items"]] == [activity["id"]]

    # after all that, the opportunity still points back to the lead's source and campaign
    final = Opportunity.objects.get(pk=opp_id)
    assert (final.source, final.campaign_id, final.lead_id) == ("event", campaign["id"], lead["id"])
    assert Activity.objects.get(pk=activity["id"]).opportunity_id == opp_id
    actions = [e["action"] for e in as_rep.get(f"{OPPS}/{opp_id}/history").json()["items"]]
    assert "create" in actions and "transition" in actions

    # and the audit chain verifies (the command raises CommandError, naming the first bad event, if not)
    out = StringIO()
    call_command("verify_audit", stdout=out)
    assert "audit chain intact" in out.getvalue()


def test_another_reps_opportunity_is_a_404_like_a_missing_one(api_for, rep, outsider, stages):
    from l2c.pipeline.tests.factories import OpportunityFactory

    theirs = OpportunityFactory(owner=outsider, name="Not yours")
    missing = Opportunity.objects.order_by("-pk").first().pk + 1000
    api = api_for(rep)

    def answers(opp_id: int) -> list:
        """Every answer about `opp_id`, with the id itself blanked out so two ids can be compared."""
        responses = [
            api.get(f"{OPPS}/{opp_id}"),
            api.post(f"{OPPS}/{opp_id}/move", {"stage_id": stages["Negotiation"].pk}),
            api.patch(f"{OPPS}/{opp_id}", {"name": "Mine now"}),
            api.get(f"{OPPS}/{opp_id}/history"),
            api.post("/api/v1/activities", {"subject": "Sneak", "opportunity": opp_id}),
        ]
        return [(r.status_code, re.sub(rf"\b{opp_id}\b", "{id}", r.content.decode())) for r in responses]

    theirs_answers, missing_answers = answers(theirs.pk), answers(missing)
    assert [status for status, _ in theirs_answers] == [404, 404, 404, 404, 422]
    assert theirs_answers == missing_answers  # an id tells nothing about records one may not see
    theirs.refresh_from_db()
    assert (theirs.name, theirs.stage) == ("Not yours", stages["Prospecting"])
    assert not Activity.objects.filter(subject="Sneak").exists()
    assert theirs.pk not in [o["id"] for o in api.get(OPPS).json()["items"]]
    assert api_for(outsider).get(f"{OPPS}/{theirs.pk}").status_code == 200  # it does exist
