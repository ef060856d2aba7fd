"""The sequence runner: moves enrolments through their steps, and ends them when the lead replies, converts,
unsubscribes or bounces.

`advance_due` (beat, every minute) picks the active enrolments of active sequences whose next step is due and
runs them in batches of BATCH, each batch in its own transaction with its rows locked with
`select_for_update(skip_locked=True)`, so two runners never run the same enrolment. What a batch needs is
loaded once for it (its sequences' steps with templates and versions, the suppressed addresses among its
leads, the nurture settings, the company profile, the messages its steps already created); its messages are
inserted, its enrolments moved on and its completions audited in a few statements at the end. A batch that
fails (a template gone bad) is rolled back and its enrolments run again one at a time, each in its own
transaction, so one broken enrolment never stops the others. `advance_enrollment` is the same code with a
batch of one. Steps run one after the other until one waits:

- e-mail: the lead is checked first (address, suppression list, lawful basis, status); the message is
  rendered in the lead's language with tracking links and created once per (enrolment, step) — a second run
  of the same step finds it and creates nothing — then sent after the commit: `advance_due` queues one
  `send_due_emails` sweep (one task, one SMTP connection, however many messages), `advance_enrollment` one
  `send_email` task per message;
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


def sender_for(sequence: Sequence, company=None) -> str:
    """The From header: the sequence's sender, else DEFAULT_FROM_EMAIL; named after the sequence's sender
    name, else the company (`company`: the CompanyProfile when the caller has it loaded)."""
    from l2c.core.models import CompanyProfile

    default_name, default_address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    address = sequence.from_email or default_address or settings.DEFAULT_FROM_EMAIL
    name = sequence.from_name or (default_name if not sequence.from_email else "") or (company or CompanyProfile.get()).name
    return formataddr((name, address)) if name else address


def sending_domain(from_email: str) -> str:
    address = parseaddr(from_email)[1] or from_email
    return address.rpartition("@")[2].lower() or "localhost"


def build_message(lead, template, *, from_email: str, domain: str, company, now: dt.datetime,
                  **links) -> EmailMessage:
    """An unsaved, queued message of `template` for `lead`: rendered in the lead's language with the merge
    fields, links signed for click tracking and the open pixel; `links`: enrollment and step, or
    idempotency_key. NotFound when the template has no version to render."""
    from .. import merge
    from ..services import merge_context, recipient_language
    from .tracking import rewrite

    version = template.version(recipient_language(lead=lead))
    if version is None:
        from django.utils.translation import gettext as _

        from l2c.core.errors import NotFound

        raise NotFound(_("The template %(name)s has no version to render.") % {"name": template.name})
    rendered = merge.render_all(subject=version.subject, html=version.html, text=version.text,
                                context=merge_context(lead=lead, owner=lead.owner, company=company),
                                language=version.language)
    token = _new_token()
    return EmailMessage(
        token=token, message_id=f"<{token}@{domain}>", lead=lead, template=template, language=rendered.language,
        to_email=lead.email.strip(), from_email=from_email, subject=rendered.subject,
        html=rewrite(rendered.html, token), text=rendered.text, status=MessageStatus.QUEUED,
        next_attempt_at=min(now, timezone.now()), **links)  # due at once


def message_for_step(enrollment: Enrollment, step: SequenceStep, *, now: dt.datetime) -> tuple[EmailMessage, bool]:
    """The step's message for this enrolment: created once (rendered, tracked, queued), found afterwards."""
    batch = _Batch([enrollment], now)
    message, created = batch.message_for(enrollment, step)
    if created:
        batch.insert_messages()
        if message.pk is None:  # another runner created it meanwhile
            return batch.existing[(enrollment.pk, step.pk)], False
    return message, created


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


def may_email(lead, *, suppressed: set[str], legitimate_interest: bool) -> bool:
    """The fast yes of `_email_exit_reason` for a batch: True only when that would say None, judged on the
    batch's suppressed addresses (lower-cased) and nurture settings, without a query. False means "ask
    `_email_exit_reason`", which gives the reason and its sentence (and the last word)."""
    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email

    from ..services import normalise_email

    email = normalise_email(lead.email)
    if not email or email in suppressed:
        return False
    if not (lead.consent_basis == "consent" and lead.consent_at) and not legitimate_interest:
        return False
    try:
        validate_email(email)
    except ValidationError:
        return False
    return True


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


# --- a batch of enrolments -----------------------------------------------------------------------------------

BATCH = 200  # enrolments per transaction: big enough to share the loads, small enough to hold locks briefly


