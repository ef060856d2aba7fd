"""Sequences API: round trip for a manager, 403s for a rep's writes, 422s naming steps[i].field, 409s for
actions the state does not allow, enrol by ids and by filter, unenrol, enrollments and the report."""
from __future__ import annotations

import pytest

from l2c.nurture.models import Enrollment, Sequence

from . import ui_fixtures

welcome, make_lead, active_sequence = ui_fixtures.welcome, ui_fixtures.make_lead, ui_fixtures.active_sequence

pytestmark = pytest.mark.django_db


def _fields(response):
    return {e["field"] for e in response.json()["errors"]}


def test_manager_round_trip(api_for, manager, welcome):
    api = api_for(manager)
    body = {"name": "Onboarding", "from_email": "sales@example.com", "steps": [
        {"kind": "email", "template": welcome.pk}, {"kind": "wait", "wait_days": 3},
        {"kind": "branch", "condition": "score_at_least", "condition_value": 60, "if_true": 0}]}
    response = api.post("/api/v1/sequences", body)
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["status"] == "draft" and [s["kind"] for s in data["steps"]] == ["email", "wait", "branch"]
    assert data["steps"][0]["template"] == welcome.pk and data["steps"][2]["if_true"] == 0
    sequence_id = data["id"]
    listed = api.get("/api/v1/sequences", {"limit": 10}).json()
    assert listed["count"] == 1 and listed["items"][0]["steps_count"] == 3
    patched = api.patch(f"/api/v1/sequences/{sequence_id}", {"description": "New", "exit_on_reply": False}).json()
    assert patched["description"] == "New" and patched["exit_on_reply"] is False
    put = api.put(f"/api/v1/sequences/{sequence_id}/steps", {"steps": [{"kind": "email", "template": welcome.pk}]})
    assert put.status_code == 200 and len(put.json()["steps"]) == 1
    assert api.post(f"/api/v1/sequences/{sequence_id}/activate").json()["status"] == "active"
    assert api.post(f"/api/v1/sequences/{sequence_id}/pause").json()["status"] == "paused"
    assert api.post(f"/api/v1/sequences/{sequence_id}/steps", {"steps": body["steps"]}).status_code == 200
    assert api.post(f"/api/v1/sequences/{sequence_id}/archive").json()["status"] == "archived"
    assert api.post(f"/api/v1/sequences/{sequence_id}/activate").status_code == 409
    assert api.delete(f"/api/v1/sequences/{sequence_id}").status_code == 204
    assert not Sequence.objects.exists()
    assert api.get(f"/api/v1/sequences/{sequence_id}").status_code == 404


def test_bad_steps_are_422_naming_the_field(api_for, manager, welcome):
    api = api_for(manager)
    response = api.post("/api/v1/sequences", {"name": "Bad", "steps": [
        {"kind": "email"}, {"kind": "wait"}, {"kind": "task"}, {"kind": "branch", "condition": "x"}]})
    assert response.status_code == 422
    assert _fields(response) == {"steps[0].template", "steps[1].wait_days", "steps[2].task_subject",
                                 "steps[3].condition"}
    response = api.post("/api/v1/sequences", {"name": "Bad", "steps": [{"kind": "email", "templat": 1}]})
    assert response.status_code == 422 and not Sequence.objects.exists()


def test_rep_reads_and_enrols_but_cannot_write(api_for, rep, active_sequence, make_lead, welcome):
    api = api_for(rep)
    url = f"/api/v1/sequences/{active_sequence.pk}"
    assert api.get(url).status_code == 200
    assert api.get(f"{url}/report").status_code == 200
    assert api.post("/api/v1/sequences", {"name": "Mine"}).status_code == 403
    assert api.patch(url, {"name": "Mine"}).status_code == 403
    assert api.put(f"{url}/steps", {"steps": []}).status_code == 403
    for action in ("activate", "pause", "archive"):
        assert api.post(f"{url}/{action}").status_code == 403
    assert api.delete(url).status_code == 403
    lead = make_lead()
    assert api.post(f"{url}/enroll", {"lead_ids": [lead.pk]}).json() == {
        "enrolled": 1, "already_enrolled": 0, "skipped": {}}
    assert Enrollment.objects.get().source == "api"


def test_finance_is_refused(api_for, finance, active_sequence):
    assert api_for(finance).get("/api/v1/sequences").status_code == 403
    assert api_for(finance).get(f"/api/v1/sequences/{active_sequence.pk}").status_code == 403


def test_enrol_by_ids_and_filter_unenrol_and_list_enrollments(api_for, rep, rep2, manager, active_sequence,
                                                              make_lead):
    # given
    api = api_for(rep)
    url = f"/api/v1/sequences/{active_sequence.pk}"
    mine = make_lead(country="DE")
    no_email = make_lead(country="DE", email="")
    theirs = make_lead(country="DE", owner=rep2)
    # when / then
    assert api.post(f"{url}/enroll", {"lead_ids": [mine.pk, no_email.pk, theirs.pk]}).json() == {
        "enrolled": 1, "already_enrolled": 0, "skipped": {"no_email": 1, "not_found": 1}}
    assert api_for(manager).post(f"{url}/enroll", {"filter": {"country": "DE"}}).json() == {
        "enrolled": 1, "already_enrolled": 1, "skipped": {"no_email": 1}}
    listed = api.get(f"{url}/enrollments", {"status": "active"}).json()
    assert listed["count"] == 1 and listed["items"][0]["lead"] == mine.pk  # the rep sees only their own
    assert api_for(manager).get(f"{url}/enrollments").json()["count"] == 2
    assert api.post(f"{url}/unenroll", {"lead_ids": [mine.pk, theirs.pk]}).json() == {
        "unenrolled": 1, "not_enrolled": 1}
    assert api.get(f"{url}/enrollments", {"status": "exited"}).json()["items"][0]["exit_reason"] == "unenrolled"
    assert api.get(f"{url}/enrollments", {"status": "nope"}).status_code == 422
    assert api.post(f"{url}/enroll", {}).status_code == 422
    assert api.post(f"{url}/enroll", {"lead_ids": [mine.pk], "filter": {}}).status_code == 422
    assert api.post(f"{url}/unenroll", {"lead_ids": []}).status_code == 422


def test_enrol_in_a_draft_is_409(api_for, manager, welcome, make_lead):
    api = api_for(manager)
    sequence_id = api.post("/api/v1/sequences", {"name": "Draft", "steps": [
        {"kind": "email", "template": welcome.pk}]}).json()["id"]
    response = api.post(f"/api/v1/sequences/{sequence_id}/enroll", {"lead_ids": [make_lead().pk]})
    assert response.status_code == 409 and response.json()["code"] == "sequence_not_active"


def test_delete_with_enrollments_is_409(api_for, manager, active_sequence, make_lead):
    api = api_for(manager)
    api.post(f"/api/v1/sequences/{active_sequence.pk}/enroll", {"lead_ids": [make_lead().pk]})
    response = api.delete(f"/api/v1/sequences/{active_sequence.pk}")
    assert response.status_code == 409 and response.json()["code"] == "has_enrollments"


def test_report_shape(api_for, manager, active_sequence):
    data = api_for(manager).get(f"/api/v1/sequences/{active_sequence.pk}/report").json()
    assert [s["kind"] for s in data["steps"]] == ["email", "wait", "email"]
    assert data["steps"][0]["counts"]["sent"] == 0 and data["steps"][0]["rates"]["opened"] is None
    assert data["totals"]["enrolled"] == 0
