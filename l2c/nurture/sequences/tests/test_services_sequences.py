"""Sequence services: create/update with step validation naming steps[i].field, status transitions,
delete, enrol (with skip reasons, by filter, in bulk) and unenrol, and who may do what."""
from __future__ import annotations

import pytest
from django.utils import timezone

from l2c.core.errors import Conflict, InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from l2c.core.models import AuditEvent
from l2c.nurture import services as nurture_services
from l2c.nurture.models import EmailTemplate, EmailTemplateVersion, Enrollment, NurtureSettings, SequenceStep
from l2c.nurture.selectors import can_email
from l2c.nurture.sequences import services

from . import ui_fixtures
from .ui_fixtures import steps_for

welcome, make_lead, active_sequence = ui_fixtures.welcome, ui_fixtures.make_lead, ui_fixtures.active_sequence

pytestmark = pytest.mark.django_db


def _fields(exc_info) -> set[str]:
    return {e.field for e in exc_info.value.errors}


# --- create, update, validation ----------------------------------------------------------------------

def test_manager_creates_a_draft_with_its_steps_and_an_audit_event(manager, welcome):
    sequence = services.sequence_create(actor=manager, name=" Onboarding ", from_email="Sales@Example.com",
                                        steps=steps_for(welcome))
    assert sequence.status == "draft" and sequence.name == "Onboarding" and sequence.from_email == "sales@example.com"
    steps = list(sequence.steps.order_by("position"))
    assert [(s.position, s.kind) for s in steps] == [(1, "email"), (2, "wait"), (3, "email")]
    assert steps[1].wait_days == 2 and steps[0].template_id == welcome.pk
    event = AuditEvent.objects.get(object_type="nurture.sequence", object_id=str(sequence.pk))
    assert event.action == "create" and len(event.changes["steps"][1]) == 3


def test_every_bad_step_field_is_named(manager, welcome):
    inactive = nurture_services.template_create(actor=manager, name="Old", is_active=False, versions=[
        {"language": "en", "subject": "s", "html": "<p>x</p>"}])
    chinese_only = EmailTemplate.objects.create(name="Chinese only")
    EmailTemplateVersion.objects.create(template=chinese_only, language="zh-hans", subject="s", html="<p>x</p>")
    steps = [
        {"kind": "email"},                                                    # 0 no template
        {"kind": "email", "template": inactive.pk},                           # 1 inactive
        {"kind": "email", "template": chinese_only.pk},                       # 2 no English
        {"kind": "email", "template": 999999},                                # 3 unknown
        {"kind": "wait", "wait_days": 0, "wait_hours": 0},                    # 4 zero wait
        {"kind": "task", "task_subject": "  "},                               # 5 no subject
        {"kind": "branch", "condition": "sunny"},                             # 6 bad condition
        {"kind": "branch", "condition": "score_at_least", "condition_value": 101},  # 7 score > 100
        {"kind": "branch", "condition": "opened", "if_true": 42, "if_false": 9},    # 8 if_true past the end
        {"kind": "teleport"},                                                 # 9 unknown kind
        {"kind": "wait", "wait_days": -1, "wait_hours": 1},                   # 10 negative
        {"kind": "branch", "condition": "score_at_least"},                    # 11 score missing
    ]
    with pytest.raises(ValidationFailed) as exc_info:
        services.sequence_create(actor=manager, name="Bad", steps=steps)
    assert _fields(exc_info) == {
        "steps[0].template", "steps[1].template", "steps[2].template", "steps[3].template",
        "steps[4].wait_days", "steps[5].task_subject", "steps[6].condition", "steps[7].condition_value",
        "steps[8].if_true", "steps[8].if_false", "steps[9].kind", "steps[10].wait_days",
        "steps[11].condition_value"}
    codes = {e.field: e.code for e in exc_info.value.errors}
    assert codes["steps[1].template"] == "inactive" and codes["steps[2].template"] == "no_english_version"
    assert codes["steps[8].if_false"] == "loop"  # position 9 is the branch itself


def test_branch_targets_may_be_finish_or_an_existing_step(manager, welcome):
    steps = [*steps_for(welcome), {"kind": "branch", "condition": "clicked", "if_true": 0, "if_false": 1},
             {"kind": "task", "task_subject": "Call them", "task_due_days": 2}]
    sequence = services.sequence_create(actor=manager, name="Branchy", steps=steps)
    branch = sequence.steps.get(position=4)
    assert (branch.condition, branch.if_true, branch.if_false, branch.condition_value) == ("clicked", 0, 1, None)


