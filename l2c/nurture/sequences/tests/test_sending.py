"""Sending sequence e-mails to a real SMTP server (aiosmtpd): content and headers, consent and suppression,
bounces, deferrals, at-most-once after crashes, and the per-domain throttle."""
from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from l2c.leads.models import Touch
from l2c.nurture import services as nurture_services
from l2c.nurture.models import EmailMessage, Enrollment, SendWindow, Suppression
from l2c.nurture.sequences import runner, sending, tracking

pytestmark = pytest.mark.django_db


def _run(django_capture_on_commit_callbacks, **kwargs):
    with django_capture_on_commit_callbacks(execute=True):
        return runner.advance_due(**kwargs)


def _parts(mail):
    return {part.get_content_type(): part.get_content() for part in mail.walk() if not part.is_multipart()}


def test_message_arrives_with_both_parts_headers_and_tracking(smtp_sink, email_template, lead_for, sequence_with,
                                                              enroll, django_capture_on_commit_callbacks):
    # given
    lead = lead_for(first_name="Jane", email="Jane.Roe@Example.com")
    sequence = sequence_with([{"kind": "email", "template": email_template()}], from_name="Acme Sales",
                             from_email="sales@acme.example")
    enrollment = enroll(sequence, lead)
    # when
    assert _run(django_capture_on_commit_callbacks) == 1
    # then
    message = EmailMessage.objects.get(enrollment=enrollment)
    assert message.status == "sent" and message.attempts == 1 and message.sent_at is not None
    [mail] = smtp_sink.messages
    assert mail.envelope_to == ["Jane.Roe@Example.com"]
    assert mail["Subject"] == "Hi Jane"
    assert mail["From"] == "Acme Sales <sales@acme.example>"
    assert mail["Message-ID"] == message.message_id and message.message_id.endswith("@acme.example>")
    assert mail["X-L2C-Message"] == message.token
    assert str(mail["List-Unsubscribe"]).strip().startswith("<http://") and "/u/" in mail["List-Unsubscribe"]
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    parts = _parts(mail)
    assert set(parts) == {"text/plain", "text/html"}
    html, text = parts["text/html"], parts["text/plain"]
    assert "Hello Jane from Acme" in html and "Hello Jane from Acme" in text
    # the offer link is a signed click link to the original URL; the pixel is there; mailto and unsubscribe stay
    assert 'href="https://example.com/offer' not in html
    click = next(u for u in _hrefs(html) if "/t/c/" in u)
    query = parse_qs(urlsplit(click).query)
    assert query["u"] == ["https://example.com/offer?a=1&b=2"]
    assert tracking.verify(message.token, query["u"][0], query["s"][0])
    assert f"/t/o/{message.token}.gif" in html
    assert 'href="mailto:sales@example.com"' in html
    assert any("/u/" in u and "/t/c/" not in u for u in _hrefs(html))
    # the timeline, and the enrolment ran its only step
    assert Touch.objects.filter(lead=lead, kind="email_sent").count() == 1
    enrollment.refresh_from_db()
    assert enrollment.status == "completed" and enrollment.finished_at is not None


def _hrefs(html: str) -> list[str]:
    import html as html_lib
    import re

    return [html_lib.unescape(h) for h in re.findall(r'href="([^"]*)"', html)]


def test_merge_fields_with_missing_values_render_empty_or_default(smtp_sink, email_template, lead_for,
                                                                   sequence_with, enroll,
                                                                   django_capture_on_commit_callbacks):
    lead = lead_for(first_name="", company="")
    enroll(sequence_with([{"kind": "email", "template": email_template()}]), lead)
    _run(django_capture_on_commit_callbacks)
    [mail] = smtp_sink.messages
    assert mail["Subject"] == "Hi"  # "Hi {{ lead.first_name }}" with no first name, one line
    parts = _parts(mail)
    assert "Hello there from ," in parts["text/html"]
    assert "{{" not in parts["text/html"] and "{{" not in parts["text/plain"]


