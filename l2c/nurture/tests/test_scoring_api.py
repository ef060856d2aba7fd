"""Scoring API and pages per role, 422s naming the field, and scores on the lead pages (shown and sortable)."""
from __future__ import annotations

import pytest
from django.test import Client

from l2c.leads.models import Lead
from l2c.nurture.models import ScoringRule
from l2c.nurture.scoring import services

from .test_scoring_model import NOW, make_history

pytestmark = pytest.mark.django_db

FIT = {"name": "China", "kind": "fit", "field": "country", "operator": "equals", "value": "CN", "points": 30}
ENGAGEMENT = {"kind": "engagement", "touch_kind": "form_submission", "points": 10, "cap": 30, "half_life_days": 30}


def _client(user):
    client = Client()
    client.force_login(user)
    return client


def _fields(response):
    return {e["field"] for e in response.json()["errors"]}


def test_manager_creates_lists_patches_and_deletes_rules(api_for, manager):
    api = api_for(manager)
    response = api.post("/api/v1/scoring-rules", FIT)
    assert response.status_code == 201, response.content
    rule = response.json()
    assert rule["points"] == 30 and rule["touch_kind"] == "" and rule["is_active"] is True
    assert api.post("/api/v1/scoring-rules", ENGAGEMENT).status_code == 201
    assert api.get("/api/v1/scoring-rules").json()["count"] == 2
    assert api.get("/api/v1/scoring-rules", {"kind": "fit"}).json()["count"] == 1
    patched = api.patch(f"/api/v1/scoring-rules/{rule['id']}", {"points": -20, "is_active": False})
    assert patched.status_code == 200 and patched.json()["points"] == -20 and patched.json()["is_active"] is False
    assert api.get(f"/api/v1/scoring-rules/{rule['id']}").json()["points"] == -20
    assert api.delete(f"/api/v1/scoring-rules/{rule['id']}").status_code == 204
    assert api.get(f"/api/v1/scoring-rules/{rule['id']}").status_code == 404
    assert ScoringRule.objects.count() == 1


def test_rescore_endpoint_scores_every_lead(api_for, manager, rep):
    services.rule_create(actor=manager, **FIT)
    Lead.objects.create(last_name="A", country="CN", owner=rep)
    Lead.objects.create(last_name="B", country="US", owner=rep)
    assert api_for(rep).post("/api/v1/scoring-rules/rescore").status_code == 403
    response = api_for(manager).post("/api/v1/scoring-rules/rescore")
    assert response.status_code == 200 and response.json() == {"scored": 2}
    assert sorted(Lead.objects.values_list("score", flat=True)) == [0, 30]


@pytest.mark.parametrize("change, field", [
    ({"field": "password"}, "field"),
    ({"operator": "like"}, "operator"),
    ({"value": ""}, "value"),
    ({"operator": "gte", "value": "many"}, "value"),
    ({"points": 500}, "points"),
    ({"points": "ten"}, "points"),
    ({"kind": "magic"}, "kind"),
])
def test_bad_fit_rule_is_422_naming_the_field(api_for, manager, change, field):
    response = api_for(manager).post("/api/v1/scoring-rules", {**FIT, **change})
    assert response.status_code == 422 and field in _fields(response), response.content
    assert not ScoringRule.objects.exists()


@pytest.mark.parametrize("change, field", [
    ({"touch_kind": ""}, "touch_kind"),
    ({"touch_kind": "Form Fill!"}, "touch_kind"),
    ({"cap": 0}, "cap"),
    ({"half_life_days": -3}, "half_life_days"),
    ({"points": -101}, "points"),
])
def test_bad_engagement_rule_is_422_naming_the_field(api_for, manager, change, field):
    response = api_for(manager).post("/api/v1/scoring-rules", {**ENGAGEMENT, **change})
    assert response.status_code == 422 and field in _fields(response), response.content


def test_patch_is_checked_as_a_whole(api_for, manager):
    rule_id = api_for(manager).post("/api/v1/scoring-rules", FIT).json()["id"]
    response = api_for(manager).patch(f"/api/v1/scoring-rules/{rule_id}", {"operator": "lte"})
    assert response.status_code == 422 and _fields(response) == {"value"}  # "CN" is not a number


def test_rep_reads_but_cannot_write_rules_or_train(api_for, manager, rep):
    rule_id = api_for(manager).post("/api/v1/scoring-rules", FIT).json()["id"]
    api = api_for(rep)
    assert api.get("/api/v1/scoring-rules").status_code == 200
    assert api.get(f"/api/v1/scoring-rules/{rule_id}").status_code == 200
    assert api.get("/api/v1/scoring-model").status_code == 200
    assert api.post("/api/v1/scoring-rules", FIT).status_code == 403
    assert api.patch(f"/api/v1/scoring-rules/{rule_id}", {"points": 99}).status_code == 403
    assert api.delete(f"/api/v1/scoring-rules/{rule_id}").status_code == 403
    assert api.post("/api/v1/scoring-model/train").status_code == 403
    assert ScoringRule.objects.get().points == 30


