"""Nurture's workflow-rule actions: a rule enrols the lead in a sequence, through the same service (and the
same checks) as a user's enrolment."""
from __future__ import annotations

import pytest
from django.utils import timezone

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


# --- send an e-mail ---------------------------------------------------------------------------------------------

def _send_rule(actor, template_id):
    return rule_services.rule_create(actor=actor, **{
        "name": "Welcome qualified leads", "record_type": "lead", "trigger": "status_changed",
        "conditions": [{"field": "status", "operator": "equals", "value": "qualified"}],
        "actions": [{"type": "send_email", "params": {"template_id": template_id}}]})


def test_a_rule_sends_one_tracked_e_mail_through_smtp(manager, rep, smtp_sink, email_template, lead_for,
                                                       django_capture_on_commit_callbacks):
    from l2c.nurture.models import EmailMessage

    rule = _send_rule(manager, email_template().pk)
    lead = lead_for(first_name="Ada")

    with django_capture_on_commit_callbacks(execute=True):  # also runs what the run's own commits queue
        lead_services.lead_change_status(lead=lead, status="qualified", actor=rep)

    message = EmailMessage.objects.get()
    assert (message.status, message.enrollment_id, message.lead_id) == ("sent", None, lead.pk)
    assert message.idempotency_key.startswith(f"rule-run:{RuleRun.objects.get(rule=rule).pk}:0:")
    received = smtp_sink.to(lead.email)
    assert len(received) == 1 and received[0]["Subject"] == "Hi Ada"
    assert "List-Unsubscribe" in received[0] and f"/t/o/{message.token}.gif" in message.html


def test_send_action_is_once_per_run_and_says_why_when_the_lead_may_not_be_e_mailed(manager, email_template,
                                                                                    lead_for):
    from l2c.automation.models import AutomationRule
    from l2c.core import automation_registry as registry
    from l2c.nurture.automation import send_email
    from l2c.nurture.models import EmailMessage, Suppression

    template = email_template()
    rule = AutomationRule.objects.create(name="r", record_type="lead", trigger="created", run_as=manager)
    run = RuleRun.objects.create(rule=rule, record_type="lead", record_id="1", started_at=timezone.now())
    lead, suppressed = lead_for(), lead_for()
    Suppression.objects.create(email=suppressed.email, reason="unsubscribed")

    def context(record):
        return registry.ActionContext(record=record, record_type=registry.record_type("lead"),
                                      params={"template_id": template.pk}, rule=rule, actor=manager, run=run)

    first, second = send_email(context(lead)), send_email(context(lead))
    refused = send_email(context(suppressed))

    assert first.startswith("e-mail queued to") and second.startswith("already queued")
    assert EmailMessage.objects.filter(lead=lead).count() == 1
    assert refused.startswith("not sent:") and "suppression list" in refused
    assert not EmailMessage.objects.filter(lead=suppressed).exists()


def test_the_template_is_checked_when_the_rule_is_saved(manager):
    with pytest.raises(ValidationFailed) as caught:
        _send_rule(manager, 424242)
    assert caught.value.errors[0].field == "actions[0].params.template_id"
