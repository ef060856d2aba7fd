"""Nurture's workflow-rule actions: a rule enrols the lead in a sequence, through the same service (and the
same checks) as a user's enrolment."""
from __future__ import annotations

import pytest

from l2c.automation import rule_services
from l2c.automation.models import RuleRun
from l2c.core.errors import ValidationFailed
from l2c.leads import services as lead_services
from l2c.nurture.models import Enrollment

from . import ui_fixtures

pytestmark = pytest.mark.django_db
welcome, make_lead, active_sequence = ui_fixtures.welcome, ui_fixtures.make_lead, ui_fixtures.active_sequence


def _enrol_rule(actor, sequence_id, **values):
    return rule_services.rule_create(actor=actor, **{
        "name": "Nurture new leads", "record_type": "lead", "trigger": "status_changed",
        "conditions": [{"field": "status", "operator": "equals", "value": "nurturing"}],
        "actions": [{"type": "enroll_in_sequence", "params": {"sequence_id": sequence_id}}], **values})


def test_a_rule_enrols_the_lead_once_and_says_why_not_otherwise(manager, rep, make_lead, active_sequence,
                                                                 django_capture_on_commit_callbacks):
    rule = _enrol_rule(manager, active_sequence.pk)
    keen, no_consent = make_lead(), make_lead(consent_basis="", consent_at=None)

    with django_capture_on_commit_callbacks(execute=True):
        lead_services.lead_change_status(lead=keen, status="nurturing", actor=rep)
    with django_capture_on_commit_callbacks(execute=True):
        lead_services.lead_change_status(lead=no_consent, status="nurturing", actor=rep)

    enrollment = Enrollment.objects.get()
    assert (enrollment.lead_id, enrollment.source, enrollment.status) == (keen.pk, "rule", "active")
    runs = {run.record_id: run for run in RuleRun.objects.filter(rule=rule)}
    assert runs[str(keen.pk)].status == "succeeded"
    assert "enrolled in Onboarding" in runs[str(keen.pk)].results[0]["result"]
    assert runs[str(no_consent.pk)].status == "succeeded"
    assert "no lawful basis" in runs[str(no_consent.pk)].results[0]["result"]


def test_the_sequence_is_checked_when_the_rule_is_saved(manager):
    with pytest.raises(ValidationFailed) as caught:
        _enrol_rule(manager, 999_999)
    assert caught.value.errors[0].field == "actions[0].params.sequence_id"
    assert "No sequence with id 999999" in caught.value.errors[0].message


def test_the_action_is_offered_for_leads_only(admin_user, api_for):
    catalogue = api_for(admin_user).get("/api/v1/automation-record-types").json()
    offered = {rt["name"]: {a["name"] for a in rt["actions"]} for rt in catalogue}
    assert "enroll_in_sequence" in offered["lead"]
    assert "enroll_in_sequence" not in offered["opportunity"]
