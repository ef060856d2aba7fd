"""The sequence runner: moves enrolments through their steps, and ends them when the lead replies, converts,
unsubscribes or bounces.

`advance_due` (beat, every minute) picks the active enrolments of active sequences whose next step is due and
runs each in its own transaction, its row locked with `select_for_update(skip_locked=True)`, so two runners
never run the same enrolment. Steps run one after the other until one waits:

- e-mail: the lead is checked first (address, suppression list, lawful basis, status); the message is
  rendered in the lead's language with tracking links and created once per (enrolment, step) — a second run
  of the same step finds it and creates nothing — then queued for sending after the commit;
- wait: the next step is due after the days and hours given;
- task: `nurture.task_requested` is published; pipeline creates the owner's task (nurture imports no stage);
- branch: on this enrolment's messages (opened, clicked, replied) or the lead's score, to `if_true` or
  `if_false` (None: the next step; 0: finish).

Past the last step the enrolment is completed. A paused sequence's enrolments are not picked (they wait where
they are); an archived sequence's are exited. Every completion and exit is timestamped and audited.
"""
from __future__ import annotations

import datetime as dt
import logging
import secrets
from email.utils import formataddr, parseaddr

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from l2c.core import audit
from l2c.core.events import publish

from ..choices import (
    BranchCondition,
    EnrollmentStatus,
    ExitReason,
    MessageStatus,
    SequenceStatus,
    StepKind,
    SuppressionReason,
)
from ..models import EmailMessage, Enrollment, Sequence, SequenceStep

log = logging.getLogger(__name__)

ACTOR_LABEL = "sequence runner"
TASK_EVENT = "nurture.task_requested"
RUNNABLE_SEQUENCES = (SequenceStatus.ACTIVE, SequenceStatus.ARCHIVED)  # archived: picked only to exit
OPEN_MESSAGE_STATUSES = (MessageStatus.QUEUED, MessageStatus.DEFERRED)
LEAD_CONVERTED = "converted"
LEAD_DISQUALIFIED = "disqualified"

__all__ = ["advance_due", "advance_enrollment", "enrollment_exit", "enrollment_complete", "message_for_step",
           "exit_for_lead", "connect"]


# --- ending an enrolment ----------------------------------------------------------------------------------

def _finish(enrollment: Enrollment, status: str, reason: str, now: dt.datetime, actor=None) -> None:
    before = {"status": enrollment.status, "exit_reason": enrollment.exit_reason}
    enrollment.status = status
    enrollment.exit_reason = reason
    enrollment.finished_at = now
    enrollment.next_run_at = None
    enrollment.save(update_fields=["status", "exit_reason", "finished_at", "next_run_at", "position"])
    changes = {"status": [before["status"], status]}
    if reason:
        changes["exit_reason"] = [before["exit_reason"] or None, reason]
    audit.record(actor=actor, action=audit.Action.TRANSITION, instance=enrollment, changes=changes,
                 actor_label=None if actor is not None else ACTOR_LABEL)


def enrollment_complete(enrollment: Enrollment, *, now: dt.datetime | None = None) -> None:
    """The enrolment ran its last step (inside the caller's transaction, the row locked)."""
    _finish(enrollment, EnrollmentStatus.COMPLETED, "", now or timezone.now())


def enrollment_exit(enrollment: Enrollment, *, reason: str, now: dt.datetime | None = None, actor=None,
                    detail: str = "") -> None:
    """Stop the enrolment early (inside the caller's transaction, the row locked): its messages not sent yet
    are marked not sent, so nothing more goes to the lead."""
    now = now or timezone.now()
    _finish(enrollment, EnrollmentStatus.EXITED, reason, now, actor=actor)
    EmailMessage.objects.filter(enrollment=enrollment, status__in=OPEN_MESSAGE_STATUSES).update(
        status=MessageStatus.SKIPPED, next_attempt_at=None,
        last_error=(detail or f"enrolment exited: {reason}")[:1000])