class _Batch:
    """What the claimed enrolments of one transaction share, loaded once, and the writes they collect (new
    messages, moved and completed enrolments) until `flush`."""

    def __init__(self, enrollments: list[Enrollment], now: dt.datetime):
        from django.db.models import Prefetch

        from l2c.core.models import CompanyProfile

        from ..models import EmailTemplateVersion, NurtureSettings
        from ..selectors import suppressed_among

        self.now = now
        self.company = CompanyProfile.get()
        self.legitimate_interest = NurtureSettings.get().legitimate_interest_allowed
        self.suppressed = suppressed_among(e.lead.email for e in enrollments)  # one query
        self.steps: dict[int, list[SequenceStep]] = {}
        for step in (SequenceStep.objects.filter(sequence_id__in={e.sequence_id for e in enrollments})
                     .select_related("template")
                     .prefetch_related(Prefetch("template__versions", EmailTemplateVersion.objects.order_by("id")))
                     .order_by("sequence_id", "position")):
            self.steps.setdefault(step.sequence_id, []).append(step)
        self.existing: dict[tuple[int, int], EmailMessage] = {
            (m.enrollment_id, m.step_id): m
            for m in EmailMessage.objects.filter(enrollment_id__in=[e.pk for e in enrollments], step__isnull=False)}
        self.senders: dict[int, tuple[str, str]] = {}
        self.pending: list[EmailMessage] = []
        self.created: list[int] = []
        self.moved: list[Enrollment] = []
        self.completed: list[Enrollment] = []

    def steps_of(self, sequence_id: int) -> list[SequenceStep]:
        return self.steps.get(sequence_id, [])

    def refusal(self, lead) -> tuple[str, str] | None:
        if may_email(lead, suppressed=self.suppressed, legitimate_interest=self.legitimate_interest):
            return None
        return _email_exit_reason(lead)

    def _sender(self, sequence: Sequence) -> tuple[str, str]:
        if sequence.pk not in self.senders:
            from_email = sender_for(sequence, self.company)
            self.senders[sequence.pk] = (from_email, sending_domain(from_email))
        return self.senders[sequence.pk]

    def message_for(self, enrollment: Enrollment, step: SequenceStep) -> tuple[EmailMessage, bool]:
        """The step's message for the enrolment: found, or rendered and kept to insert at `flush`."""

        key = (enrollment.pk, step.pk)
        if key in self.existing:
            return self.existing[key], False
        from_email, domain = self._sender(enrollment.sequence)
        message = build_message(enrollment.lead, step.template, from_email=from_email, domain=domain,
                                company=self.company, now=self.now, enrollment=enrollment, step=step)
        self.existing[key] = message
        self.pending.append(message)
        return message, True

    def insert_messages(self) -> None:
        """Insert the pending messages; one another runner created meanwhile (not possible while the
        enrolment is locked, but cheap to survive) is found instead, as a single creation would. Any other
        error comes back from the one-by-one inserts."""
        pending, self.pending = self.pending, []
        if not pending:
            return
        from l2c.core.bulk import allocate_ids, insert_objects

        try:
            with transaction.atomic():  # a savepoint: the batch survives a conflict
                for message, pk in zip(pending, allocate_ids(EmailMessage, len(pending)), strict=True):
                    message.pk = pk
                insert_objects(pending)  # COPY on PostgreSQL: no per-value preparation as bulk_create does
        except Exception:  # noqa: BLE001 - COPY raises the driver's error, not Django's IntegrityError
            for message in pending:
                message.pk = None
                try:
                    with transaction.atomic():
                        message.save(force_insert=True)
                except IntegrityError:
                    message.pk = None
                    self.existing[(message.enrollment_id, message.step_id)] = EmailMessage.objects.get(
                        enrollment_id=message.enrollment_id, step_id=message.step_id)
                    continue
                self.created.append(message.pk)
            return
        self.created.extend(message.pk for message in pending)

    def flush(self) -> None:
        """The batch's writes: messages inserted, enrolments moved on, completions saved and audited."""
        from l2c.core.bulk import update_columns

        self.insert_messages()
        if self.moved:
            update_columns(Enrollment, ["position", "next_run_at"],
                           [(e.pk, e.position, e.next_run_at) for e in self.moved])
        if self.completed:
            update_columns(Enrollment, ["status", "exit_reason", "finished_at", "next_run_at", "position"],
                           [(e.pk, e.status, e.exit_reason, e.finished_at, e.next_run_at, e.position)
                            for e in self.completed])
            audit.record_many([audit.PendingEvent(
                action=audit.Action.TRANSITION, object_type=audit.object_type_of(Enrollment), object_id=str(e.pk),
                object_repr=str(e)[:200], changes={"status": [EnrollmentStatus.ACTIVE, e.status]})
                for e in self.completed], actor=None, actor_label=ACTOR_LABEL)
        self.moved, self.completed = [], []

    def complete(self, enrollment: Enrollment) -> None:
        """`enrollment_complete`, written at `flush` with the others."""
        enrollment.status = EnrollmentStatus.COMPLETED
        enrollment.exit_reason = ""
        enrollment.finished_at = self.now
        enrollment.next_run_at = None
        self.completed.append(enrollment)

    def exit(self, enrollment: Enrollment, *, reason: str, detail: str = "") -> None:
        """`enrollment_exit` now (rare): the batch's messages are inserted first, so the exit marks this
        enrolment's ones not sent, as it would have one at a time."""
        self.insert_messages()
        enrollment_exit(enrollment, reason=reason, now=self.now, detail=detail)


# --- running ------------------------------------------------------------------------------------------------

def _step_at_or_after(steps: list[SequenceStep], position: int) -> SequenceStep | None:
    for step in steps:  # ordered by position
        if step.position >= position:
            return step
    return None


