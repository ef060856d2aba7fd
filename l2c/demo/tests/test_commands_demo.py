"""`l2c demo`: deterministic, realistic, complete (every status and stage), audited, idempotent with --if-empty."""
from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from l2c.core import audit
from l2c.core.models import AuditEvent
from l2c.customers.models import Account, Contact
from l2c.demo import DEMO_USERS, generate
from l2c.identity.models import User
from l2c.leads.choices import LeadStatus
from l2c.leads.models import Campaign, Lead
from l2c.pipeline.models import Activity, Opportunity, Stage, StageHistory

pytestmark = pytest.mark.django_db


def fingerprint():
    """What a seed decides: people, companies, statuses, deals (not timestamps, which follow today)."""
    return {
        "leads": list(Lead.objects.order_by("id").values_list(
            "first_name", "last_name", "email", "company", "country", "status", "source", "owner__username")),
        "accounts": list(Account.objects.order_by("id").values_list("name", "city", "postal_code")),
        "opportunities": list(Opportunity.objects.order_by("id").values_list("name", "amount", "currency", "stage__name")),
        "counts": {m.__name__: m.objects.count() for m in (Account, Contact, Lead, Opportunity, StageHistory, Activity)},
    }


def generate_and_roll_back(**kwargs):
    sid = transaction.savepoint()
    try:
        generate(**kwargs)
        return fingerprint()
    finally:
        transaction.savepoint_rollback(sid)


def test_same_seed_gives_the_same_data_and_another_seed_other_data():
    first = generate_and_roll_back(leads=60, seed=7)
    again = generate_and_roll_back(leads=60, seed=7)
    other = generate_and_roll_back(leads=60, seed=8)

    assert first == again
    assert first["counts"]["Lead"] == 60
    assert [row[:3] for row in first["leads"]] != [row[:3] for row in other["leads"]]
    assert first["opportunities"] != other["opportunities"]


def test_every_lead_status_and_every_stage_is_represented():
    generate(leads=30, seed=1)

    assert set(Lead.objects.values_list("status", flat=True)) == set(LeadStatus.values)
    stages = list(Stage.objects.all())
    assert {s.name for s in stages} >= {"Prospecting", "Qualification", "Proposal", "Negotiation", "Closed Won",
                                        "Closed Lost"}
    for stage in stages:
        assert Opportunity.objects.filter(stage=stage).exists(), stage.name
        assert Opportunity.objects.filter(stage=stage, owner__username="rep").exists(), stage.name


def test_records_are_realistic_and_consistent():
    generate(leads=80, seed=3)

    # English and Chinese names
    last_names = list(Lead.objects.values_list("last_name", flat=True))
    assert any("\u4e00" <= name[0] <= "\u9fff" for name in last_names)
    assert any(name.isascii() for name in last_names)
    assert {"CN", "US"} <= set(Lead.objects.values_list("country", flat=True))
    assert {"USD", "CNY"} <= set(Opportunity.objects.values_list("currency", flat=True))
    # converted leads lead to an account, contact and an opportunity that points back
    for lead in Lead.objects.filter(status=LeadStatus.CONVERTED):
        opportunity = Opportunity.objects.get(pk=lead.converted_opportunity_id)
        assert opportunity.lead_id == lead.pk
        assert opportunity.account_id == lead.converted_account_id
        assert opportunity.contact_id == lead.converted_contact_id
        assert opportunity.contact.account_id == opportunity.account_id
        assert lead.converted_at == opportunity.created_at
        assert lead.created_at < lead.converted_at
    assert all(Lead.objects.filter(status=LeadStatus.DISQUALIFIED).values_list("disqualified_reason", flat=True))
    lost = Opportunity.objects.filter(stage__is_lost=True)
    assert lost.exists() and all(lost.values_list("lost_reason", flat=True))
    assert Lead.objects.exclude(utm_source="").exists()
    assert Lead.objects.filter(consent_basis="consent", consent_at__isnull=False).exists()
    assert Campaign.objects.filter(budget__gt=0, cost__gt=0).exists()


def test_stage_history_goes_back_months_and_is_contiguous():
    generate(leads=80, seed=4)
    now = timezone.now()

    assert StageHistory.objects.filter(entered_at__lt=now - dt.timedelta(days=90)).exists()
    for opportunity in Opportunity.objects.prefetch_related("stage_history"):
        stays = list(opportunity.stage_history.all())
        assert stays[0].from_stage_id is None
        assert stays[-1].stage_id == opportunity.stage_id and stays[-1].left_at is None
        assert stays[-1].entered_at == opportunity.stage_entered_at
        for earlier, later in zip(stays, stays[1:], strict=False):
            assert earlier.left_at == later.entered_at > earlier.entered_at
            assert later.from_stage_id == earlier.stage_id
        assert stays[-1].entered_at <= now
        assert (opportunity.closed_at is not None) == opportunity.stage.is_closed


