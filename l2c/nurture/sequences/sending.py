"""Sending nurture e-mails over SMTP: at most once, throttled per sending domain, retried with backoff.

A send is claimed before the SMTP conversation: the message row is locked (`select_for_update(skip_locked=
True)`), checked once more (suppression list, lawful basis, the enrolment still active), counted against its
domain's per-minute window, set to `sending` with its attempt counted and a lease (`next_attempt_at` = now +
LEASE), and committed. SMTP then runs outside any transaction; its result is written in a second one:

- accepted → `sent` (+ an `email_sent` touch);
- 5xx for the recipient → `bounced`: the address is suppressed, an `email_bounce` touch, the enrolment exits;
- 4xx or a connection error → `deferred`, retried after RETRY_DELAYS (1 min, 5 min, 30 min, 2 h, 8 h), then
  `failed`.

Why a message whose lease ran out is set to `unknown` and never retried: a worker that died after the claim
may have died before, during or after the server accepted the message, and nothing tells which. Sending it
again risks a duplicate, and "never sent twice for the same step" is the promise, so it is at-most-once and
the message is left for a person to review. A crash before the claim commits leaves the message `queued`,
so it is sent (once) by the next sweep.

The throttle: SendWindow holds a count per (domain, minute). A claim increments it only while it is under
L2C_EMAIL_RATE_PER_MINUTE (one conditional UPDATE, atomic on every database); when the minute is full the
message stays queued until the next minute.
"""
from __future__ import annotations

import datetime as dt
import logging
import smtplib

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from ..choices import ExitReason, MessageStatus, SuppressionReason
from ..models import EmailMessage, Enrollment, SendWindow
from ..unsubscribe import list_unsubscribe_headers
from .runner import _email_exit_reason, enrollment_exit, sending_domain

log = logging.getLogger(__name__)

LEASE = dt.timedelta(minutes=10)  # far longer than one SMTP conversation (EMAIL_TIMEOUT per command)
RETRY_DELAYS = (dt.timedelta(minutes=1), dt.timedelta(minutes=5), dt.timedelta(minutes=30), dt.timedelta(hours=2),
                dt.timedelta(hours=8))
DEFAULT_RATE_PER_MINUTE = 600
OPEN = (MessageStatus.QUEUED, MessageStatus.DEFERRED)

__all__ = ["send_message", "send_due", "expire_leases", "rate_per_minute", "LEASE", "RETRY_DELAYS"]


def rate_per_minute() -> int:
    return int(getattr(settings, "L2C_EMAIL_RATE_PER_MINUTE", DEFAULT_RATE_PER_MINUTE) or 0)


def _minute(now: dt.datetime) -> dt.datetime:
    return now.replace(second=0, microsecond=0)


def _take_slot(domain: str, now: dt.datetime) -> bool:
    """Count one send for the domain in this minute if the minute is not full (inside the claim's
    transaction; on PostgreSQL the window row stays locked until it commits)."""
    limit = rate_per_minute()
    if limit <= 0:
        return True
    minute = _minute(now)
    SendWindow.objects.bulk_create([SendWindow(domain=domain, minute=minute, count=0)], ignore_conflicts=True)
    return bool(SendWindow.objects.filter(domain=domain, minute=minute, count__lt=limit)
                .update(count=F("count") + 1))


def _touch(message: EmailMessage, kind: str, now: dt.datetime, data: dict | None = None) -> None:
    from l2c.leads.services import touch_record

    if message.lead_id is not None:
        touch_record(lead=message.lead, touch={"kind": kind, "occurred_at": now,
                                               "data": {"message": message.token, "subject": message.subject,
                                                        **(data or {})}})


def _exit_enrollment(message: EmailMessage, reason: str, now: dt.datetime, detail: str = "") -> None:
    if message.enrollment_id is None:
        return
    enrollment = Enrollment.objects.select_for_update().filter(pk=message.enrollment_id, status="active").first()
    if enrollment is not None:
        enrollment_exit(enrollment, reason=reason, now=now, detail=detail)


