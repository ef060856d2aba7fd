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
L2C_EMAIL_RATE_PER_MINUTE: the window row is locked (PostgreSQL; SQLite's IMMEDIATE transaction holds the
whole database), the free slots counted and taken in one UPDATE, so the count never passes the limit however
many sweeps run; when the minute is full the message stays queued until the next minute.

Batches: the sweep claims CLAIM_BATCH messages at a time in one transaction (one locking SELECT with
`skip_locked`, the suppression list read once for the batch, one window lock and UPDATE per sending domain,
one UPDATE to `sending`), commits, sends them one after the other over its open connection, then records the
outcomes together (one UPDATE for the sent ones and their touches inserted in one statement; bounces,
deferrals and failures one by one, as before). So a crash (the process killed, the machine gone) leaves at
most CLAIM_BATCH (100) messages `sending`, which become `unknown` after the lease, never re-sent: those the
server accepted before the crash and those not attempted yet alike, since nothing tells them apart. An error
short of a crash (an exception in the sweep) is not a crash: the messages of the batch not handed to SMTP yet
go back to `queued` with their attempt uncounted, and are sent by a later sweep. Two sweeps never claim the
same message (the row lock, then the status). `send_message` (the per-message task) runs the same code with a
batch of one.
"""
from __future__ import annotations

import datetime as dt
import logging
import smtplib
from collections import deque
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.smtp import EmailBackend as SMTPBackend
from django.core.mail.message import sanitize_address
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

CLAIM_BATCH = 100  # messages claimed per transaction: at most this many are left `unknown` by a crash
BUILD_AHEAD = 8  # messages whose bytes a helper thread builds ahead of the SMTP conversation

__all__ = ["send_message", "send_due", "expire_leases", "rate_per_minute", "LEASE", "RETRY_DELAYS", "CLAIM_BATCH"]


def rate_per_minute() -> int:
    return int(getattr(settings, "L2C_EMAIL_RATE_PER_MINUTE", DEFAULT_RATE_PER_MINUTE) or 0)


def _minute(now: dt.datetime) -> dt.datetime:
    return now.replace(second=0, microsecond=0)


def _take_slots(domain: str, minute: dt.datetime, wanted: int, limit: int) -> int:
    """Count up to `wanted` sends for the domain in this minute, as many as the minute has room for; the
    number counted (inside the claim's transaction, the window row locked until it commits)."""
    window = SendWindow.objects.select_for_update().filter(domain=domain, minute=minute).first()
    if window is None:  # created just before, in this transaction; cannot be gone
        return 0
    granted = max(0, min(wanted, limit - window.count))
    if granted:
        SendWindow.objects.filter(pk=window.pk).update(count=F("count") + granted)
    return granted


def _throttle(messages: list[EmailMessage], now: dt.datetime) -> list[EmailMessage]:
    """The messages (in order) that fit in their sending domain's minute; each domain's first ones win."""
    limit = rate_per_minute()
    if limit <= 0:
        return messages
    minute = _minute(now)
    by_domain: dict[str, list[EmailMessage]] = {}
    for message in messages:
        by_domain.setdefault(sending_domain(message.from_email), []).append(message)
    domains = sorted(by_domain)  # one order for every sweep: two never wait on each other's windows crosswise
    SendWindow.objects.bulk_create([SendWindow(domain=d, minute=minute, count=0) for d in domains],
                                   ignore_conflicts=True)
    granted: set[int] = set()
    for domain in domains:
        group = by_domain[domain]
        granted.update(m.pk for m in group[:_take_slots(domain, minute, len(group), limit)])
    return [m for m in messages if m.pk in granted]


def _take_slot(domain: str, now: dt.datetime) -> bool:
    """Count one send for the domain in this minute if the minute is not full."""
    limit = rate_per_minute()
    if limit <= 0:
        return True
    minute = _minute(now)
    SendWindow.objects.bulk_create([SendWindow(domain=domain, minute=minute, count=0)], ignore_conflicts=True)
    return _take_slots(domain, minute, 1, limit) == 1


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


def _skip_reason(message: EmailMessage, suppressed: set[str] | None = None,
                 legitimate_interest: bool = False) -> tuple[str | None, str] | None:
    """Why a claimed message must not be sent after all: (the enrolment's exit reason or None, why).
    `suppressed`: the batch's suppressed addresses (lower-cased), read just now, for the quick yes; anything
    but a yes is decided by the full check."""
    from .runner import may_email

    if message.enrollment_id is not None and message.enrollment.status == "exited":
        return None, f"enrolment exited ({message.enrollment.exit_reason})"
    lead = message.lead
    if lead is not None:
        if suppressed is not None and may_email(lead, suppressed=suppressed, legitimate_interest=legitimate_interest):
            return None
        refused = _email_exit_reason(lead)
        if refused:
            return refused
    else:
        from ..selectors import suppression_for
        from ..services import normalise_email

        if suppressed is not None and normalise_email(message.to_email) not in suppressed:
            return None
        suppression = suppression_for(message.to_email)
        if suppression is not None:
            return ExitReason.SUPPRESSED, f"suppressed ({suppression.reason})"
    return None


def _claim_batch(message_ids: list[int], now: dt.datetime) -> list[EmailMessage]:
    """Lock the due messages among `message_ids` and claim them for one attempt each, in one transaction
    committed before any SMTP; the claimed ones, in the order of `message_ids`. Not claimed: those not due,
    already claimed or done, not to be sent after all (skipped), or whose domain's minute is full."""
    from ..models import NurtureSettings
    from ..selectors import suppressed_among

    with transaction.atomic():
        found = list(EmailMessage.objects.select_for_update(skip_locked=True, of=("self",))
                     .select_related("lead", "enrollment")
                     .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now), pk__in=message_ids,
                             status__in=OPEN))
        if not found:
            return []
        order = {pk: index for index, pk in enumerate(message_ids)}
        found.sort(key=lambda m: order[m.pk])
        suppressed = suppressed_among([m.to_email for m in found] + [m.lead.email for m in found if m.lead])
        legitimate_interest = NurtureSettings.get().legitimate_interest_allowed
        sendable = []
        for message in found:
            skip = _skip_reason(message, suppressed, legitimate_interest)
            if skip is None:
                sendable.append(message)
                continue
            reason, why = skip
            message.status = MessageStatus.SKIPPED
            message.next_attempt_at = None
            message.last_error = why[:1000]
            message.save(update_fields=["status", "next_attempt_at", "last_error"])
            if reason:
                _exit_enrollment(message, reason, now, detail=why)
        claimed = _throttle(sendable, now)
        claimed_ids = {m.pk for m in claimed}
        waiting = [m for m in sendable if m.pk not in claimed_ids]
        if waiting:
            next_minute = _minute(now) + dt.timedelta(minutes=1)
            EmailMessage.objects.filter(pk__in=[m.pk for m in waiting]).update(next_attempt_at=next_minute)
        if claimed:
            lease = now + LEASE
            EmailMessage.objects.filter(pk__in=[m.pk for m in claimed]).update(
                status=MessageStatus.SENDING, attempts=F("attempts") + 1, next_attempt_at=lease)
            for message in claimed:
                message.status, message.attempts, message.next_attempt_at = (MessageStatus.SENDING,
                                                                             message.attempts + 1, lease)
    return claimed


