"""Workflow rules: validation at save time, triggers, conditions, actions, the run log and loop detection."""
from __future__ import annotations

import datetime as dt

import pytest

from l2c.automation import engine, rule_services
from l2c.automation.models import AutomationRule, Notification, RuleRun
from l2c.core.errors import PermissionDenied, ValidationFailed
from l2c.leads import services as lead_services
from l2c.leads.models import Lead

pytestmark = pytest.mark.django_db


def _rule(actor, **values):
    body = {"name": "Rule", "record_type": "lead", "trigger": "status_changed", "conditions": [],
            "actions": [{"type": "notify_user", "params": {"text": "Look at {record}"}}], **values}
    return rule_services.rule_create(actor=actor, **body)


@pytest.fixture
def lead(rep):
    return lead_services.lead_create(actor=rep, last_name="Lovelace", company="Analytical")


def _change_status(capture, lead, status, actor):
    with capture(execute=True):
        return lead_services.lead_change_status(lead=lead, status=status, actor=actor)


def test_a_rule_loop_is_stopped(manager, rep, lead, django_capture_on_commit_callbacks):
    # given two rules that undo each other: working -> nurturing, nurturing -> working
    ping = _rule(manager, name="Ping", conditions=[{"field": "status", "operator": "equals", "value": "working"}],
                 actions=[{"type": "update_field", "params": {"field": "status", "value": "nurturing"}}])
    pong = _rule(manager, name="Pong", conditions=[{"field": "status", "operator": "equals", "value": "nurturing"}],
                 actions=[{"type": "update_field", "params": {"field": "status", "value": "working"}}])
    # when the rep starts working the lead
    _change_status(django_capture_on_commit_callbacks, lead, "working", rep)
    # then the ping-pong ended: each rule changed the lead at most twice, and each was stopped when its own
    # change came back to it within one causal chain
    runs = list(RuleRun.objects.order_by("id"))
    assert len(runs) <= 8
    succeeded = [run for run in runs if run.status == "succeeded"]
    stopped = [run for run in runs if run.status == "loop_stopped"]
    assert {run.rule_id for run in stopped} == {ping.pk, pong.pk}
    assert all(sum(r.rule_id == rule.pk for r in succeeded) <= 2 for rule in (ping, pong))
    for run in stopped:
        assert [run.rule_id, "lead", str(lead.pk)] in run.chain and run.depth == len(run.chain)
        assert "same record" in run.error and run.results == []
    # and the lead holds what the last successful run set
    lead.refresh_from_db()
    last = max(succeeded, key=lambda run: run.finished_at)
    assert lead.status == ("nurturing" if last.rule_id == ping.pk else "working")


@pytest.mark.django_db(transaction=True)
def test_a_rule_loop_is_stopped_with_real_commits(manager, rep):
    """As in production: each commit delivers its events at once, so the chain is followed depth first."""
    lead = lead_services.lead_create(actor=rep, last_name="Babbage")
    ping = _rule(manager, name="Ping", conditions=[{"field": "status", "operator": "equals", "value": "working"}],
                 actions=[{"type": "update_field", "params": {"field": "status", "value": "nurturing"}}])
    pong = _rule(manager, name="Pong", conditions=[{"field": "status", "operator": "equals", "value": "nurturing"}],
                 actions=[{"type": "update_field", "params": {"field": "status", "value": "working"}}])
    lead_services.lead_change_status(lead=lead, status="working", actor=rep)
    runs = [(run.rule_id, run.status, run.depth) for run in RuleRun.objects.order_by("id")]
    # ping (depth 0) -> pong (depth 1) -> ping again for the same lead: stopped (depth 2)
    assert (ping.pk, "succeeded", 0) in runs and (pong.pk, "succeeded", 1) in runs
    assert (ping.pk, "loop_stopped", 2) in runs
    assert len(runs) <= 8
    assert Lead.objects.get(pk=lead.pk).status in ("working", "nurturing")