def test_name_is_required_and_unique(manager):
    with pytest.raises(ValidationFailed) as exc_info:
        services.sequence_create(actor=manager, name="  ")
    assert _fields(exc_info) == {"name"}
    services.sequence_create(actor=manager, name="Welcome series")
    with pytest.raises(ValidationFailed) as exc_info:
        services.sequence_create(actor=manager, name="welcome SERIES", from_email="not-an-address")
    assert _fields(exc_info) == {"name", "from_email"}


def test_steps_are_updated_in_place_so_sent_messages_keep_their_step(manager, welcome):
    sequence = services.sequence_create(actor=manager, name="S", steps=steps_for(welcome))
    ids = dict(sequence.steps.values_list("position", "id"))
    services.steps_replace(actor=manager, sequence=sequence, steps=[
        {"kind": "email", "template": welcome.pk}, {"kind": "wait", "wait_hours": 5}])
    after = dict(SequenceStep.objects.filter(sequence=sequence).values_list("position", "id"))
    assert after == {1: ids[1], 2: ids[2]}
    assert SequenceStep.objects.get(pk=ids[2]).wait_hours == 5 and SequenceStep.objects.get(pk=ids[2]).wait_days == 0


def test_steps_are_locked_while_active_and_everything_once_archived(manager, active_sequence, welcome):
    with pytest.raises(Conflict):
        services.sequence_update(actor=manager, sequence=active_sequence, steps=steps_for(welcome)[:1])
    services.sequence_update(actor=manager, sequence=active_sequence, description="Renamed while active")
    services.sequence_pause(actor=manager, sequence=active_sequence)
    services.steps_replace(actor=manager, sequence=active_sequence, steps=steps_for(welcome)[:1])
    assert active_sequence.steps.count() == 1
    services.sequence_archive(actor=manager, sequence=active_sequence)
    with pytest.raises(Conflict):
        services.sequence_update(actor=manager, sequence=active_sequence, name="Again")


def test_rep_cannot_create_change_or_move_sequences(rep, active_sequence):
    with pytest.raises(PermissionDenied):
        services.sequence_create(actor=rep, name="Mine")
    with pytest.raises(PermissionDenied):
        services.sequence_update(actor=rep, sequence=active_sequence, name="Mine")
    for action in services.TRANSITIONS.values():
        with pytest.raises(PermissionDenied):
            action(actor=rep, sequence=active_sequence)
    with pytest.raises(PermissionDenied):
        services.sequence_delete(actor=rep, sequence=active_sequence)


# --- status transitions ------------------------------------------------------------------------------

def test_activation_needs_an_email_step(manager):
    sequence = services.sequence_create(actor=manager, name="Only waits", steps=[{"kind": "wait", "wait_days": 1}])
    with pytest.raises(ValidationFailed) as exc_info:
        services.sequence_activate(actor=manager, sequence=sequence)
    assert _fields(exc_info) == {"steps"}
    sequence.refresh_from_db()
    assert sequence.status == "draft"


def test_activation_rechecks_that_templates_are_still_active(manager, welcome):
    sequence = services.sequence_create(actor=manager, name="S", steps=steps_for(welcome))
    nurture_services.template_update(actor=manager, template=welcome, is_active=False)
    with pytest.raises(ValidationFailed) as exc_info:
        services.sequence_activate(actor=manager, sequence=sequence)
    assert _fields(exc_info) == {"steps[0].template", "steps[2].template"}


def test_active_paused_active_then_archived_is_final(manager, active_sequence):
    assert services.sequence_pause(actor=manager, sequence=active_sequence).status == "paused"
    with pytest.raises(InvalidTransition):
        services.sequence_pause(actor=manager, sequence=active_sequence)
    assert services.sequence_activate(actor=manager, sequence=active_sequence).status == "active"
    assert services.sequence_archive(actor=manager, sequence=active_sequence).status == "archived"
    for action in services.TRANSITIONS.values():
        with pytest.raises(InvalidTransition):
            action(actor=manager, sequence=active_sequence)
    transitions = AuditEvent.objects.filter(object_type="nurture.sequence", action="transition")
    assert [e.changes["status"] for e in transitions.order_by("id")] == [
        ["draft", "active"], ["active", "paused"], ["paused", "active"], ["active", "archived"]]


def test_archive_exits_the_active_enrollments(manager, active_sequence, make_lead):
    leads = [make_lead() for _ in range(3)]
    services.enroll(sequence=active_sequence, leads=leads, actor=manager)
    services.unenroll(actor=manager, sequence=active_sequence, lead=leads[0])
    services.sequence_archive(actor=manager, sequence=active_sequence)
    rows = dict(Enrollment.objects.values_list("lead_id", "exit_reason"))
    assert rows == {leads[0].pk: "unenrolled", leads[1].pk: "archived", leads[2].pk: "archived"}
    assert not Enrollment.objects.filter(status="active").exists()
    assert all(e.finished_at and e.next_run_at is None for e in Enrollment.objects.all())