def _claim(message_id: int, now: dt.datetime) -> EmailMessage | None:
    """`_claim_batch` of one message: the message claimed, or None."""
    claimed = _claim_batch([message_id], now)
    return claimed[0] if claimed else None


def _release(messages: list[EmailMessage]) -> None:
    """Claimed messages never handed to SMTP (the sweep stopped on an error): queued again, the attempt
    uncounted, so a later sweep sends them."""
    if messages:
        EmailMessage.objects.filter(pk__in=[m.pk for m in messages], status=MessageStatus.SENDING).update(
            status=MessageStatus.QUEUED, attempts=F("attempts") - 1, next_attempt_at=timezone.now())


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


def _prepare(message: EmailMessage) -> tuple[str, list[str], bytes]:
    """The envelope and bytes Django's SMTP backend would write for the message (as its `_send` does), built
    ahead of the SMTP conversation."""
    mail = build(message)
    encoding = mail.encoding or settings.DEFAULT_CHARSET
    return (sanitize_address(mail.from_email, encoding), [sanitize_address(a, encoding) for a in mail.recipients()],
            mail.message().as_bytes(linesep="\r\n"))


def _built_ahead(builder: ThreadPoolExecutor, messages: list[EmailMessage]):
    """`_prepare` of each message in order, built by `builder` BUILD_AHEAD messages ahead of the caller: a
    short lead, so the helper holds the GIL only while the sender waits for the server, not in one long
    burst that would make every reply wait for the interpreter's switch interval."""
    pending = iter(messages)
    futures = deque(builder.submit(_prepare, m) for m in [next(pending) for _ in range(min(BUILD_AHEAD, len(messages)))])
    while futures:
        future = futures.popleft()
        following = next(pending, None)
        if following is not None:
            futures.append(builder.submit(_prepare, following))
        yield future.result()


def _write(prepared: tuple[str, list[str], bytes], connection: SMTPBackend) -> None:
    if connection.connection is None:
        connection.open()
    connection.connection.sendmail(*prepared)


def _smtp(message: EmailMessage, connection, prepared: tuple[str, list[str], bytes] | None = None
          ) -> tuple[str, str, str]:
    """Hand the message to the SMTP server once: (outcome, response, error); outcome sent, bounced, deferred
    or failed. `prepared`: its envelope and bytes from `_prepare`, for Django's SMTP backend."""
    try:
        if prepared is not None:
            _write(prepared, connection)
        else:
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


def _record_one(message: EmailMessage, outcome: str, response: str, error: str, attempted_at: dt.datetime) -> EmailMessage:
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