def exit_for_lead(lead_ids, *, reason: str, only_exit_on_conversion: bool = False,
                  only_exit_on_reply: bool = False, actor=None) -> int:
    """Exit every active enrolment of these leads (each locked in turn); the number exited."""
    now = timezone.now()
    count = 0
    with transaction.atomic():
        qs = Enrollment.objects.select_for_update(of=("self",)).filter(lead_id__in=list(lead_ids),
                                                           status=EnrollmentStatus.ACTIVE)
        if only_exit_on_conversion:
            qs = qs.filter(sequence__exit_on_conversion=True)
        if only_exit_on_reply:
            qs = qs.filter(sequence__exit_on_reply=True)
        for enrollment in qs.order_by("pk"):
            enrollment_exit(enrollment, reason=reason, now=now, actor=actor)
            count += 1
    return count


# --- e-mail steps -----------------------------------------------------------------------------------------

def _new_token() -> str:
    return secrets.token_hex(16)  # 32 characters, the width of EmailMessage.token


def sender_for(sequence: Sequence) -> str:
    """The From header: the sequence's sender, else DEFAULT_FROM_EMAIL; named after the sequence's sender
    name, else the company."""
    from l2c.core.models import CompanyProfile

    default_name, default_address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    address = sequence.from_email or default_address or settings.DEFAULT_FROM_EMAIL
    name = sequence.from_name or (default_name if not sequence.from_email else "") or CompanyProfile.get().name
    return formataddr((name, address)) if name else address


def sending_domain(from_email: str) -> str:
    address = parseaddr(from_email)[1] or from_email
    return address.rpartition("@")[2].lower() or "localhost"


def message_for_step(enrollment: Enrollment, step: SequenceStep, *, now: dt.datetime) -> tuple[EmailMessage, bool]:
    """The step's message for this enrolment: created once (rendered, tracked, queued), found afterwards."""
    from ..services import template_render
    from .tracking import rewrite

    existing = EmailMessage.objects.filter(enrollment=enrollment, step=step).first()
    if existing is not None:
        return existing, False
    lead = enrollment.lead
    rendered = template_render(template=step.template, lead=lead, owner=lead.owner)
    token = _new_token()
    from_email = sender_for(enrollment.sequence)
    try:
        with transaction.atomic():  # a savepoint: a concurrent creation of the same step loses cleanly
            message = EmailMessage.objects.create(
                token=token, message_id=f"<{token}@{sending_domain(from_email)}>", enrollment=enrollment,
                step=step, lead=lead, template=step.template, language=rendered.language, to_email=lead.email.strip(),
                from_email=from_email, subject=rendered.subject, html=rewrite(rendered.html, token),
                text=rendered.text, status=MessageStatus.QUEUED,
                next_attempt_at=min(now, timezone.now()))  # due at once, also when `now` is simulated
    except IntegrityError:
        return EmailMessage.objects.get(enrollment=enrollment, step=step), False
    return message, True


def _email_exit_reason(lead) -> tuple[str, str] | None:
    """Why this lead must not get the step's e-mail (an exit reason and the sentence), or None."""
    from ..selectors import can_email, suppression_for

    if not (lead.email or "").strip():
        return ExitReason.NO_EMAIL, "no e-mail address"
    suppression = suppression_for(lead.email)
    if suppression is not None:
        reason = {SuppressionReason.UNSUBSCRIBED: ExitReason.UNSUBSCRIBED,
                  SuppressionReason.BOUNCED: ExitReason.BOUNCED}.get(suppression.reason, ExitReason.SUPPRESSED)
        return reason, f"suppressed ({suppression.reason})"
    ok, why = can_email(lead)
    if not ok:
        invalid = "valid e-mail address" in why
        return (ExitReason.NO_EMAIL if invalid else ExitReason.NO_LAWFUL_BASIS), why
    return None