def test_html_escaping_holds_for_lead_values(smtp_sink, email_template, lead_for, sequence_with, enroll,
                                             django_capture_on_commit_callbacks):
    lead = lead_for(first_name='<script>alert("x")</script>', company="A & B <b>")
    enroll(sequence_with([{"kind": "email", "template": email_template()}]), lead)
    _run(django_capture_on_commit_callbacks)
    html = _parts(smtp_sink.messages[0])["text/html"]
    assert "<script>" not in html and "<b>" not in html
    assert "&lt;script&gt;" in html and "A &amp; B &lt;b&gt;" in html


def test_suppressed_lead_is_skipped_and_exits(smtp_sink, email_template, lead_for, sequence_with, enroll,
                                              django_capture_on_commit_callbacks, manager):
    # given a message already queued for a lead, whose address is then suppressed by hand
    lead = lead_for()
    enrollment = enroll(sequence_with([{"kind": "email", "template": email_template()},
                                       {"kind": "wait", "wait_days": 3},
                                       {"kind": "email", "template": email_template(name="Second")}]), lead)
    runner.advance_due(send=False)
    message = EmailMessage.objects.get(enrollment=enrollment)
    nurture_services.suppress(email=lead.email.upper(), reason="manual", actor=manager)
    # when it is due
    assert sending.send_message(message.pk) is None
    # then nothing went out, the message is not sent and the lead left the sequence
    message.refresh_from_db()
    enrollment.refresh_from_db()
    assert smtp_sink.messages == []
    assert message.status == "skipped" and "suppressed" in message.last_error
    assert enrollment.status == "exited" and enrollment.exit_reason == "suppressed"


def test_suppressed_before_the_step_exits_without_a_message(smtp_sink, email_template, lead_for, sequence_with,
                                                            enroll, django_capture_on_commit_callbacks):
    lead = lead_for()
    Suppression.objects.create(email=lead.email, reason="bounced")
    enrollment = enroll(sequence_with([{"kind": "email", "template": email_template()}]), lead)
    _run(django_capture_on_commit_callbacks)
    enrollment.refresh_from_db()
    assert enrollment.status == "exited" and enrollment.exit_reason == "bounced"
    assert not EmailMessage.objects.exists() and smtp_sink.messages == []


@pytest.mark.parametrize("fields, reason", [
    ({"email": ""}, "no_email"),
    ({"email": "not-an-address"}, "no_email"),
    ({"consent_basis": "", "consent_at": None}, "no_lawful_basis"),
])
def test_no_address_or_no_lawful_basis_exits(smtp_sink, email_template, lead_for, sequence_with, enroll,
                                             django_capture_on_commit_callbacks, fields, reason):
    enrollment = enroll(sequence_with([{"kind": "email", "template": email_template()}]), lead_for(**fields))
    _run(django_capture_on_commit_callbacks)
    enrollment.refresh_from_db()
    assert (enrollment.status, enrollment.exit_reason) == ("exited", reason)
    assert smtp_sink.messages == []