def test_delete_only_without_enrollments(manager, active_sequence, welcome, make_lead):
    draft = services.sequence_create(actor=manager, name="Draft", steps=steps_for(welcome))
    services.sequence_delete(actor=manager, sequence=draft)
    assert not SequenceStep.objects.filter(sequence_id=draft.pk).exists()
    services.enroll(sequence=active_sequence, leads=[make_lead()], actor=manager)
    with pytest.raises(Conflict) as exc_info:
        services.sequence_delete(actor=manager, sequence=active_sequence)
    assert exc_info.value.code == "has_enrollments"


# --- enrolment ---------------------------------------------------------------------------------------

def test_enroll_starts_at_step_one_now_and_reports_skips_with_reasons(rep, active_sequence, make_lead):
    # given
    good = make_lead()
    suppressed = make_lead(email="Gone@Example.com")
    nurture_services.suppress(email="gone@example.com", actor=None)
    no_consent = make_lead(consent_basis="", consent_at=None)
    no_email = make_lead(email="")
    bad_email = make_lead(email="not an address")
    converted = make_lead(status="converted")
    disqualified = make_lead(status="disqualified")
    before = timezone.now()
    # when
    result = services.enroll(sequence=active_sequence, actor=rep, leads=[
        good, suppressed.pk, no_consent, no_email, bad_email, converted, disqualified, good.pk, 987654])
    # then
    assert result == {"enrolled": 1, "already_enrolled": 0, "skipped": {
        "converted": 1, "disqualified": 1, "invalid_email": 1, "no_email": 1, "no_lawful_basis": 1,
        "not_found": 1, "suppressed": 1}}
    enrollment = Enrollment.objects.get()
    assert (enrollment.lead_id, enrollment.position, enrollment.status, enrollment.source,
            enrollment.enrolled_by_id) == (good.pk, 1, "active", "manual", rep.pk)
    assert enrollment.next_run_at >= before
    again = services.enroll(sequence=active_sequence, actor=rep, leads=[good])
    assert again == {"enrolled": 0, "already_enrolled": 1, "skipped": {}}


def test_legitimate_interest_makes_leads_without_consent_enrollable(rep, admin_user, active_sequence, make_lead):
    lead = make_lead(consent_basis="", consent_at=None)
    nurture_services.settings_update(actor=admin_user, legitimate_interest_allowed=True)
    assert services.enroll(sequence=active_sequence, actor=rep, leads=[lead])["enrolled"] == 1


@pytest.mark.parametrize("legitimate_interest", [False, True])
def test_bulk_rules_agree_with_can_email(rep, active_sequence, make_lead, legitimate_interest):
    NurtureSettings.objects.update_or_create(pk=1, defaults={"legitimate_interest_allowed": legitimate_interest})
    nurture_services.suppress(email="blocked@example.com", actor=None)
    leads = [make_lead(), make_lead(email=" Blocked@Example.com "), make_lead(consent_basis="", consent_at=None),
             make_lead(consent_basis="consent", consent_at=None), make_lead(consent_basis="legitimate_interest"),
             make_lead(email=""), make_lead(email="x@")]
    result = services.enroll(sequence=active_sequence, actor=rep, leads=leads)
    enrolled = set(Enrollment.objects.values_list("lead_id", flat=True))
    assert enrolled == {lead.pk for lead in leads if can_email(lead)[0]}
    assert result["enrolled"] == len(enrolled)


def test_a_rep_cannot_enrol_a_lead_they_cannot_see(rep, rep2, manager, active_sequence, make_lead):
    theirs = make_lead(owner=rep2)
    assert services.enroll(sequence=active_sequence, actor=rep, leads=[theirs]) == {
        "enrolled": 0, "already_enrolled": 0, "skipped": {"not_found": 1}}
    assert services.enroll(sequence=active_sequence, actor=manager, leads=[theirs])["enrolled"] == 1


def test_finance_cannot_enrol(finance, active_sequence, make_lead):
    with pytest.raises(PermissionDenied):
        services.enroll(sequence=active_sequence, actor=finance, leads=[make_lead()])


def test_only_an_active_sequence_takes_enrolments(manager, active_sequence, make_lead):
    services.sequence_pause(actor=manager, sequence=active_sequence)
    with pytest.raises(Conflict) as exc_info:
        services.enroll(sequence=active_sequence, actor=manager, leads=[make_lead()])
    assert exc_info.value.code == "sequence_not_active"


def test_the_system_enrols_without_an_actor(active_sequence, make_lead, rep2):
    result = services.enroll(sequence=active_sequence, actor=None, leads=[make_lead(owner=rep2)], source="rule")
    assert result["enrolled"] == 1 and Enrollment.objects.get().source == "rule"