def test_a_self_triggering_rule_stops_after_its_first_run(manager, rep, lead, django_capture_on_commit_callbacks):
    # a rule that fires on any change of the lead's industry and changes it again
    rule = _rule(manager, trigger="field_changed", trigger_config={"fields": ["industry"]},
                 actions=[{"type": "update_field", "params": {"field": "industry", "value": "Looping"}}])
    with django_capture_on_commit_callbacks(execute=True):
        lead_services.lead_update(lead=lead, actor=rep, industry="Steam")
    statuses = list(RuleRun.objects.filter(rule=rule).order_by("id").values_list("status", flat=True))
    # the first run changed the industry; that change fired the rule again for the same record: stopped
    assert statuses == ["succeeded", "loop_stopped"]
    lead.refresh_from_db()
    assert lead.industry == "Looping"


def test_conditions_decide_and_a_skipped_run_is_logged(manager, rep, lead, django_capture_on_commit_callbacks):
    rule = _rule(manager, conditions=[{"field": "status", "operator": "equals", "value": "qualified"},
                                      {"field": "company", "operator": "contains", "value": "analyt"}])
    _change_status(django_capture_on_commit_callbacks, lead, "working", rep)
    assert RuleRun.objects.get(rule=rule).status == "skipped"
    assert not Notification.objects.exists()
    _change_status(django_capture_on_commit_callbacks, lead, "qualified", rep)
    run = RuleRun.objects.filter(rule=rule).order_by("-id").first()
    assert run.status == "succeeded", run.error
    note = Notification.objects.get()
    assert note.recipient == rep and note.text == f"Look at {lead}"
    assert note.link == f"/leads/{lead.pk}/"


def test_a_failing_action_does_not_undo_the_users_change_and_rolls_back_the_rule(
        manager, rep, lead, django_capture_on_commit_callbacks):
    # given a rule whose first action works and whose second fails (a new lead cannot go back to "new")
    rule = _rule(manager, actions=[
        {"type": "create_task", "params": {"subject": "Call them", "due_in_days": 2}},
        {"type": "update_field", "params": {"field": "status", "value": "converted"}}])
    # when the rep changes the status
    _change_status(django_capture_on_commit_callbacks, lead, "working", rep)
    # then the rep's change stays, the run failed with the reason, and the task was rolled back
    lead.refresh_from_db()
    assert lead.status == "working"
    run = RuleRun.objects.get(rule=rule)
    assert run.status == "failed"
    assert run.results[0]["ok"] is True and run.results[0]["rolled_back"] is True
    assert run.results[1]["ok"] is False and "convert" in run.error
    from l2c.pipeline.models import Activity
    assert not Activity.objects.filter(lead=lead).exists()


def test_create_task_and_assign_owner_on_lead_created(manager, rep, rep2, django_capture_on_commit_callbacks):
    _rule(manager, trigger="created", conditions=[{"field": "source", "operator": "in", "value": ["manual", "api"]}],
          actions=[{"type": "assign_owner", "params": {"user_id": rep2.pk}},
                   {"type": "create_task", "params": {"subject": "First call", "due_in_days": 1}}])
    with django_capture_on_commit_callbacks(execute=True):
        lead = lead_services.lead_create(actor=rep, last_name="Hopper")
    lead.refresh_from_db()
    assert lead.owner == rep2
    task = lead.activities.get()
    assert task.subject == "First call" and task.owner == rep2 and task.kind == "task"
    assert task.due_at.date() >= dt.date.today()


def test_time_rule_fires_once_per_record_and_date(manager, rep, lead):
    rule = _rule(manager, trigger="time", trigger_config={"date_field": "created_at", "offset_days": 3},
                 conditions=[{"field": "status", "operator": "not_equals", "value": "disqualified"}])
    today = dt.date.today()
    assert engine.sweep_time_rules(today=today) == 0  # created today: 3 days after is not yet
    assert engine.sweep_time_rules(today=today + dt.timedelta(days=3)) == 1
    assert RuleRun.objects.get(rule=rule).status == "succeeded"
    assert engine.sweep_time_rules(today=today + dt.timedelta(days=4)) == 0  # fired already
    assert Notification.objects.count() == 1