def _sent_touches(messages: list[EmailMessage], now: dt.datetime) -> None:
    """An `email_sent` touch on each message's lead, inserted in one statement (as touch_record would)."""
    from l2c.core.bulk import insert_rows
    from l2c.leads.models import Touch

    fields = [f for f in Touch._meta.concrete_fields if not f.primary_key]
    defaults = {f.attname: f.get_default() for f in fields}
    rows = []
    for message in messages:
        if message.lead_id is None:
            continue
        values = {**defaults, "lead_id": message.lead_id, "kind": "email_sent", "occurred_at": now,
                  "data": {"message": message.token, "subject": message.subject}}
        rows.append([values[f.attname] for f in fields])
    if rows:
        insert_rows(Touch, [f.attname for f in fields], rows)


def _record(results: list[tuple[EmailMessage, str, str, str]], attempted_at: dt.datetime) -> list[EmailMessage]:
    """Write the outcomes of `(message, outcome, response, error)`: the sent ones in one UPDATE with their
    touches, the others one by one; the messages as written."""
    now = timezone.now()
    sent = [message for message, outcome, _response, _error in results if outcome == "sent"]
    recorded = {}
    with transaction.atomic():
        if sent:
            EmailMessage.objects.filter(pk__in=[m.pk for m in sent]).update(
                status=MessageStatus.SENT, sent_at=now, next_attempt_at=None, smtp_response="", last_error="")
            _sent_touches(sent, now)
            for message in sent:
                message.status, message.sent_at, message.next_attempt_at = MessageStatus.SENT, now, None
                message.smtp_response = message.last_error = ""
                recorded[message.pk] = message
        for message, outcome, response, error in results:
            if outcome != "sent":
                recorded[message.pk] = _record_one(message, outcome, response, error, attempted_at)
    return [recorded[message.pk] for message, *_rest in results]


def _send_batch(messages: list[EmailMessage], connection, now: dt.datetime) -> list[EmailMessage]:
    """Hand claimed messages to the SMTP server one after the other over `connection` (reopened after an
    error broke it), then record the outcomes; the messages as recorded.

    Over Django's SMTP backend each message's MIME bytes are built by a helper thread while this one waits for
    the server's replies to the one before (the GIL is free during the wait): building costs about half a
    millisecond a message, as much as a round trip to a local server, so overlapping them saves part of it.
    The thread touches no database and no connection; the SMTP conversation stays in this thread, one
    message after the other."""
    results: list[tuple[EmailMessage, str, str, str]] = []
    handed: set[int] = set()
    builder = None
    if isinstance(connection, SMTPBackend):
        if len(messages) > 1:
            builder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="l2c-mail-build")
            prepared = _built_ahead(builder, messages)
        else:
            prepared = (_prepare(m) for m in messages)
    else:
        prepared = iter([None] * len(messages))
    try:
        for message in messages:
            try:
                if connection.connection is None:
                    connection.open()
            except (smtplib.SMTPException, OSError):
                pass  # the attempt below records the connection error and defers the message
            handed.add(message.pk)  # from here on it may reach the server: never handed out again
            outcome, response, error = _smtp(message, connection, next(prepared))
            results.append((message, outcome, response, error))
            if outcome != "sent":
                _reset(connection)  # after a refused or failed send its state is unknown
    finally:
        if builder is not None:
            builder.shutdown(wait=True, cancel_futures=True)
        try:
            recorded = _record(results, attempted_at=now)
        finally:
            _release([m for m in messages if m.pk not in handed])
    return recorded


def send_message(message_id: int, *, connection=None, now: dt.datetime | None = None) -> EmailMessage | None:
    """Attempt the message once if it is due; None when there was nothing to send (not due, claimed by
    another worker, already done, throttled, or skipped). `connection`: an open SMTP connection to reuse."""
    now = now or timezone.now()
    claimed = _claim_batch([message_id], now)
    if not claimed:
        return None
    return _send_batch(claimed, connection or get_connection(fail_silently=False), now)[0]


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
    """The sweep: expire dead leases, then attempt every due message, CLAIM_BATCH at a time, over one SMTP
    connection (reopened after an error breaks it); the number of attempts made."""
    now = now or timezone.now()
    expire_leases(now)
    ids = due_ids(now, limit)
    if not ids:
        return 0
    attempted = 0
    connection = get_connection(fail_silently=False)
    try:
        for start in range(0, len(ids), CLAIM_BATCH):
            claimed = _claim_batch(ids[start:start + CLAIM_BATCH], now)
            if claimed:
                attempted += len(_send_batch(claimed, connection, now))
    finally:
        _reset(connection)
    return attempted


def _reset(connection) -> None:
    """Close the SMTP connection (quietly): after a refused or failed send its state is unknown."""
    try:
        connection.close()
    except Exception:  # noqa: BLE001 - closing a broken connection may fail in any way; it is gone either way
        log.debug("closing the SMTP connection failed", exc_info=True)