def test_unsubscribe_mid_sequence_exits(smtp_sink, email_template, lead_for, sequence_with, enroll, client,
                                        django_capture_on_commit_callbacks):
    # given the first e-mail was sent and the second is two days away
    lead = lead_for()
    enrollment = enroll(sequence_with([{"kind": "email", "template": email_template()},
                                       {"kind": "wait", "wait_days": 2},
                                       {"kind": "email", "template": email_template(name="Second")}]), lead)
    _run(django_capture_on_commit_callbacks)
    assert len(smtp_sink.messages) == 1
    # when the lead uses the link in that e-mail (one-click POST)
    unsubscribe = str(smtp_sink.messages[0]["List-Unsubscribe"]).strip().strip("<>")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(urlsplit(unsubscribe).path, {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    # then the enrolment exits and nothing more is sent, even when its next step comes due
    enrollment.refresh_from_db()
    assert (enrollment.status, enrollment.exit_reason) == ("exited", "unsubscribed")
    assert _run(django_capture_on_commit_callbacks, now=timezone.now() + dt.timedelta(days=3)) == 0
    assert len(smtp_sink.messages) == 1 and EmailMessage.objects.count() == 1


def test_a_550_bounce_suppresses_and_stops_the_sequence(smtp_sink, email_template, lead_for, sequence_with, enroll,
                                                        django_capture_on_commit_callbacks):
    lead = lead_for()
    smtp_sink.refuse[lead.email] = "550 5.1.1 No such user here"
    enrollment = enroll(sequence_with([{"kind": "email", "template": email_template()},
                                       {"kind": "wait", "wait_hours": 1},
                                       {"kind": "email", "template": email_template(name="Second")}]), lead)
    _run(django_capture_on_commit_callbacks)
    message = EmailMessage.objects.get()
    enrollment.refresh_from_db()
    assert message.status == "bounced" and message.bounced_at is not None
    assert message.smtp_response.startswith("550 5.1.1")
    assert Suppression.objects.get(email=lead.email).reason == "bounced"
    assert Touch.objects.filter(lead=lead, kind="email_bounce").count() == 1
    assert not Touch.objects.filter(lead=lead, kind="email_sent").exists()
    assert (enrollment.status, enrollment.exit_reason) == ("exited", "bounced")
    assert _run(django_capture_on_commit_callbacks, now=timezone.now() + dt.timedelta(hours=2)) == 0
    assert EmailMessage.objects.count() == 1 and smtp_sink.messages == []


def test_a_450_defers_then_the_retry_succeeds(smtp_sink, email_template, lead_for, sequence_with, enroll,
                                              django_capture_on_commit_callbacks):
    lead = lead_for()
    smtp_sink.refuse[lead.email] = ["450 4.2.1 Mailbox busy, try later"]
    enroll(sequence_with([{"kind": "email", "template": email_template()}]), lead)
    before = timezone.now()
    _run(django_capture_on_commit_callbacks)
    message = EmailMessage.objects.get()
    assert message.status == "deferred" and message.attempts == 1 and "450" in message.last_error
    assert before + dt.timedelta(minutes=1) <= message.next_attempt_at <= timezone.now() + dt.timedelta(minutes=1)
    assert sending.send_due() == 0  # not due yet
    assert sending.send_due(now=timezone.now() + dt.timedelta(minutes=2)) == 1
    message.refresh_from_db()
    assert message.status == "sent" and message.attempts == 2
    assert len(smtp_sink.messages) == 1
    assert not Suppression.objects.exists()


def test_temporary_failures_back_off_then_fail(smtp_sink, email_template, lead_for, sequence_with, enroll):
    lead = lead_for()
    smtp_sink.refuse[lead.email] = "421 4.3.0 Temporary system problem"
    enroll(sequence_with([{"kind": "email", "template": email_template()}]), lead)
    runner.advance_due(send=False)
    message = EmailMessage.objects.get()
    now = timezone.now()
    delays = []
    for _attempt in range(len(sending.RETRY_DELAYS) + 1):
        assert sending.send_message(message.pk, now=now) is not None
        message.refresh_from_db()
        if message.next_attempt_at:
            delays.append(message.next_attempt_at - now)
            now = message.next_attempt_at
    assert message.status == "failed" and message.attempts == 6
    assert [round(d.total_seconds() / 60) for d in delays] == [1, 5, 30, 120, 480]


def test_connection_refused_defers(settings, email_template, lead_for, sequence_with, enroll):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens on it once closed
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    enroll(sequence_with([{"kind": "email", "template": email_template()}]), lead_for())
    runner.advance_due(send=False)
    assert sending.send_due() == 1
    message = EmailMessage.objects.get()
    assert message.status == "deferred" and "Connection" in message.last_error


# --- at most once ---------------------------------------------------------------------------------------

def test_crash_after_the_claim_is_never_resent(smtp_sink, email_template, lead_for, sequence_with, enroll):
    # given a worker that claimed the message and died before (or while) talking to the server
    enroll(sequence_with([{"kind": "email", "template": email_template()}]), lead_for())
    runner.advance_due(send=False)
    message = EmailMessage.objects.get()
    now = timezone.now()
    assert sending._claim(message.pk, now) is not None
    # when the task is retried during the lease, and the sweep runs after it
    assert sending.send_message(message.pk, now=now) is None
    assert sending.send_due(now=now + sending.LEASE + dt.timedelta(seconds=1)) == 0
    # then it is unknown, never re-sent, also by later sweeps
    message.refresh_from_db()
    assert message.status == "unknown" and message.attempts == 1
    assert sending.send_due(now=now + dt.timedelta(days=1)) == 0
    assert smtp_sink.messages == []


def test_crash_before_the_claim_is_sent_once_by_the_sweep(smtp_sink, email_template, lead_for, sequence_with,
                                                          enroll):
    # the send task was lost (the worker died before claiming): the message is still queued
    enroll(sequence_with([{"kind": "email", "template": email_template()}]), lead_for())
    runner.advance_due(send=False)
    assert EmailMessage.objects.get().status == "queued"
    assert sending.send_due() == 1
    assert sending.send_due() == 0  # the sweep twice: one message
    assert sending.send_message(EmailMessage.objects.get().pk) is None  # and the late task finds it sent
    assert len(smtp_sink.messages) == 1


def test_running_the_step_twice_creates_one_message(smtp_sink, email_template, lead_for, sequence_with, enroll,
                                                    django_capture_on_commit_callbacks):
    lead = lead_for()
    sequence = sequence_with([{"kind": "email", "template": email_template()}, {"kind": "wait", "wait_days": 1}])
    enrollment = enroll(sequence, lead)
    _run(django_capture_on_commit_callbacks)
    # a runner that crashed after the message was created but before the enrolment moved on
    Enrollment.objects.filter(pk=enrollment.pk).update(position=1, next_run_at=timezone.now())
    _run(django_capture_on_commit_callbacks)
    sending.send_due()
    assert EmailMessage.objects.count() == 1 and len(smtp_sink.messages) == 1


# --- throttle -----------------------------------------------------------------------------------------

def test_throttle_per_sending_domain(settings, smtp_sink, email_template, lead_for, sequence_with, enroll):
    # given a limit of 2 a minute and three messages from one domain, one from another
    settings.L2C_EMAIL_RATE_PER_MINUTE = 2
    template = email_template()
    sequence = sequence_with([{"kind": "email", "template": template}], from_email="news@one.example")
    for _ in range(3):
        enroll(sequence, lead_for())
    other = sequence_with([{"kind": "email", "template": template}], from_email="news@two.example")
    enroll(other, lead_for())
    runner.advance_due(send=False)
    now = (timezone.now() + dt.timedelta(minutes=1)).replace(second=10)
    # when the sweep runs: two of one.example and the one of two.example go, over one connection
    assert sending.send_due(now=now) == 3
    assert len(smtp_sink.messages) == 3 and len({m.peer for m in smtp_sink.messages}) == 1
    waiting = EmailMessage.objects.get(status="queued")
    assert waiting.from_email.endswith("<news@one.example>")
    assert waiting.next_attempt_at == now.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    assert SendWindow.objects.get(domain="one.example").count == 2
    assert sending.send_due(now=now + dt.timedelta(seconds=30)) == 0  # same minute: still waits
    # then the third goes in the next minute
    assert sending.send_due(now=now + dt.timedelta(minutes=1)) == 1
    assert len(smtp_sink.messages) == 4 and not EmailMessage.objects.exclude(status="sent").exists()


def test_the_send_task_sends_once(smtp_sink, email_template, lead_for, sequence_with, enroll):
    from l2c.nurture import tasks

    enroll(sequence_with([{"kind": "email", "template": email_template()}]), lead_for())
    runner.advance_due(send=False)
    pk = EmailMessage.objects.get().pk
    assert tasks.send_email(pk).endswith("sent")
    assert tasks.send_email(pk).endswith("nothing to send")
    assert len(smtp_sink.messages) == 1
