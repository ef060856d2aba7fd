"""The sequence runner: waits, tasks, branches, completion, and exits (paused, archived, converted,
disqualified)."""
from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from l2c.nurture.models import EmailMessage, Enrollment
from l2c.nurture.sequences import inbound, runner, tracking
from l2c.pipeline.models import Activity

pytestmark = pytest.mark.django_db


def _run(capture, **kwargs):
    with capture(execute=True):
        return runner.advance_due(**kwargs)


def test_wait_holds_the_next_step_until_it_is_due(smtp_sink, email_template, lead_for, sequence_with, enroll,
                                                  django_capture_on_commit_callbacks):
    sequence = sequence_with([{"kind": "email", "template": email_template()},
                              {"kind": "wait", "wait_days": 2, "wait_hours": 3},
                              {"kind": "email", "template": email_template(name="Second")}])
    enrollment = enroll(sequence, lead_for())
    start = timezone.now()
    _run(django_capture_on_commit_callbacks, now=start)
    enrollment.refresh_from_db()
    assert enrollment.position == 3 and enrollment.next_run_at == start + dt.timedelta(days=2, hours=3)
    assert _run(django_capture_on_commit_callbacks, now=start + dt.timedelta(days=2)) == 0
    assert len(smtp_sink.messages) == 1
    assert _run(django_capture_on_commit_callbacks, now=start + dt.timedelta(days=2, hours=3)) == 1
    enrollment.refresh_from_db()
    assert enrollment.status == "completed" and len(smtp_sink.messages) == 2
    assert [m["Subject"] for m in smtp_sink.messages] == ["Hi Jane", "Hi Jane"]


def test_task_step_creates_an_activity_for_the_owner(lead_for, sequence_with, enroll, rep,
                                                     django_capture_on_commit_callbacks):
    lead = lead_for()
    sequence = sequence_with([{"kind": "task", "task_subject": "Call them", "task_due_days": 2}])
    enroll(sequence, lead)
    now = timezone.now()
    _run(django_capture_on_commit_callbacks, now=now)
    activity = Activity.objects.get(lead=lead)
    assert (activity.kind, activity.subject, activity.owner) == ("task", "Call them", rep)
    assert activity.due_at == now + dt.timedelta(days=2) and activity.done_at is None
    assert Enrollment.objects.get().status == "completed"


def _branch_sequence(sequence_with, template, condition, value=None):
    """1 e-mail, 2 wait a day, 3 branch (true: 4 a task; false: finish), 4 task."""
    return sequence_with([{"kind": "email", "template": template},
                          {"kind": "wait", "wait_days": 1},
                          {"kind": "branch", "condition": condition, "condition_value": value, "if_true": 4,
                           "if_false": 0},
                          {"kind": "task", "task_subject": "Engaged: call", "task_due_days": 0}])


def _reply(message) -> bytes:
    return (f"From: Jane <{message.to_email}>\r\nTo: {message.from_email}\r\nSubject: Re: {message.subject}\r\n"
            f"Message-ID: <reply-1@example.com>\r\nIn-Reply-To: {message.message_id}\r\n"
            f"References: <older@example.com> {message.message_id}\r\n\r\nYes, call me.\r\n").encode()


ENGAGE = {
    "opened": lambda m: tracking.record_open(m.token),
    "clicked": lambda m: tracking.record_click(m.token, "https://example.com/offer"),
    "replied": lambda m: inbound.record_reply(_reply(m)),
}


@pytest.mark.parametrize("condition", ["opened", "clicked", "replied"])
@pytest.mark.parametrize("engaged", [True, False])
def test_branch_on_engagement(smtp_sink, email_template, lead_for, sequence_with, enroll, condition, engaged,
                              django_capture_on_commit_callbacks):
    # a sequence that does not exit on reply, so the branch sees the reply
    sequence = _branch_sequence(sequence_with, email_template(), condition)
    sequence.exit_on_reply = False
    sequence.save()
    lead = lead_for()
    enrollment = enroll(sequence, lead)
    start = timezone.now()
    _run(django_capture_on_commit_callbacks, now=start)
    if engaged:
        ENGAGE[condition](EmailMessage.objects.get())
    _run(django_capture_on_commit_callbacks, now=start + dt.timedelta(days=1))
    enrollment.refresh_from_db()
    assert enrollment.status == "completed"
    assert Activity.objects.filter(lead=lead, subject="Engaged: call").exists() is engaged