def _claim(enrollment_ids: list[int], now: dt.datetime) -> list[Enrollment]:
    """Lock the enrolments of `enrollment_ids` that are still due (skipping those another runner holds), in
    due order."""
    return list(Enrollment.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("sequence", "lead", "lead__owner")
                .filter(pk__in=enrollment_ids, status=EnrollmentStatus.ACTIVE, next_run_at__lte=now,
                        sequence__status__in=RUNNABLE_SEQUENCES)
                .order_by("next_run_at", "id"))


def _advance_batch(enrollment_ids: list[int], now: dt.datetime) -> tuple[list[Enrollment], list[int]]:
    """Run the due steps of these enrolments in one transaction: (the enrolments advanced, the ids of the
    messages created)."""
    with transaction.atomic():
        enrollments = _claim(enrollment_ids, now)
        if not enrollments:
            return [], []
        batch = _Batch(enrollments, now)
        for enrollment in enrollments:
            _run_steps(enrollment, now, batch)
        batch.flush()
    return enrollments, batch.created


def advance_enrollment(enrollment_id: int, *, now: dt.datetime | None = None, send: bool = True) -> Enrollment | None:
    """Run the enrolment's due steps until one waits or it ends. None when it is not due, not active, its
    sequence is paused or draft, or another runner holds it. `send`: queue each new message's send task
    after the commit (False: the `send_due_emails` sweep sends them, over one SMTP connection)."""
    enrollments, created = _advance_batch([enrollment_id], now or timezone.now())
    if created and send:
        _enqueue(created)
    return enrollments[0] if enrollments else None


def _run_steps(enrollment: Enrollment, now: dt.datetime, batch: _Batch) -> None:
    """The steps of a claimed enrolment, in its batch's transaction; its writes are collected by `batch`."""
    sequence = enrollment.sequence
    if sequence.status == SequenceStatus.ARCHIVED:
        batch.exit(enrollment, reason=ExitReason.ARCHIVED)
        return
    reason = _conversion_exit(enrollment)
    if reason:
        batch.exit(enrollment, reason=reason)
        return
    steps = batch.steps_of(sequence.pk)
    # a branch may jump back; without a wait between, that would loop: stop after each step ran twice
    budget = 2 * len(steps) + 1
    while budget > 0:
        budget -= 1
        step = _step_at_or_after(steps, enrollment.position)
        if step is None:
            batch.complete(enrollment)
            return
        enrollment.position = step.position
        if step.kind == StepKind.EMAIL:
            refused = batch.refusal(enrollment.lead)
            if refused:
                batch.exit(enrollment, reason=refused[0], detail=refused[1])
                return
            if step.template_id is None:
                log.warning("sequence step %s has no template: skipped", step.pk)
            else:
                batch.message_for(enrollment, step)
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
                batch.complete(enrollment)
                return
            enrollment.position = step.position + 1 if target is None else target
        else:
            log.warning("sequence step %s has an unknown kind %r: skipped", step.pk, step.kind)
            enrollment.position = step.position + 1
    else:
        log.warning("enrolment %s: steps loop without a wait; paused for an hour", enrollment.pk)
        enrollment.next_run_at = now + dt.timedelta(hours=1)
    batch.moved.append(enrollment)


def _enqueue(message_ids: list[int]) -> None:
    from .. import tasks

    transaction.on_commit(lambda: [tasks.send_email.delay(pk) for pk in message_ids])


def _enqueue_sweep() -> None:
    from .. import tasks

    transaction.on_commit(tasks.send_due_emails.delay)


def due_ids(now: dt.datetime, limit: int) -> list[int]:
    return list(Enrollment.objects.filter(status=EnrollmentStatus.ACTIVE, next_run_at__lte=now,
                                          sequence__status__in=RUNNABLE_SEQUENCES)
                .order_by("next_run_at", "id").values_list("id", flat=True)[:limit])


def advance_due(now: dt.datetime | None = None, limit: int = 1000, *, send: bool = True) -> int:
    """Advance every enrolment that is due (up to `limit`), BATCH at a time; the number advanced. `send`:
    when messages were created, queue one `send_due_emails` sweep after the commit (not a task per message:
    10,000 messages are one task over one SMTP connection, and the sweep's claim keeps them at most once)."""
    now = now or timezone.now()
    advanced = created = 0
    ids = due_ids(now, limit)
    for start in range(0, len(ids), BATCH):
        chunk = ids[start:start + BATCH]
        try:
            enrollments, messages = _advance_batch(chunk, now)
            advanced += len(enrollments)
            created += len(messages)
            continue
        except Exception:  # noqa: BLE001 - rolled back whole; one at a time below names the broken one
            log.info("a batch of %s enrolments failed; running them one at a time", len(chunk), exc_info=True)
        for pk in chunk:
            try:
                enrollments, messages = _advance_batch([pk], now)
                advanced += len(enrollments)
                created += len(messages)
            except Exception:  # one broken enrolment (a template gone bad) must not stop the others
                log.exception("enrolment %s could not advance", pk)
    if created and send:
        _enqueue_sweep()
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