def _skip_reason(message: EmailMessage) -> tuple[str | None, str] | None:
    """Why a claimed message must not be sent after all: (the enrolment's exit reason or None, why)."""
    if message.enrollment_id is not None and message.enrollment.status == "exited":
        return None, f"enrolment exited ({message.enrollment.exit_reason})"
    lead = message.lead
    if lead is not None:
        refused = _email_exit_reason(lead)
        if refused:
            return refused
    else:
        from ..selectors import suppression_for

        suppression = suppression_for(message.to_email)
        if suppression is not None:
            return ExitReason.SUPPRESSED, f"suppressed ({suppression.reason})"
    return None


def _claim(message_id: int, now: dt.datetime) -> EmailMessage | None:
    """Lock a due message and claim it for one attempt (committed before any SMTP); None when it is not due,
    already claimed or done, not to be sent after all (skipped), or its domain's minute is full."""
    with transaction.atomic():
        message = (EmailMessage.objects.select_for_update(skip_locked=True, of=("self",))
                   .select_related("lead", "enrollment")
                   .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now), pk=message_id,
                           status__in=OPEN)
                   .first())
        if message is None:
            return None
        skip = _skip_reason(message)
        if skip is not None:
            reason, why = skip
            message.status = MessageStatus.SKIPPED
            message.next_attempt_at = None
            message.last_error = why[:1000]
            message.save(update_fields=["status", "next_attempt_at", "last_error"])
            if reason:
                _exit_enrollment(message, reason, now, detail=why)
            return None
        if not _take_slot(sending_domain(message.from_email), now):
            message.next_attempt_at = _minute(now) + dt.timedelta(minutes=1)
            message.save(update_fields=["next_attempt_at"])
            return None
        message.status = MessageStatus.SENDING
        message.attempts += 1
        message.next_attempt_at = now + LEASE
        message.save(update_fields=["status", "attempts", "next_attempt_at"])
    return message


def build(message: EmailMessage, connection=None) -> EmailMultiAlternatives:
    """The MIME message: plain text with the HTML as an alternative, our Message-ID and the unsubscribe
    headers (RFC 2369, RFC 8058 one-click)."""
    headers = {"Message-ID": message.message_id, "X-L2C-Message": message.token,
               **list_unsubscribe_headers(message.to_email)}
    mail = EmailMultiAlternatives(subject=message.subject, body=message.text, from_email=message.from_email,
                                  to=[message.to_email], headers=headers, connection=connection)
    if message.html:
        mail.attach_alternative(message.html, "text/html")
    return mail