def test_rep_has_tasks_due_today_overdue_and_later():
    generate(leads=20, seed=5)
    now = timezone.now()
    open_tasks = Activity.objects.filter(owner__username="rep", done_at__isnull=True, due_at__isnull=False)
    today = timezone.localdate(now)

    assert open_tasks.filter(due_at__lt=now - dt.timedelta(hours=12)).exists()
    assert any(timezone.localdate(due) == today for due in open_tasks.values_list("due_at", flat=True))
    assert open_tasks.filter(due_at__gt=now + dt.timedelta(days=1)).exists()


def test_demo_users_have_password_demo_and_their_roles():
    generate(leads=5, seed=1)

    for spec in DEMO_USERS:
        user = User.objects.get(username=spec.username)
        assert user.check_password("demo"), spec.username
        assert user.role == spec.role
        assert (user.team.name if user.team else None) == spec.team
    assert User.objects.get(username="admin").is_superuser
    assert not User.objects.get(username="rep").is_staff


def test_if_empty_loads_once_then_does_nothing():
    out = StringIO()
    call_command("demo", "--leads", "15", "--if-empty", stdout=out)
    leads, events = Lead.objects.count(), AuditEvent.objects.count()

    call_command("demo", "--leads", "15", "--if-empty", stdout=out)

    assert leads == 15
    assert Lead.objects.count() == leads and AuditEvent.objects.count() == events
    assert "nothing to do" in out.getvalue()


def test_if_empty_leaves_a_database_with_real_leads_alone():
    Lead.objects.create(last_name="Customer")
    call_command("demo", "--leads", "15", "--if-empty", stdout=StringIO())
    assert Lead.objects.count() == 1
    assert not User.objects.filter(username="rep").exists()


def test_demo_users_exist_only_after_the_demo_command():
    assert not User.objects.filter(username__in=[u.username for u in DEMO_USERS]).exists()


def test_audit_chain_verifies_with_one_event_per_record():
    generate(leads=25, seed=2)

    count, problem = audit.verify_chain()
    assert problem is None
    for model in (Account, Contact, Lead, Opportunity, Activity):
        label = f"{model._meta.app_label}.{model._meta.model_name}"
        assert AuditEvent.objects.filter(object_type=label, action="create").count() == model.objects.count()
    lead = Lead.objects.first()
    assert audit.history_for(lead).get().changes["last_name"] == [None, lead.last_name]


def test_large_runs_use_chunks_with_summary_events_and_keep_sequences_right():
    # given: small chunks and summary auditing, as a --leads 1000000 run would use
    result = generate(leads=45, seed=6, chunk_size=20, per_record_audit_max=10)

    # then
    assert result.audit_mode == "per-batch"
    assert Lead.objects.count() == 45
    assert audit.verify_chain()[1] is None
    summaries = AuditEvent.objects.filter(object_type="leads.lead")
    assert summaries.count() == 3  # chunks of 20, 20, 5
    assert sum(e.changes["demo_batch"][1]["count"] for e in summaries) == 45
    # the id sequences moved past the explicit ids: ordinary inserts still work
    lead = Lead.objects.create(last_name="After")
    assert lead.pk > max(Lead.objects.exclude(pk=lead.pk).values_list("pk", flat=True))
    account = Account.objects.create(name="After Ltd")
    assert account.pk > Account.objects.exclude(pk=account.pk).order_by("-pk").first().pk


def test_a_second_run_adds_data_next_to_the_first():
    generate(leads=10, seed=1)
    generate(leads=10, seed=2)
    assert Lead.objects.count() == 20
    assert User.objects.filter(username="rep").count() == 1
    assert audit.verify_chain()[1] is None


def test_configured_stages_are_used_not_replaced():
    # given: a company that set up its own pipeline (the default stages, if migrated, switched off)
    Stage.objects.update(is_active=False)
    Stage.objects.create(name="Discovery", order=1, probability=15)
    Stage.objects.create(name="Won", order=2, probability=100, is_won=True)
    stages_before = Stage.objects.count()

    generate(leads=20, seed=1)

    assert Stage.objects.count() == stages_before
    assert set(Opportunity.objects.values_list("stage__name", flat=True)) == {"Discovery", "Won"}


def test_default_stages_are_created_only_when_there_are_none():
    Opportunity.objects.all().delete()
    Stage.objects.all().delete()

    generate(leads=10, seed=1)
    generate(leads=10, seed=2)

    assert sorted(Stage.objects.values_list("name", flat=True)) == sorted(
        ["Prospecting", "Qualification", "Proposal", "Negotiation", "Closed Won", "Closed Lost"])


def test_bad_lead_count_is_refused():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="-5' is negative"):
        call_command("demo", "--leads", "-5")
    with pytest.raises(CommandError, match="not a whole number"):
        call_command("demo", "--leads", "many")
    assert not Lead.objects.exists()


def test_serve_prints_the_five_demo_log_ins_once_they_exist():
    from l2c.core.management.commands.serve import demo_logins

    assert demo_logins() == []
    generate(leads=0, seed=1)
    assert demo_logins() == [("admin", "admin"), ("manager", "manager"), ("rep", "rep"), ("rep2", "rep"),
                             ("finance", "finance")]
