"""Rule triggers beyond a lead's status: an opportunity entering a stage, a domain event, a field changed to a
value, and the "post a webhook" action reaching a real receiver."""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.utils import timezone

from l2c.automation import rule_services
from l2c.automation.models import RuleRun, WebhookDelivery
from l2c.leads import services as lead_services
from l2c.pipeline import services as pipeline_services
from l2c.pipeline.tests.factories import OpportunityFactory, stage_named

pytestmark = pytest.mark.django_db


def test_opportunity_entering_a_stage_sets_its_next_step(manager, rep, django_capture_on_commit_callbacks):
    negotiation = stage_named("Negotiation")
    rule = rule_services.rule_create(
        actor=manager, name="Negotiation: legal review", record_type="opportunity", trigger="stage_entered",
        conditions=[{"field": "stage", "operator": "equals", "value": negotiation.pk},
                    {"field": "amount", "operator": "gte", "value": "5000"}],
        actions=[{"type": "update_field", "params": {"field": "next_step", "value": "Legal review"}},
                 {"type": "create_task", "params": {"subject": "Send {record} to legal", "due_in_days": 3}}])
    small = OpportunityFactory(owner=rep, amount=Decimal("100.00"))
    big = OpportunityFactory(owner=rep, amount=Decimal("9000.00"))
    with django_capture_on_commit_callbacks(execute=True):
        for opportunity in (small, big):
            pipeline_services.opportunity_move(opportunity=opportunity, stage=negotiation, actor=rep)
    runs = {run.record_id: run for run in RuleRun.objects.filter(rule=rule)}
    assert runs[str(small.pk)].status == "skipped"
    assert runs[str(big.pk)].status == "succeeded", runs[str(big.pk)].error
    big.refresh_from_db()
    small.refresh_from_db()
    assert big.next_step == "Legal review" and small.next_step == ""
    task = big.activities.get()
    assert task.subject == f"Send {big} to legal" and task.owner == rep
    assert dt.timedelta(days=2, hours=23) < task.due_at - timezone.now() <= dt.timedelta(days=3)


def test_any_registered_event_can_trigger_a_rule(manager, rep, django_capture_on_commit_callbacks):
    rule = rule_services.rule_create(
        actor=manager, name="Won: thank the owner", record_type="opportunity", trigger="event",
        trigger_config={"event": "opportunity.won"},
        actions=[{"type": "notify_user", "params": {"text": "You won {record}"}}])
    opportunity = OpportunityFactory(owner=rep)
    with django_capture_on_commit_callbacks(execute=True):
        pipeline_services.opportunity_move(opportunity=opportunity, stage=stage_named("Negotiation"), actor=rep)
    assert not RuleRun.objects.exists()  # stage_changed is not opportunity.won
    with django_capture_on_commit_callbacks(execute=True):
        pipeline_services.opportunity_move(opportunity=opportunity, stage=stage_named("Closed Won"), actor=rep)
    run = RuleRun.objects.get(rule=rule)
    assert run.status == "succeeded" and run.event == "opportunity.won"
    assert rep.notifications.get().text == f"You won {opportunity.name}"


def test_field_changed_to_a_value(manager, rep, rep2, django_capture_on_commit_callbacks):
    rule = rule_services.rule_create(
        actor=manager, name="Banking leads go to rep2", record_type="lead", trigger="field_changed",
        trigger_config={"fields": ["industry"]},
        conditions=[{"field": "industry", "operator": "changed_to", "value": "Banking"}],
        actions=[{"type": "assign_owner", "params": {"user_id": rep2.pk}}])
    lead = lead_services.lead_create(actor=rep, last_name="Turing")
    with django_capture_on_commit_callbacks(execute=True):
        lead_services.lead_update(lead=lead, actor=rep, city="Paris")  # another field: the rule does not run
    assert not RuleRun.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        lead_services.lead_update(lead=lead, actor=rep, industry="Retail")
    assert RuleRun.objects.get(rule=rule).status == "skipped"
    with django_capture_on_commit_callbacks(execute=True):
        lead_services.lead_update(lead=lead, actor=rep, industry="Banking")
    lead.refresh_from_db()
    assert lead.owner == rep2
    assert list(RuleRun.objects.filter(rule=rule).order_by("id").values_list("status", flat=True)) == [
        "skipped", "succeeded"]