def test_enroll_by_filter_uses_the_lead_list_filter(rep, rep2, manager, active_sequence, make_lead):
    # given: rep's new CN leads, rep's working CN lead, rep2's new CN lead, rep's new US lead
    mine = [make_lead(country="CN"), make_lead(country="CN", company="Acme")]
    make_lead(country="CN", status="working")
    theirs = make_lead(country="CN", owner=rep2)
    make_lead(country="US")
    filters = {"status": "new", "country": "cn"}
    # when / then: the rep gets their own two; the manager the team's three (two already enrolled)
    assert services.filter_queryset(actor=rep, filters=filters).count() == 2
    assert services.enroll_by_filter(sequence=active_sequence, filters=filters, actor=rep) == {
        "enrolled": 2, "already_enrolled": 0, "skipped": {}}
    assert services.enroll_by_filter(sequence=active_sequence, filters={**filters, "q": "acme"}, actor=manager) == {
        "enrolled": 0, "already_enrolled": 1, "skipped": {}}
    assert services.enroll_by_filter(sequence=active_sequence, filters=filters, actor=manager) == {
        "enrolled": 1, "already_enrolled": 2, "skipped": {}}
    assert set(Enrollment.objects.values_list("lead_id", flat=True)) == {mine[0].pk, mine[1].pk, theirs.pk}
    assert set(Enrollment.objects.values_list("source", flat=True)) == {"filter"}
    with pytest.raises(ValidationFailed) as exc_info:
        services.enroll_by_filter(sequence=active_sequence, filters={"status": "sleepy"}, actor=rep)
    assert _fields(exc_info) == {"status"}


def test_bulk_enrolment_is_a_few_queries_and_one_audit_event(manager, active_sequence, make_lead,
                                                             django_assert_max_num_queries):
    from l2c.leads.models import Lead

    now = timezone.now()
    Lead.objects.bulk_create([Lead(last_name=f"L{i}", email=f"l{i}@example.com", owner=manager,
                                   consent_basis="consent", consent_at=now) for i in range(2500)])
    ids = list(Lead.objects.values_list("pk", flat=True))
    events_before = AuditEvent.objects.count()
    # a few queries per 1,000 leads (SQLite also splits the insert into ~100-row batches): none per lead
    with django_assert_max_num_queries(60):
        result = services.enroll(sequence=active_sequence, actor=manager, leads=ids)
    assert result == {"enrolled": 2500, "already_enrolled": 0, "skipped": {}}
    assert AuditEvent.objects.count() == events_before + 1
    event = AuditEvent.objects.latest("id")
    assert event.changes["enrolled"][1]["enrolled"] == 2500 and len(event.changes["enrolled"][1]["lead_ids"]) == 100


def test_enrolment_queues_the_runner_after_commit(manager, active_sequence, make_lead, monkeypatch,
                                                  django_capture_on_commit_callbacks):
    from l2c.nurture import tasks

    calls = []

    class FakeTask:
        @staticmethod
        def delay():
            calls.append(1)

    monkeypatch.setattr(tasks, "advance_sequences", FakeTask, raising=False)
    with django_capture_on_commit_callbacks(execute=True):
        services.enroll(sequence=active_sequence, actor=manager, leads=[make_lead()])
    assert calls == [1]


# --- unenrol -----------------------------------------------------------------------------------------

def test_unenroll_exits_with_reason_and_only_for_visible_leads(rep, rep2, active_sequence, make_lead):
    lead, other = make_lead(), make_lead(owner=rep2)
    services.enroll(sequence=active_sequence, actor=None, leads=[lead, other])
    enrollment = services.unenroll(actor=rep, sequence=active_sequence, lead=lead)
    assert (enrollment.status, enrollment.exit_reason) == ("exited", "unenrolled") and enrollment.finished_at
    with pytest.raises(NotFound):
        services.unenroll(actor=rep, sequence=active_sequence, lead=lead)
    with pytest.raises(NotFound):
        services.unenroll(actor=rep, enrollment=Enrollment.objects.get(lead=other))
    assert services.unenroll_many(actor=rep, sequence=active_sequence, lead_ids=[lead.pk, other.pk]) == {
        "unenrolled": 0, "not_enrolled": 2}
    assert services.unenroll_many(actor=rep2, sequence=active_sequence, lead_ids=[other.pk]) == {
        "unenrolled": 1, "not_enrolled": 0}
    assert AuditEvent.objects.filter(object_type="nurture.enrollment", action="transition").count() == 2
    # a lead that left may be enrolled again
    assert services.enroll(sequence=active_sequence, actor=rep, leads=[lead])["enrolled"] == 1
