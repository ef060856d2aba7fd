"""The batched runner and sender (issue 7): one message per (enrolment, step) however the batches fall, two
sweeps never sending the same message, the per-domain throttle exact across a batch, a crash mid-batch
leaving `unknown` and never a second send, the suppression list re-read just before sending, and queries
that do not grow with the number of messages."""
from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from l2c.leads.models import Touch
from l2c.nurture import services as nurture_services
from l2c.nurture.models import EmailMessage, Enrollment, SendWindow
from l2c.nurture.sequences import runner, sending

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(email_template, lead_for, sequence_with, enroll):
    """`queued(n, from_email=…)`: n rendered messages waiting to be sent, one per lead, whose enrolments wait
    three days for their next step; the messages' ids in order."""
    template = email_template()

    def make(n, **fields):
        sequence = sequence_with([{"kind": "email", "template": template}, {"kind": "wait", "wait_days": 3},
                                  {"kind": "email", "template": template}], **fields)
        enrollments = [enroll(sequence, lead_for()) for _ in range(n)]
        runner.advance_due(send=False)
        return list(EmailMessage.objects.filter(enrollment__in=enrollments).order_by("id").values_list("id", flat=True))

    return make


def _recipients(sink) -> list[str]:
    return [address for mail in sink.messages for address in mail.envelope_to]


# --- rendering in batches ------------------------------------------------------------------------------------

def test_batches_render_each_step_once(monkeypatch, smtp_sink, email_template, lead_for, sequence_with, enroll):
    # given batches of 2 and five enrolments in a sequence of e-mail, wait, e-mail
    monkeypatch.setattr(runner, "BATCH", 2)
    sequence = sequence_with([{"kind": "email", "template": email_template()}, {"kind": "wait", "wait_days": 1},
                              {"kind": "email", "template": email_template(name="Second")}])
    enrollments = [enroll(sequence, lead_for()) for _ in range(5)]
    # when the runner runs twice in the same minute, then once the wait is over
    assert runner.advance_due(send=False) == 5
    assert runner.advance_due(send=False) == 0
    assert runner.advance_due(now=timezone.now() + dt.timedelta(days=1, minutes=1), send=False) == 5
    # then each enrolment has one message per e-mail step, and all completed (each completion audited)
    for enrollment in enrollments:
        enrollment.refresh_from_db()
        assert enrollment.status == "completed" and enrollment.finished_at is not None
        assert EmailMessage.objects.filter(enrollment=enrollment).count() == 2
    from l2c.core.models import AuditEvent

    assert AuditEvent.objects.filter(object_type="nurture.enrollment", actor_label=runner.ACTOR_LABEL,
                                     changes__status=["active", "completed"]).count() == 5


def test_a_broken_enrolment_does_not_stop_its_batch(monkeypatch, email_template, lead_for, sequence_with, enroll):
    # given a batch holding a good enrolment on each side of one whose template lost its versions
    monkeypatch.setattr(runner, "BATCH", 10)
    good = sequence_with([{"kind": "email", "template": email_template()}])
    broken_template = email_template(name="Broken")
    broken = sequence_with([{"kind": "email", "template": broken_template}])
    first, bad, last = enroll(good, lead_for()), enroll(broken, lead_for()), enroll(good, lead_for())
    broken_template.versions.all().delete()
    # when
    assert runner.advance_due(send=False) == 2
    # then the good ones ran (one message each); the broken one waits where it was, with no message
    assert set(EmailMessage.objects.values_list("enrollment_id", flat=True)) == {first.pk, last.pk}
    bad.refresh_from_db()
    assert bad.status == "active" and bad.position == 1


def test_rendering_queries_do_not_grow_with_the_batch(django_assert_max_num_queries, email_template, lead_for,
                                                      sequence_with, enroll):
    sequence = sequence_with([{"kind": "email", "template": email_template()}])
    for _ in range(30):
        enroll(sequence, lead_for())
    with django_assert_max_num_queries(20):  # a query or two per message would be 30 or 60 and more
        assert runner.advance_due(send=False) == 30
    assert EmailMessage.objects.filter(status="queued").count() == 30