def _conversion_exit(enrollment: Enrollment) -> str | None:
    status = enrollment.lead.status
    if not enrollment.sequence.exit_on_conversion:
        return None
    if status == LEAD_CONVERTED:
        return ExitReason.CONVERTED
    if status == LEAD_DISQUALIFIED:
        return ExitReason.DISQUALIFIED
    return None


# --- branches ---------------------------------------------------------------------------------------------

def branch_holds(enrollment: Enrollment, step: SequenceStep) -> bool:
    messages = EmailMessage.objects.filter(enrollment=enrollment)
    if step.condition == BranchCondition.OPENED:
        return messages.filter(opened_at__isnull=False).exists()
    if step.condition == BranchCondition.CLICKED:
        return messages.filter(clicked_at__isnull=False).exists()
    if step.condition == BranchCondition.REPLIED:
        return messages.filter(replied_at__isnull=False).exists()
    if step.condition == BranchCondition.SCORE_AT_LEAST:
        score = enrollment.lead.score
        return score is not None and step.condition_value is not None and score >= step.condition_value
    log.warning("sequence step %s has an unknown branch condition %r: taking the else path", step.pk,
                step.condition)
    return False


# --- running ------------------------------------------------------------------------------------------------

def _step_at_or_after(steps: list[SequenceStep], position: int) -> SequenceStep | None:
    for step in steps:  # ordered by position
        if step.position >= position:
            return step
    return None


def _claim(enrollment_id: int, now: dt.datetime) -> Enrollment | None:
    return (Enrollment.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("sequence", "lead", "lead__owner")
            .filter(pk=enrollment_id, status=EnrollmentStatus.ACTIVE, next_run_at__lte=now,
                    sequence__status__in=RUNNABLE_SEQUENCES)
            .first())


def advance_enrollment(enrollment_id: int, *, now: dt.datetime | None = None, send: bool = True) -> Enrollment | None:
    """Run the enrolment's due steps until one waits or it ends. None when it is not due, not active, its
    sequence is paused or draft, or another runner holds it. `send`: queue each new message's send task
    after the commit (False: the `send_due_emails` sweep sends them, over one SMTP connection)."""
    now = now or timezone.now()
    queued: list[int] = []
    with transaction.atomic():
        enrollment = _claim(enrollment_id, now)
        if enrollment is None:
            return None
        _run_steps(enrollment, now, queued)
        if queued and send:
            _enqueue(queued)
    return enrollment


def _run_steps(enrollment: Enrollment, now: dt.datetime, queued: list[int]) -> None:
    """The steps of a claimed enrolment, in its transaction; the ids of the messages it created go to
    `queued`."""
    sequence = enrollment.sequence
    if sequence.status == SequenceStatus.ARCHIVED:
        enrollment_exit(enrollment, reason=ExitReason.ARCHIVED, now=now)
        return
    reason = _conversion_exit(enrollment)
    if reason:
        enrollment_exit(enrollment, reason=reason, now=now)
        return
    steps = list(SequenceStep.objects.filter(sequence=sequence).select_related("template").order_by("position"))
    # a branch may jump back; without a wait between, that would loop: stop after each step ran twice
    budget = 2 * len(steps) + 1
    while budget > 0:
        budget -= 1
        step = _step_at_or_after(steps, enrollment.position)
        if step is None:
            enrollment_complete(enrollment, now=now)
            return
        enrollment.position = step.position
        if step.kind == StepKind.EMAIL:
            refused = _email_exit_reason(enrollment.lead)
            if refused:
                enrollment_exit(enrollment, reason=refused[0], now=now, detail=refused[1])
                return
            if step.template_id is None:
                log.warning("sequence step %s has no template: skipped", step.pk)
            else:
                message, created = message_for_step(enrollment, step, now=now)
                if created:
                    queued.append(message.pk)
            enrollment.position = step.position + 1
        elif step.kind == StepKind.WAIT:
            enrollment.position = step.position + 1
            enrollment.next_run_at = now + dt.timedelta(days=step.wait_days, hours=step.wait_hours)
            if enrollment.next_run_at > now:
                break
        elif step.kind == StepKind.TASK:
            lead = enrollment.lead
            publish(TASK_EVENT, {
                "lead_id": lead.pk, "owner_id": lead.owner_id, "subject": step.task_subject or sequence.name,
                "due_at": (now + dt.timedelta(days=step.task_due_days)).isoformat(),
                "sequence_id": sequence.pk, "enrollment_id": enrollment.pk, "step_id": step.pk})
            enrollment.position = step.position + 1
        elif step.kind == StepKind.BRANCH:
            target = step.if_true if branch_holds(enrollment, step) else step.if_false
            if target == 0:
                enrollment_complete(enrollment, now=now)
                return
            enrollment.position = step.position + 1 if target is None else target
        else:
            log.warning("sequence step %s has an unknown kind %r: skipped", step.pk, step.kind)
            enrollment.position = step.position + 1
    else:
        log.warning("enrolment %s: steps loop without a wait; paused for an hour", enrollment.pk)
        enrollment.next_run_at = now + dt.timedelta(hours=1)
    enrollment.save(update_fields=["position", "next_run_at"])