def _smtp(message: EmailMessage, connection) -> tuple[str, str, str]:
    """Hand the message to the SMTP server once: (outcome, response, error); outcome sent, bounced, deferred
    or failed."""
    try:
        build(message, connection).send(fail_silently=False)
    except smtplib.SMTPRecipientsRefused as exc:
        code, text = next(iter(exc.recipients.values()), (0, b""))
        response = f"{code} {_text(text)}"
        return ("bounced" if 500 <= code < 600 else "deferred"), response, response
    except smtplib.SMTPSenderRefused as exc:  # our sender address: not the recipient's fault, no bounce
        response = f"{exc.smtp_code} {_text(exc.smtp_error)}"
        return ("failed" if 500 <= exc.smtp_code < 600 else "deferred"), response, response
    except smtplib.SMTPResponseException as exc:
        response = f"{exc.smtp_code} {_text(exc.smtp_error)}"
        return ("bounced" if 500 <= exc.smtp_code < 600 else "deferred"), response, response
    except (TimeoutError, smtplib.SMTPException, OSError) as exc:  # connection refused, dropped, timed out
        return "deferred", "", f"{type(exc).__name__}: {exc}"
    return "sent", "", ""


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _record(message: EmailMessage, outcome: str, response: str, error: str, attempted_at: dt.datetime) -> EmailMessage:
    now = timezone.now()
    with transaction.atomic():
        message = EmailMessage.objects.select_for_update(of=("self",)).select_related("lead", "enrollment").get(pk=message.pk)
        message.smtp_response = response[:500]
        message.last_error = error[:1000]
        fields = ["status", "next_attempt_at", "smtp_response", "last_error"]
        if outcome == "sent":
            message.status = MessageStatus.SENT
            message.sent_at = now
            message.next_attempt_at = None
            fields.append("sent_at")
            _touch(message, "email_sent", now)
        elif outcome == "bounced":
            from ..services import suppress

            message.status = MessageStatus.BOUNCED
            message.bounced_at = now
            message.next_attempt_at = None
            fields.append("bounced_at")
            suppress(email=message.to_email, reason=SuppressionReason.BOUNCED,
                     source=f"bounce of message {message.token}: {response}")
            _touch(message, "email_bounce", now, {"response": response[:500]})
            _exit_enrollment(message, ExitReason.BOUNCED, now, detail=response)
        elif outcome == "deferred" and message.attempts <= len(RETRY_DELAYS):
            message.status = MessageStatus.DEFERRED
            message.next_attempt_at = attempted_at + RETRY_DELAYS[message.attempts - 1]
        else:  # a permanent error that is not a bounce, or the last retry failed
            message.status = MessageStatus.FAILED
            message.next_attempt_at = None
        message.save(update_fields=fields)
    if outcome != "sent":
        log.info("e-mail %s attempt %s: %s %s", message.pk, message.attempts, message.status, error)
    return message


def send_message(message_id: int, *, connection=None, now: dt.datetime | None = None) -> EmailMessage | None:
    """Attempt the message once if it is due; None when there was nothing to send (not due, claimed by
    another worker, already done, throttled, or skipped). `connection`: an open SMTP connection to reuse."""
    now = now or timezone.now()
    message = _claim(message_id, now)
    if message is None:
        return None
    outcome, response, error = _smtp(message, connection or get_connection(fail_silently=False))
    return _record(message, outcome, response, error, attempted_at=now)


def expire_leases(now: dt.datetime | None = None) -> int:
    """Messages left `sending` past their lease (the worker died mid-attempt) become `unknown`, never re-sent
    (see the module's docstring); the number marked."""
    now = now or timezone.now()
    return EmailMessage.objects.filter(status=MessageStatus.SENDING, next_attempt_at__lt=now).update(
        status=MessageStatus.UNKNOWN, next_attempt_at=None,
        last_error="the worker stopped during the attempt; not re-sent, to never send twice")


def due_ids(now: dt.datetime, limit: int) -> list[int]:
    return list(EmailMessage.objects.filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
                                            status__in=OPEN)
                .order_by("next_attempt_at", "id").values_list("id", flat=True)[:limit])


def send_due(now: dt.datetime | None = None, limit: int = 10_000) -> int:
    """The sweep: expire dead leases, then attempt every due message over one SMTP connection (reopened
    after an error breaks it); the number of attempts made."""
    now = now or timezone.now()
    expire_leases(now)
    ids = due_ids(now, limit)
    if not ids:
        return 0
    attempted = 0
    connection = get_connection(fail_silently=False)
    try:
        for pk in ids:
            try:
                if connection.connection is None:
                    connection.open()
            except (smtplib.SMTPException, OSError):
                pass  # the attempt below records the connection error and defers the message
            result = send_message(pk, connection=connection, now=now)
            if result is None:
                continue
            attempted += 1
            if result.status != MessageStatus.SENT:
                _reset(connection)
    finally:
        _reset(connection)
    return attempted


def _reset(connection) -> None:
    """Close the SMTP connection (quietly): after a refused or failed send its state is unknown."""
    try:
        connection.close()
    except Exception:  # noqa: BLE001 - closing a broken connection may fail in any way; it is gone either way
        log.debug("closing the SMTP connection failed", exc_info=True)