@pytest.mark.parametrize("score, expected", [(None, False), (39, False), (40, True), (90, True)])
def test_branch_on_score(email_template, lead_for, sequence_with, enroll, score, expected,
                         django_capture_on_commit_callbacks):
    sequence = sequence_with([{"kind": "branch", "condition": "score_at_least", "condition_value": 40,
                               "if_true": None, "if_false": 3},
                              {"kind": "task", "task_subject": "Hot lead"},
                              {"kind": "task", "task_subject": "Always"}])
    lead = lead_for(score=score)
    enroll(sequence, lead)
    _run(django_capture_on_commit_callbacks)
    subjects = set(Activity.objects.filter(lead=lead).values_list("subject", flat=True))
    assert subjects == ({"Hot lead", "Always"} if expected else {"Always"})


def test_a_branch_loop_without_a_wait_is_stopped(lead_for, sequence_with, enroll,
                                                 django_capture_on_commit_callbacks):
    sequence = sequence_with([{"kind": "branch", "condition": "opened", "if_true": 0, "if_false": 1}])
    enrollment = enroll(sequence, lead_for())
    now = timezone.now()
    _run(django_capture_on_commit_callbacks, now=now)
    enrollment.refresh_from_db()
    assert enrollment.status == "active" and enrollment.next_run_at == now + dt.timedelta(hours=1)


def test_paused_sequence_waits_and_archived_exits(smtp_sink, email_template, lead_for, sequence_with, enroll,
                                                  django_capture_on_commit_callbacks):
    sequence = sequence_with([{"kind": "email", "template": email_template()}], status="paused")
    enrollment = enroll(sequence, lead_for())
    assert _run(django_capture_on_commit_callbacks) == 0
    enrollment.refresh_from_db()
    assert enrollment.status == "active" and enrollment.position == 1 and not EmailMessage.objects.exists()
    sequence.status = "archived"
    sequence.save()
    assert _run(django_capture_on_commit_callbacks) == 1
    enrollment.refresh_from_db()
    assert (enrollment.status, enrollment.exit_reason) == ("exited", "archived")
    assert enrollment.finished_at is not None and smtp_sink.messages == []


@pytest.mark.parametrize("status, reason", [("converted", "converted"), ("disqualified", "disqualified")])
def test_lead_status_checked_before_steps(smtp_sink, email_template, lead_for, sequence_with, enroll, status, reason,
                                          django_capture_on_commit_callbacks):
    enrollment = enroll(sequence_with([{"kind": "email", "template": email_template()}]), lead_for(status=status))
    _run(django_capture_on_commit_callbacks)
    enrollment.refresh_from_db()
    assert (enrollment.status, enrollment.exit_reason) == ("exited", reason)
    assert smtp_sink.messages == []


def test_disqualifying_the_lead_exits_its_enrolments(email_template, lead_for, sequence_with, enroll, rep,
                                                     django_capture_on_commit_callbacks):
    from l2c.leads.services import lead_change_status

    lead = lead_for()
    keeps_going = sequence_with([{"kind": "wait", "wait_days": 5}], exit_on_conversion=False)
    exits = sequence_with([{"kind": "email", "template": email_template()}, {"kind": "wait", "wait_days": 5}])
    kept, exited = enroll(keeps_going, lead), enroll(exits, lead)
    with django_capture_on_commit_callbacks(execute=True):
        runner.advance_due(send=False)
        lead_change_status(lead=lead, status="disqualified", actor=rep, reason="No budget")
    kept.refresh_from_db()
    exited.refresh_from_db()
    assert kept.status == "active"
    assert (exited.status, exited.exit_reason) == ("exited", "disqualified")
    # the message not sent yet is not sent any more
    assert EmailMessage.objects.get().status == "skipped"


def test_each_exit_is_audited(lead_for, sequence_with, enroll, django_capture_on_commit_callbacks):
    from l2c.core.models import AuditEvent

    enrollment = enroll(sequence_with([{"kind": "wait", "wait_days": 1}], status="archived"), lead_for())
    _run(django_capture_on_commit_callbacks)
    event = AuditEvent.objects.get(object_type="nurture.enrollment", object_id=str(enrollment.pk))
    assert event.action == "transition" and event.actor_label == "sequence runner"
    assert event.changes == {"status": ["active", "exited"], "exit_reason": [None, "archived"]}