def test_anonymous_is_401(client):
    assert client.get("/api/v1/scoring-rules").status_code == 401
    assert client.get("/api/v1/scoring-model").status_code == 401


def test_train_endpoint_reports_auc_and_calibration(api_for, admin_user):
    make_history(400)
    response = api_for(admin_user).post("/api/v1/scoring-model/train")
    assert response.status_code == 200
    data = response.json()
    assert data["status"] == "active" and data["auc"] > 0.75
    assert sum(row["count"] for row in data["calibration"]) == data["test_count"] == 100
    assert data["features"][0]["weight"] != 0


def test_rule_pages_per_role(rep, manager):
    services.rule_create(actor=manager, **FIT)
    rule = ScoringRule.objects.get()
    page = _client(rep).get("/nurture/scoring/rules/")
    assert page.status_code == 200 and "Country is CN" in page.content.decode()
    assert _client(rep).post("/nurture/scoring/rules/", {**FIT}).status_code == 403
    assert _client(rep).post(f"/nurture/scoring/rules/{rule.pk}/", {**FIT, "points": 99}).status_code == 403
    assert _client(rep).post(f"/nurture/scoring/rules/{rule.pk}/delete/").status_code == 403
    assert _client(rep).post("/nurture/scoring/model/").status_code == 403
    client = _client(manager)
    form = {"kind": "engagement", "touch_kind": "page_visit", "points": "2", "half_life_days": "7", "is_active": "on"}
    assert client.post("/nurture/scoring/rules/", form).status_code == 302
    bad = client.post("/nurture/scoring/rules/", {"kind": "fit", "field": "country", "operator": "gte",
                                                   "value": "many", "points": "5"})
    assert bad.status_code == 422 and "Give a number to compare with." in bad.content.decode()
    assert client.post(f"/nurture/scoring/rules/{rule.pk}/", {**FIT, "points": "40", "is_active": "on"}).status_code == 302
    rule.refresh_from_db()
    assert rule.points == 40 and ScoringRule.objects.count() == 2
    assert client.post(f"/nurture/scoring/rules/{rule.pk}/delete/").status_code == 302


def test_model_page_says_not_enough_history_then_shows_metrics(manager, rep):
    page = _client(rep).get("/nurture/scoring/model/").content.decode()
    assert "Not enough history" in page and "Train now" not in page
    make_history(400)
    assert _client(manager).post("/nurture/scoring/model/").status_code == 302
    page = _client(rep).get("/nurture/scoring/model/").content.decode()
    assert "AUC on held-out leads" in page and "Calibration" in page and "Country is CN" in page


def test_lead_pages_show_score_grade_and_factors_and_sort_by_score(rep, manager):
    services.rule_create(actor=manager, **FIT)
    services.rule_create(actor=manager, kind="fit", field="industry", operator="equals", value="Software", points=55)
    low = Lead.objects.create(last_name="Low", country="US", owner=rep)
    high = Lead.objects.create(last_name="High", country="CN", industry="Software", owner=rep)
    middle = Lead.objects.create(last_name="Middle", country="CN", owner=rep)
    unscored = Lead.objects.create(last_name="Unscored", owner=rep)
    services.rescore_all(now=NOW)
    Lead.objects.filter(pk=unscored.pk).update(score=None)
    client = _client(rep)
    text = client.get("/leads/", {"ordering": "-score"}).content.decode()
    order = [text.index(f">{name}<") for name in ("High", "Middle", "Low", "Unscored")]
    assert order == sorted(order)
    assert 'class="badge grade-A"' in text
    text = client.get("/leads/", {"ordering": "score"}).content.decode()
    order = [text.index(f">{name}<") for name in ("Low", "Middle", "High", "Unscored")]
    assert order == sorted(order)  # nulls last either way
    detail = client.get(f"/leads/{high.pk}/").content.decode()
    assert "Country is CN: +30" in detail and "Industry is Software: +55" in detail and "grade-A" in detail
    assert "No predictive model is active" in detail
    assert "Not scored yet." in client.get(f"/leads/{Lead.objects.create(last_name='New', owner=rep).pk}/").content.decode()
    assert low.pk and middle.pk


def test_lead_detail_factors_in_chinese(rep, manager):
    services.rule_create(actor=manager, **FIT)
    lead = Lead.objects.create(last_name="Li", country="CN", owner=rep)
    services.rescore_lead(lead, now=NOW)
    client = _client(rep)
    client.cookies["django_language"] = "zh-hans"
    text = client.get(f"/leads/{lead.pk}/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "Country is CN" not in text and "国家/地区为 CN：+30" in text