@pytest.mark.parametrize(("values", "field"), [
    ({"record_type": "spaceship"}, "record_type"),
    ({"trigger": "whenever"}, "trigger"),
    ({"trigger": "stage_entered"}, "trigger"),
    ({"trigger": "event", "trigger_config": {"event": "no.such"}}, "trigger_config.event"),
    ({"trigger": "time", "trigger_config": {"date_field": "title", "offset_days": 1}}, "trigger_config.date_field"),
    ({"trigger": "field_changed", "trigger_config": {"fields": ["colour"]}}, "trigger_config.fields"),
    ({"conditions": [{"field": "colour", "operator": "equals", "value": "x"}]}, "conditions[0].field"),
    ({"conditions": [{"field": "status", "operator": "equals", "value": "happy"}]}, "conditions[0].value"),
    ({"conditions": [{"field": "status", "operator": "gt", "value": "new"}]}, "conditions[0].operator"),
    ({"conditions": [{"field": "status", "operator": "changed_to", "value": "new"}]}, "conditions[0].operator"),
    ({"conditions": [{"field": "score", "operator": "in", "value": []}]}, "conditions[0].value"),
    ({"actions": []}, "actions"),
    ({"actions": [{"type": "launch"}]}, "actions[0].type"),
    ({"actions": [{"type": "update_field", "params": {"field": "email", "value": "a@b.c"}}]}, "actions[0].params.field"),
    ({"actions": [{"type": "update_field", "params": {"field": "status", "value": "happy"}}]},
     "actions[0].params.value"),
    ({"actions": [{"type": "assign_owner", "params": {"user_id": 999999}}]}, "actions[0].params.user_id"),
    ({"actions": [{"type": "post_webhook", "params": {"webhook_id": 999999}}]}, "actions[0].params.webhook_id"),
    ({"actions": [{"type": "notify_user", "params": {}}]}, "actions[0].params.text"),
    ({"actions": [{"type": "create_task", "params": {"subject": "x", "due_in_days": 9999}}]},
     "actions[0].params.due_in_days"),
])
def test_a_bad_rule_is_refused_naming_the_field(manager, values, field):
    with pytest.raises(ValidationFailed) as caught:
        _rule(manager, **values)
    assert field in [error.field for error in caught.value.errors], caught.value.errors
    assert not AutomationRule.objects.exists()


def test_a_rep_cannot_edit_automation_rules(rep, manager, finance):
    rule = _rule(manager)
    for user in (rep, finance):
        with pytest.raises(PermissionDenied):
            _rule(user)
        with pytest.raises(PermissionDenied):
            rule_services.rule_update(actor=user, rule=rule, name="Mine now")
        with pytest.raises(PermissionDenied):
            rule_services.rule_delete(actor=user, rule=rule)
    rule.refresh_from_db()
    assert rule.name == "Rule"


def test_an_inactive_rule_does_not_run(manager, rep, lead, django_capture_on_commit_callbacks):
    rule = _rule(manager)
    rule_services.rule_update(actor=manager, rule=rule, is_active=False)
    _change_status(django_capture_on_commit_callbacks, lead, "working", rep)
    assert not RuleRun.objects.exists()


def test_events_read_the_rules_once_then_only_the_version_stamp(manager):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    _rule(manager, record_type="opportunity", trigger="created")
    engine.on_event("opportunity.stage_changed", {"opportunity_id": 1})  # loads the active rules once
    with CaptureQueriesContext(connection) as queries:
        assert engine.on_event("lead.status_changed", {"lead_id": 5}) == 0
        assert engine.on_event("opportunity.stage_changed", {"opportunity_id": 1}) == 0
        assert engine.on_field_change("leads.lead", "5", {"industry": ["a", "b"]}) == 0
    assert not [q for q in queries.captured_queries if "automation_automationrule" in q["sql"]]
    assert len(queries.captured_queries) <= 3  # at most one cache read (the version stamp) per event


def test_a_rule_saved_by_another_process_is_seen_at_the_next_event(manager, rep, django_capture_on_commit_callbacks):
    from django.core.cache import cache

    engine.on_event("lead.status_changed", {"lead_id": 5})  # this process caches "no rules"
    rule = AutomationRule.objects.create(  # another process saved a rule: its commit bumped the shared stamp
        name="Elsewhere", record_type="lead", trigger="status_changed", conditions=[],
        actions=[{"type": "notify_user", "params": {"text": "{record}"}}], run_as=manager, created_by=manager)
    cache.set(engine.RULES_VERSION_KEY, "bumped-by-another-process", timeout=None)
    lead = lead_services.lead_create(actor=rep, last_name="Hopper")

    _change_status(django_capture_on_commit_callbacks, lead, "working", rep)

    assert RuleRun.objects.filter(rule=rule, record_id=str(lead.pk)).exists()