def test_post_webhook_action_delivers_the_record_to_the_receiver(manager, rep, endpoint_for, receiver,
                                                                  django_capture_on_commit_callbacks):
    endpoint = endpoint_for(event_types=["account.created"])  # subscribes to something else: only the rule sends
    rule = rule_services.rule_create(
        actor=manager, name="Tell the CRM", record_type="lead", trigger="created",
        actions=[{"type": "post_webhook", "params": {"webhook_id": endpoint.pk}}])
    with django_capture_on_commit_callbacks(execute=True):
        lead = lead_services.lead_create(actor=rep, last_name="Curie", company="Radium")
    assert RuleRun.objects.get(rule=rule).status == "succeeded"
    delivery = WebhookDelivery.objects.get(event="automation.rule")
    assert delivery.status == "succeeded"
    [request] = [r for r in receiver.requests if r["headers"].get("X-L2C-Event") == "automation.rule"]
    assert request["verified"]
    body = json.loads(request["body"])
    assert body["data"]["rule_id"] == rule.pk and body["data"]["record_id"] == lead.pk
    assert body["data"]["record"]["company"] == "Radium" and body["data"]["record"]["owner"] == rep.pk


def test_three_days_before_a_contract_ends_a_task_is_created_on_its_opportunity(manager, rep):
    from l2c.automation import engine
    from l2c.billing.tests.factories import make_contract

    contract = make_contract(owner=rep)
    rule = rule_services.rule_create(
        actor=manager, name="Renewal call", record_type="contract", trigger="time",
        trigger_config={"date_field": "end_date", "offset_days": -3},
        conditions=[{"field": "auto_renew", "operator": "equals", "value": False}],
        actions=[{"type": "create_task", "params": {"subject": "Renewal call: {record}", "due_in_days": 1}},
                 {"type": "notify_user", "params": {"text": "{record} ends in 3 days"}}])
    day = contract.end_date - dt.timedelta(days=3)
    assert engine.sweep_time_rules(today=day - dt.timedelta(days=1)) == 0
    assert engine.sweep_time_rules(today=day) == 1
    assert engine.sweep_time_rules(today=day + dt.timedelta(days=1)) == 0  # once per contract and end date
    run = RuleRun.objects.get(rule=rule)
    assert run.status == "succeeded", run.error
    assert run.trigger == "time" and run.run_key == f"time:{contract.pk}:{contract.end_date.isoformat()}"
    task = contract.opportunity.activities.get()
    assert task.subject == f"Renewal call: {contract}" and task.owner == rep
    assert rep.notifications.get().link == f"/contracts/{contract.pk}/"


def test_an_invoice_seven_days_overdue_and_still_open_notifies(manager, rep, finance):
    from l2c.automation import engine
    from l2c.billing import services as billing_services
    from l2c.billing.tests.factories import make_contract

    contract = make_contract(owner=rep)
    invoice = billing_services.invoice_post(actor=finance, invoice=billing_services.invoice_create_from_contract(
        actor=finance, contract=contract))
    rule = rule_services.rule_create(
        actor=manager, name="Overdue a week", record_type="invoice", trigger="time",
        trigger_config={"date_field": "due_date", "offset_days": 7},
        conditions=[{"field": "status", "operator": "in", "value": ["posted", "partially_paid"]},
                    {"field": "balance", "operator": "gt", "value": "0"}],
        actions=[{"type": "notify_user", "params": {"text": "{record} is a week overdue", "user_id": rep.pk}}])
    assert engine.sweep_time_rules(today=invoice.due_date + dt.timedelta(days=6)) == 0
    assert engine.sweep_time_rules(today=invoice.due_date + dt.timedelta(days=7)) == 1
    assert RuleRun.objects.get(rule=rule).status == "succeeded"
    assert rep.notifications.get().text == f"{invoice} is a week overdue"