def _enqueue(message_ids: list[int]) -> None:
    from .. import tasks

    transaction.on_commit(lambda: [tasks.send_email.delay(pk) for pk in message_ids])


def due_ids(now: dt.datetime, limit: int) -> list[int]:
    return list(Enrollment.objects.filter(status=EnrollmentStatus.ACTIVE, next_run_at__lte=now,
                                          sequence__status__in=RUNNABLE_SEQUENCES)
                .order_by("next_run_at", "id").values_list("id", flat=True)[:limit])


def advance_due(now: dt.datetime | None = None, limit: int = 1000, *, send: bool = True) -> int:
    """Advance every enrolment that is due (up to `limit`); the number advanced."""
    now = now or timezone.now()
    advanced = 0
    for pk in due_ids(now, limit):
        try:
            if advance_enrollment(pk, now=now, send=send) is not None:
                advanced += 1
        except Exception:  # one broken enrolment (a template gone bad) must not stop the others
            log.exception("enrolment %s could not advance", pk)
    return advanced


# --- exits from domain events -------------------------------------------------------------------------------

def on_unsubscribed(name: str, payload: dict) -> None:
    """nurture.unsubscribed: every active enrolment of that address's leads exits."""
    from l2c.leads.models import Lead

    email = (payload.get("email") or "").strip()
    if not email:
        return
    lead_ids = list(Lead.objects.filter(email__iexact=email).values_list("pk", flat=True))
    if lead_ids:
        exit_for_lead(lead_ids, reason=ExitReason.UNSUBSCRIBED)


def on_lead_converted(name: str, payload: dict) -> None:
    exit_for_lead([payload["lead_id"]], reason=ExitReason.CONVERTED, only_exit_on_conversion=True)


def on_lead_status_changed(name: str, payload: dict) -> None:
    reason = {LEAD_CONVERTED: ExitReason.CONVERTED, LEAD_DISQUALIFIED: ExitReason.DISQUALIFIED}.get(payload.get("to"))
    if reason:
        exit_for_lead([payload["lead_id"]], reason=reason, only_exit_on_conversion=True)


def connect() -> None:
    """Register the event nurture emits for tasks and subscribe the runner's exits (AppConfig.ready)."""
    from l2c.core.events import register_event, subscribe

    register_event(TASK_EVENT, "A sequence step asks for a task for the lead's owner. Payload: lead_id, owner_id "
                               "(None when the lead has none), subject, due_at (ISO 8601), sequence_id, "
                               "enrollment_id, step_id.")
    subscribe("nurture.unsubscribed", on_unsubscribed)
    subscribe("lead.converted", on_lead_converted)
    subscribe("lead.status_changed", on_lead_status_changed)