def test_suppressed_in_a_batch_exits_only_that_enrolment(email_template, lead_for, sequence_with, enroll):
    sequence = sequence_with([{"kind": "email", "template": email_template()}])
    ok, suppressed = enroll(sequence, lead_for()), enroll(sequence, lead_for())
    nurture_services.suppress(email=suppressed.lead.email, reason="unsubscribed")
    runner.advance_due(send=False)
    ok.refresh_from_db()
    suppressed.refresh_from_db()
    assert ok.status == "completed" and EmailMessage.objects.filter(enrollment=ok).count() == 1
    assert (suppressed.status, suppressed.exit_reason) == ("exited", "unsubscribed")
    assert not EmailMessage.objects.filter(enrollment=suppressed).exists()


def test_advance_due_queues_one_sweep_not_a_task_per_message(monkeypatch, email_template, lead_for, sequence_with,
                                                            enroll, django_capture_on_commit_callbacks):
    from l2c.nurture import tasks

    calls = []
    monkeypatch.setattr(tasks.send_due_emails, "delay", lambda: calls.append("sweep"))
    monkeypatch.setattr(tasks.send_email, "delay", lambda pk: calls.append(pk))
    sequence = sequence_with([{"kind": "email", "template": email_template()}])
    for _ in range(5):
        enroll(sequence, lead_for())
    with django_capture_on_commit_callbacks(execute=True):
        assert runner.advance_due() == 5
    assert calls == ["sweep"]
    # and nothing is queued when no message was created
    calls.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert runner.advance_due() == 0
    assert calls == []


# --- sending in batches --------------------------------------------------------------------------------------

def test_two_interleaved_sweeps_never_send_a_message_twice(smtp_sink, queued):
    # given 12 queued messages, batches of 5, and a first sweep that has claimed its first batch
    ids = queued(12)
    now = timezone.now()
    first_batch = sending._claim_batch(ids[:5], now)
    assert [m.pk for m in first_batch] == ids[:5]
    # when a second sweep runs meanwhile, then the first sends what it claimed and sweeps again
    assert sending.send_due(now=now) == 7
    assert sending._claim_batch(ids[:5], now) == []  # claimed already: nobody claims them again
    assert len(sending._send_batch(first_batch, sending.get_connection(fail_silently=False), now)) == 5
    assert sending.send_due(now=now) == 0
    # then every message went out exactly once
    recipients = _recipients(smtp_sink)
    assert len(recipients) == 12 and len(set(recipients)) == 12
    assert set(EmailMessage.objects.values_list("status", "attempts")) == {("sent", 1)}
    assert Touch.objects.filter(kind="email_sent").count() == 12


def test_throttle_is_exact_across_a_batch(settings, smtp_sink, queued):
    # given a limit of 3 a minute, 5 messages from one domain and 2 from another
    settings.L2C_EMAIL_RATE_PER_MINUTE = 3
    one = queued(5, from_email="news@one.example")
    two = queued(2, from_email="news@two.example")
    now = (timezone.now() + dt.timedelta(minutes=1)).replace(second=5)
    # when two claims in the same minute split the first domain's messages
    claimed = sending._claim_batch(one[:4] + two, now) + sending._claim_batch(one[4:], now)
    # then exactly 3 of one.example (the first ones) and both of two.example are claimed
    assert sorted(m.pk for m in claimed) == sorted(one[:3] + two)
    assert SendWindow.objects.get(domain="one.example").count == 3
    assert SendWindow.objects.get(domain="two.example").count == 2
    waiting = EmailMessage.objects.filter(pk__in=one[3:])
    assert {m.status for m in waiting} == {"queued"}
    assert {m.next_attempt_at for m in waiting} == {now.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)}
    # and the next minute takes the rest
    assert len(sending._claim_batch(one[3:], now + dt.timedelta(minutes=1))) == 2


def test_a_crash_mid_batch_leaves_unknown_and_never_resends(smtp_sink, queued):
    # given a sweep that claimed a batch and died (killed: nothing after the claim ran)
    ids = queued(4)
    now = timezone.now()
    assert len(sending._claim_batch(ids[:3], now)) == 3
    # when sweeps run during the lease and after it
    assert sending.send_due(now=now) == 1  # only the message outside the dead batch
    assert sending.send_due(now=now + sending.LEASE + dt.timedelta(seconds=1)) == 0
    assert sending.send_due(now=now + dt.timedelta(days=1)) == 0
    # then the claimed three are unknown, never re-sent
    assert set(EmailMessage.objects.filter(pk__in=ids[:3]).values_list("status", "attempts")) == {("unknown", 1)}
    assert len(smtp_sink.messages) == 1


def test_an_error_mid_batch_keeps_what_was_sent_and_requeues_what_was_not(monkeypatch, smtp_sink, queued):
    # given five queued messages and a sweep whose third message raises while being built
    ids = queued(5)
    real_build = sending.build
    failing = ids[2]

    def build(message, connection=None):
        if message.pk == failing:
            raise RuntimeError("a bug while building the message")
        return real_build(message, connection)

    monkeypatch.setattr(sending, "build", build)
    now = timezone.now()
    # when the sweep stops on the error
    with pytest.raises(RuntimeError):
        sending.send_due(now=now)
    # then the two before it are recorded as sent, the failing one is left to the lease (it may have been
    # handed over), and the two after it are queued again with no attempt counted
    statuses = dict(EmailMessage.objects.values_list("pk", "status"))
    assert [statuses[pk] for pk in ids] == ["sent", "sent", "sending", "queued", "queued"]
    assert EmailMessage.objects.get(pk=ids[3]).attempts == 0
    # and the next sweep sends those two; the failing one becomes unknown after the lease, never re-sent
    monkeypatch.setattr(sending, "build", real_build)
    assert sending.send_due(now=timezone.now()) == 2
    assert sending.send_due(now=now + sending.LEASE + dt.timedelta(seconds=1)) == 0
    assert EmailMessage.objects.get(pk=failing).status == "unknown"
    assert len(smtp_sink.messages) == 4


def test_suppression_added_between_render_and_send_is_skipped(smtp_sink, queued, manager):
    # given three rendered messages, then the middle lead's address is suppressed
    ids = queued(3)
    middle = EmailMessage.objects.get(pk=ids[1])
    nurture_services.suppress(email=middle.to_email, reason="manual", actor=manager)
    # when the sweep sends the batch
    assert sending.send_due() == 2
    # then the middle one is skipped and its enrolment exited; the others went out
    middle.refresh_from_db()
    assert middle.status == "skipped" and "suppressed" in middle.last_error
    exited = Enrollment.objects.get(pk=middle.enrollment_id)
    assert (exited.status, exited.exit_reason) == ("exited", "suppressed")
    assert sorted(_recipients(smtp_sink)) == sorted(
        EmailMessage.objects.filter(pk__in=[ids[0], ids[2]]).values_list("to_email", flat=True))


def test_lawful_basis_withdrawn_between_render_and_send_is_skipped(smtp_sink, queued):
    ids = queued(2)
    lead = EmailMessage.objects.get(pk=ids[0]).lead
    type(lead).objects.filter(pk=lead.pk).update(consent_basis="", consent_at=None)
    assert sending.send_due() == 1
    skipped = EmailMessage.objects.get(pk=ids[0])
    assert skipped.status == "skipped" and "lawful basis" in skipped.last_error.lower()
    assert len(smtp_sink.messages) == 1


def test_sending_queries_do_not_grow_with_the_batch(django_assert_max_num_queries, smtp_sink, queued):
    queued(30)
    with django_assert_max_num_queries(25):  # per message it would be 30 × several
        assert sending.send_due() == 30
    assert EmailMessage.objects.filter(status="sent").count() == 30


def test_a_message_created_behind_the_batch_is_found_not_duplicated(email_template, lead_for, sequence_with,
                                                                     enroll):
    # given a batch that loaded no message for the step, and a message for it created meanwhile
    sequence = sequence_with([{"kind": "email", "template": email_template()}])
    enrollment, other = enroll(sequence, lead_for()), enroll(sequence, lead_for())
    step = sequence.steps.get()
    now = timezone.now()
    batch = runner._Batch(list(Enrollment.objects.select_related("lead", "sequence")
                               .filter(pk__in=[enrollment.pk, other.pk])), now)
    first, created = runner.message_for_step(enrollment, step, now=now)
    assert created
    # when the batch renders both and inserts them
    _, pending_created = batch.message_for(enrollment, step)
    batch.message_for(other, step)
    batch.insert_messages()
    # then the first is the one already there, the other is new; one message per (enrolment, step)
    assert pending_created and batch.existing[(enrollment.pk, step.pk)].pk == first.pk
    assert EmailMessage.objects.filter(enrollment=enrollment).count() == 1
    assert EmailMessage.objects.filter(enrollment=other).count() == 1
    assert batch.created == [EmailMessage.objects.get(enrollment=other).pk]
