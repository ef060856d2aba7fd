"""Sequence writes: create and change a sequence, replace its steps, move it through its statuses, delete it,
and enrol leads in it (by hand, by the lead list's filter, by an automation rule or through the API) or take
them out again.

Who (decided here, shown in the UI and the API docs):
- managers and admins create, change, activate, pause, archive and delete sequences;
- every sales user (rep, manager, admin) may view sequences and their report, and enrol or unenrol the leads
  they may see (a rep: their own leads) — a lead they cannot see is skipped as "not_found", never revealed;
- `actor=None` is the system (an automation rule): it may enrol any lead.

Steps can be replaced only while the sequence is a draft or paused (not while e-mails go out); they are
updated in place by position, so the messages already sent stay attached to their step (the report and the
"never twice per step" rule depend on it). Enrolment is bulk: one query per 1,000 leads for the leads, their
active enrollments and the suppression list, one bulk insert, and one audit event per batch.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from l2c.core import audit
from l2c.core.errors import (
    Conflict,
    FieldError,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from l2c.core.validation import as_id

from ..choices import (
    FALLBACK_LANGUAGE,
    BranchCondition,
    EnrollmentSource,
    EnrollmentStatus,
    ExitReason,
    SequenceStatus,
    StepKind,
)
from ..models import EmailTemplate, Enrollment, NurtureSettings, Sequence, SequenceStep
from ..services import normalise_email

MAX_NAME = 200
MAX_DESCRIPTION = 2000
MAX_STEPS = 50
MAX_WAIT_DAYS = 365
MAX_WAIT_HOURS = 24 * 365
MAX_TASK_DUE_DAYS = 365
MAX_TASK_SUBJECT = 200
MAX_ENROLL = 100_000  # one request; more: narrow the filter and enrol in parts
CHUNK = 1000
SEQUENCE_FIELDS = ["name", "description", "from_name", "from_email", "exit_on_reply", "exit_on_conversion"]
STEP_FIELDS = ["kind", "template", "wait_days", "wait_hours", "task_subject", "task_due_days", "condition",
               "condition_value", "if_true", "if_false"]

# Allowed source → targets (archived is final). Activation also needs an e-mail step (see sequence_activate).
SEQUENCE_TRANSITIONS: dict[str, set[str]] = {
    SequenceStatus.DRAFT: {SequenceStatus.ACTIVE, SequenceStatus.ARCHIVED},
    SequenceStatus.ACTIVE: {SequenceStatus.PAUSED, SequenceStatus.ARCHIVED},
    SequenceStatus.PAUSED: {SequenceStatus.ACTIVE, SequenceStatus.ARCHIVED},
    SequenceStatus.ARCHIVED: set(),
}
STEPS_EDITABLE = {SequenceStatus.DRAFT, SequenceStatus.PAUSED}

# Why a lead was not enrolled (the keys of `skipped`).
SKIP_NOT_FOUND = "not_found"  # no such lead, merged away, or one the user may not see
SKIP_NO_EMAIL = ExitReason.NO_EMAIL.value
SKIP_INVALID_EMAIL = "invalid_email"
SKIP_SUPPRESSED = ExitReason.SUPPRESSED.value
SKIP_NO_LAWFUL_BASIS = ExitReason.NO_LAWFUL_BASIS.value
SKIP_CONVERTED = ExitReason.CONVERTED.value
SKIP_DISQUALIFIED = ExitReason.DISQUALIFIED.value


def skip_reason_label(reason: str) -> str:
    labels = {SKIP_NOT_FOUND: _("not found or not yours to see"), SKIP_NO_EMAIL: _("no e-mail address"),
              SKIP_INVALID_EMAIL: _("invalid e-mail address"), SKIP_SUPPRESSED: _("on the suppression list"),
              SKIP_NO_LAWFUL_BASIS: _("no lawful basis to e-mail"), SKIP_CONVERTED: _("already converted"),
              SKIP_DISQUALIFIED: _("disqualified")}
    return labels.get(reason, reason)


# --- permissions -------------------------------------------------------------------------------------

def _signed_in(user) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False) and user.is_active)


def can_view(user) -> bool:
    return _signed_in(user) and bool(getattr(user, "is_sales", False))


def can_edit(user) -> bool:
    return _signed_in(user) and (getattr(user, "is_admin", False) or getattr(user, "is_manager", False))


def can_enroll(user) -> bool:
    return can_view(user)


def require_view(user) -> None:
    if not can_view(user):
        raise PermissionDenied(_("Only sales users (reps, managers, admins) work with sequences."))


def require_editor(user) -> None:
    if not can_edit(user):
        raise PermissionDenied(_("Only a manager or an admin may create or change sequences."))


def can_transition(sequence: Sequence, target: str) -> bool:
    return target in SEQUENCE_TRANSITIONS.get(sequence.status, set())


def can_activate(sequence: Sequence) -> bool:
    return can_transition(sequence, SequenceStatus.ACTIVE)


def can_pause(sequence: Sequence) -> bool:
    return can_transition(sequence, SequenceStatus.PAUSED)


def can_archive(sequence: Sequence) -> bool:
    return can_transition(sequence, SequenceStatus.ARCHIVED)


def can_edit_steps(sequence: Sequence) -> bool:
    return sequence.status in STEPS_EDITABLE


# --- sequence fields ---------------------------------------------------------------------------------

def _text(values: dict, name: str, limit: int, errors: list, *, required_message: str | None = None) -> str:
    value = values.get(name)
    value = value.strip() if isinstance(value, str) else ("" if value is None else None)
    if value is None:
        errors.append(FieldError(name, _("Give text."), "invalid"))
        return ""
    if required_message and not value:
        errors.append(FieldError(name, required_message, "required"))
    elif len(value) > limit:
        errors.append(FieldError(name, _("At most %(limit)d characters (got %(count)d).")
                                 % {"limit": limit, "count": len(value)}, "max_length"))
    return value


def _clean_fields(values: dict, *, creating: bool, instance: Sequence | None = None) -> dict:
    unknown = set(values) - set(SEQUENCE_FIELDS)
    if unknown:
        raise TypeError(f"unknown sequence fields: {sorted(unknown)}")
    errors: list[FieldError] = []
    cleaned: dict = {}
    if "name" in values or creating:
        name = _text(values, "name", MAX_NAME, errors, required_message=_("Give the sequence a name."))
        if name and len(name) <= MAX_NAME and Sequence.objects.filter(name__iexact=name).exclude(
                pk=getattr(instance, "pk", None)).exists():
            errors.append(FieldError("name", _("A sequence named %(name)s already exists.") % {"name": name},
                                     "duplicate"))
        cleaned["name"] = name
    if "description" in values:
        cleaned["description"] = _text(values, "description", MAX_DESCRIPTION, errors)
    if "from_name" in values:
        cleaned["from_name"] = _text(values, "from_name", 200, errors)
    if "from_email" in values:
        from_email = normalise_email(values.get("from_email") or "")
        if from_email:
            try:
                validate_email(from_email)
            except DjangoValidationError:
                errors.append(FieldError("from_email", _("%(value)r is not a valid e-mail address.")
                                         % {"value": values.get("from_email")}, "invalid_email"))
        cleaned["from_email"] = from_email
    for flag in ("exit_on_reply", "exit_on_conversion"):
        if flag in values:
            cleaned[flag] = bool(values[flag])
    if errors:
        raise ValidationFailed(errors)
    return cleaned


def _locked(sequence) -> Sequence:
    pk = getattr(sequence, "pk", sequence)
    found = Sequence.objects.select_for_update().filter(pk=pk).first() if as_id(pk) is not None else None
    if found is None:
        raise NotFound(_("No sequence with id %(id)s.") % {"id": pk})
    return found


# --- steps: validation -------------------------------------------------------------------------------

def _int(step: dict, name: str, prefix: str, errors: list, *, low: int, high: int, default=0, nullable=False):
    value = step.get(name)
    if value in (None, ""):
        return None if nullable else default
    if isinstance(value, bool) or not isinstance(value, int | str):
        errors.append(FieldError(f"{prefix}.{name}", _("Give a whole number."), "invalid"))
        return default
    try:
        number = int(value)
    except ValueError:
        errors.append(FieldError(f"{prefix}.{name}", _("Give a whole number."), "invalid"))
        return default
    if not low <= number <= high:
        errors.append(FieldError(f"{prefix}.{name}", _("Give a number from %(low)d to %(high)d.")
                                 % {"low": low, "high": high}, "out_of_range"))
    return number


def _templates_by_id(steps: list) -> dict[int, EmailTemplate]:
    ids = set()
    for step in steps:
        template = step.get("template") if isinstance(step, dict) else None
        template_id = getattr(template, "pk", template)
        if as_id(template_id) is not None:
            ids.add(int(template_id))
    return {t.pk: t for t in EmailTemplate.objects.filter(pk__in=ids).prefetch_related("versions")}


def clean_steps(steps) -> list[dict]:
    """The steps as field values for SequenceStep rows (position = index + 1), or ValidationFailed naming
    steps[i].field for every problem found."""
    if not isinstance(steps, list | tuple):
        raise ValidationFailed.single("steps", _("Give a list of steps."), "invalid")
    if len(steps) > MAX_STEPS:
        raise ValidationFailed.single("steps", _("At most %(limit)d steps (got %(count)d).")
                                      % {"limit": MAX_STEPS, "count": len(steps)}, "max_length")
    templates = _templates_by_id(list(steps))
    count = len(steps)
    errors: list[FieldError] = []
    cleaned: list[dict] = []
    for index, raw in enumerate(steps):
        prefix = f"steps[{index}]"
        position = index + 1
        step = dict(raw or {}) if isinstance(raw, dict) or raw is None else None
        if step is None:
            errors.append(FieldError(prefix, _("Give each step as an object."), "invalid"))
            continue
        unknown = set(step) - set(STEP_FIELDS) - {"position", "id"}
        for name in sorted(unknown):
            errors.append(FieldError(f"{prefix}.{name}", _("Unknown field."), "unknown_field"))
        values = {"position": position, "kind": step.get("kind"), "template": None, "wait_days": 0,
                  "wait_hours": 0, "task_subject": "", "task_due_days": 0, "condition": "",
                  "condition_value": None, "if_true": None, "if_false": None}
        kind = step.get("kind")
        if kind not in StepKind.values:
            errors.append(FieldError(f"{prefix}.kind", _("Unknown step kind %(value)r: use one of %(allowed)s.")
                                     % {"value": kind, "allowed": ", ".join(StepKind.values)}, "invalid_choice"))
        elif kind == StepKind.EMAIL:
            raw_template = step.get("template")
            template_id = getattr(raw_template, "pk", raw_template)
            template = templates.get(int(template_id)) if as_id(template_id) is not None else None
            if raw_template in (None, ""):
                errors.append(FieldError(f"{prefix}.template", _("Choose the e-mail template to send."),
                                         "required"))
            elif template is None:
                errors.append(FieldError(f"{prefix}.template", _("No e-mail template with id %(id)s.")
                                         % {"id": template_id}, "not_found"))
            elif not template.is_active:
                errors.append(FieldError(f"{prefix}.template", _("The template %(name)s is inactive.")
                                         % {"name": template.name}, "inactive"))
            elif not any(v.language == FALLBACK_LANGUAGE for v in template.versions.all()):
                errors.append(FieldError(f"{prefix}.template", _("The template %(name)s has no English version.")
                                         % {"name": template.name}, "no_english_version"))
            values["template"] = template
        elif kind == StepKind.WAIT:
            days = _int(step, "wait_days", prefix, errors, low=0, high=MAX_WAIT_DAYS)
            hours = _int(step, "wait_hours", prefix, errors, low=0, high=MAX_WAIT_HOURS)
            if days == 0 and hours == 0:
                errors.append(FieldError(f"{prefix}.wait_days", _("Wait at least one hour (days or hours)."),
                                         "required"))
            values.update(wait_days=days, wait_hours=hours)
        elif kind == StepKind.TASK:
            subject = step.get("task_subject")
            subject = subject.strip() if isinstance(subject, str) else ""
            if not subject:
                errors.append(FieldError(f"{prefix}.task_subject", _("Say what the owner should do."), "required"))
            elif len(subject) > MAX_TASK_SUBJECT:
                errors.append(FieldError(f"{prefix}.task_subject", _("At most %(limit)d characters (got %(count)d).")
                                         % {"limit": MAX_TASK_SUBJECT, "count": len(subject)}, "max_length"))
            values.update(task_subject=subject,
                          task_due_days=_int(step, "task_due_days", prefix, errors, low=0, high=MAX_TASK_DUE_DAYS))
        elif kind == StepKind.BRANCH:
            condition = step.get("condition")
            if condition not in BranchCondition.values:
                errors.append(FieldError(f"{prefix}.condition", _("Unknown condition %(value)r: use one of "
                                                                  "%(allowed)s.")
                                         % {"value": condition, "allowed": ", ".join(BranchCondition.values)},
                                         "invalid_choice"))
            elif condition == BranchCondition.SCORE_AT_LEAST:
                value = _int(step, "condition_value", prefix, errors, low=0, high=100, nullable=True)
                if value is None:
                    errors.append(FieldError(f"{prefix}.condition_value", _("Give the score, 0 to 100."),
                                             "required"))
                values["condition_value"] = value
            values["condition"] = condition if condition in BranchCondition.values else ""
            for target in ("if_true", "if_false"):
                goto = _int(step, target, prefix, errors, low=0, high=max(count, 0), nullable=True)
                if goto is not None and goto == position:
                    errors.append(FieldError(f"{prefix}.{target}", _("A branch cannot go to itself."), "loop"))
                elif goto is not None and goto > count:
                    pass  # reported by _int as out of range
                values[target] = goto
        cleaned.append(values)
    if errors:
        raise ValidationFailed(errors)
    return cleaned


def _steps_snapshot(sequence: Sequence) -> list[dict]:
    return [{"position": s.position, "kind": s.kind, "template": s.template_id, "wait_days": s.wait_days,
             "wait_hours": s.wait_hours, "task_subject": s.task_subject, "task_due_days": s.task_due_days,
             "condition": s.condition, "condition_value": s.condition_value, "if_true": s.if_true,
             "if_false": s.if_false} for s in SequenceStep.objects.filter(sequence=sequence).order_by("position")]


def _write_steps(sequence: Sequence, cleaned: list[dict]) -> None:
    """Update the rows in place by position (keeping their ids, so sent messages stay with their step),
    create the new positions and delete those past the end."""
    existing = {s.position: s for s in SequenceStep.objects.filter(sequence=sequence)}
    to_update, to_create = [], []
    for values in cleaned:
        row = existing.get(values["position"])
        if row is None:
            to_create.append(SequenceStep(sequence=sequence, **values))
            continue
        for name, value in values.items():
            setattr(row, name, value)
        to_update.append(row)
    SequenceStep.objects.filter(sequence=sequence, position__gt=len(cleaned)).delete()
    if to_update:
        SequenceStep.objects.bulk_update(to_update, STEP_FIELDS)
    if to_create:
        SequenceStep.objects.bulk_create(to_create)


# --- sequence writes ---------------------------------------------------------------------------------

@transaction.atomic
def sequence_create(*, actor, name: str, description: str = "", from_name: str = "", from_email: str = "",
                    exit_on_reply: bool = True, exit_on_conversion: bool = True,
                    steps: list[dict] | None = None) -> Sequence:
    """A new draft sequence, with its steps when given."""
    require_editor(actor)
    errors: list[FieldError] = []
    cleaned: dict = {}
    cleaned_steps: list[dict] = []
    try:
        cleaned = _clean_fields({"name": name, "description": description, "from_name": from_name,
                                 "from_email": from_email, "exit_on_reply": exit_on_reply,
                                 "exit_on_conversion": exit_on_conversion}, creating=True)
    except ValidationFailed as exc:
        errors += exc.errors
    if steps is not None:
        try:
            cleaned_steps = clean_steps(steps)
        except ValidationFailed as exc:
            errors += exc.errors
    if errors:
        raise ValidationFailed(errors)
    sequence = Sequence.objects.create(created_by=actor, status=SequenceStatus.DRAFT, **cleaned)
    _write_steps(sequence, cleaned_steps)
    changes = {k: [None, v] for k, v in audit.snapshot(sequence, [*SEQUENCE_FIELDS, "status"]).items()
               if v not in (None, "")}
    if cleaned_steps:
        changes["steps"] = [None, _steps_snapshot(sequence)]
    audit.record(actor=actor, action=audit.Action.CREATE, instance=sequence, changes=changes)
    return sequence


@transaction.atomic
def sequence_update(*, actor, sequence, **values) -> Sequence:
    """Change name, description, sender and exit flags (any status but archived); `steps` replaces the steps
    (draft or paused only)."""
    require_editor(actor)
    sequence = _locked(sequence)
    if sequence.status == SequenceStatus.ARCHIVED:
        raise Conflict(_("An archived sequence cannot be changed."), code="archived")
    steps = values.pop("steps", None)
    errors: list[FieldError] = []
    cleaned: dict = {}
    cleaned_steps = None
    try:
        cleaned = _clean_fields(values, creating=False, instance=sequence)
    except ValidationFailed as exc:
        errors += exc.errors
    if steps is not None:
        if not can_edit_steps(sequence):
            raise Conflict(_("Pause the sequence before changing its steps."), code="steps_locked")
        try:
            cleaned_steps = clean_steps(steps)
        except ValidationFailed as exc:
            errors += exc.errors
    if errors:
        raise ValidationFailed(errors)
    before = audit.snapshot(sequence, SEQUENCE_FIELDS)
    steps_before = _steps_snapshot(sequence) if cleaned_steps is not None else None
    for name, value in cleaned.items():
        setattr(sequence, name, value)
    changes = audit.diff(before, audit.snapshot(sequence, SEQUENCE_FIELDS))
    if cleaned_steps is not None:
        _write_steps(sequence, cleaned_steps)
        steps_after = _steps_snapshot(sequence)
        if steps_after != steps_before:
            changes["steps"] = [steps_before, steps_after]
    if changes:
        sequence.save(update_fields=[*cleaned, "updated_at"])
        audit.record(actor=actor, action=audit.Action.UPDATE, instance=sequence, changes=changes)
    return sequence


def steps_replace(*, actor, sequence, steps: list[dict]) -> Sequence:
    """Replace the whole list of steps (draft or paused only)."""
    return sequence_update(actor=actor, sequence=sequence, steps=steps)


def _transition(sequence: Sequence, target: str, actor, extra: dict | None = None) -> Sequence:
    if not can_transition(sequence, target):
        raise InvalidTransition(_("A %(status)s sequence cannot become %(target)s.")
                                % {"status": sequence.get_status_display(),
                                   "target": SequenceStatus(target).label})
    before = sequence.status
    sequence.status = target
    sequence.save(update_fields=["status", "updated_at"])
    audit.record(actor=actor, action=audit.Action.TRANSITION, instance=sequence,
                 changes={"status": [before, target], **(extra or {})})
    return sequence


@transaction.atomic
def sequence_activate(*, actor, sequence) -> Sequence:
    """Draft or paused → active: it needs an e-mail step, and every e-mail step an active template with an
    English version (checked again: a template may have changed since the steps were saved)."""
    require_editor(actor)
    sequence = _locked(sequence)
    if not can_activate(sequence):
        return _transition(sequence, SequenceStatus.ACTIVE, actor)  # raises InvalidTransition
    steps = list(SequenceStep.objects.filter(sequence=sequence).order_by("position"))
    if not any(s.kind == StepKind.EMAIL for s in steps):
        raise ValidationFailed.single("steps", _("Add at least one e-mail step before activating."), "required")
    clean_steps([{name: getattr(s, name + "_id" if name == "template" else name) for name in STEP_FIELDS}
                 for s in steps])
    resumed = sequence.status == SequenceStatus.PAUSED
    sequence = _transition(sequence, SequenceStatus.ACTIVE, actor)
    if resumed:
        transaction.on_commit(queue_advance)
    return sequence


@transaction.atomic
def sequence_pause(*, actor, sequence) -> Sequence:
    """Active → paused: enrollments wait where they are and nothing is sent until it is activated again."""
    require_editor(actor)
    return _transition(_locked(sequence), SequenceStatus.PAUSED, actor)


@transaction.atomic
def sequence_archive(*, actor, sequence) -> Sequence:
    """→ archived (final): no new enrolments; the active enrollments exit with reason "archived"."""
    require_editor(actor)
    sequence = _locked(sequence)
    if not can_archive(sequence):
        return _transition(sequence, SequenceStatus.ARCHIVED, actor)  # raises InvalidTransition
    now = timezone.now()
    exited = Enrollment.objects.filter(sequence=sequence, status=EnrollmentStatus.ACTIVE).update(
        status=EnrollmentStatus.EXITED, exit_reason=ExitReason.ARCHIVED, finished_at=now, next_run_at=None)
    return _transition(sequence, SequenceStatus.ARCHIVED, actor, extra={"enrollments_exited": [None, exited]})


TRANSITIONS = {"activate": sequence_activate, "pause": sequence_pause, "archive": sequence_archive}


@transaction.atomic
def sequence_delete(*, actor, sequence) -> None:
    """Only a sequence nobody was ever enrolled in; otherwise archive it (its history stays for the report)."""
    require_editor(actor)
    sequence = _locked(sequence)
    if Enrollment.objects.filter(sequence=sequence).exists():
        raise Conflict(_("Leads were enrolled in this sequence: archive it instead of deleting it."),
                       code="has_enrollments")
    audit.record(actor=actor, action=audit.Action.DELETE, instance=sequence,
                 changes={**{k: [v, None] for k, v in audit.snapshot(sequence, [*SEQUENCE_FIELDS, "status"]).items()},
                          "steps": [_steps_snapshot(sequence), None]})
    sequence.delete()


# --- enrolment ---------------------------------------------------------------------------------------

def queue_advance() -> None:
    """Ask the runner to advance the enrollments now instead of at its next beat."""
    from l2c.nurture import tasks

    tasks.advance_sequences.delay()


def _lead_model():
    from l2c.leads.models import Lead

    return Lead


LEAD_FIELDS = ("id", "email", "status", "consent_basis", "consent_at")


def _chunks(items: list, size: int = CHUNK) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _block_reason(lead: dict, suppressed: set[str], legitimate_interest: bool) -> str | None:
    """Why nurture may not e-mail this lead (None: it may) — the same rules as nurture.selectors.can_email,
    for many leads at once (the suppression list and settings are read once per batch)."""
    if lead["status"] == "converted":
        return SKIP_CONVERTED
    if lead["status"] == "disqualified":
        return SKIP_DISQUALIFIED
    email = normalise_email(lead["email"])
    if not email:
        return SKIP_NO_EMAIL
    try:
        validate_email(email)
    except DjangoValidationError:
        return SKIP_INVALID_EMAIL
    if email in suppressed:
        return SKIP_SUPPRESSED
    if lead["consent_basis"] == "consent" and lead["consent_at"]:
        return None
    if legitimate_interest:
        return None
    return SKIP_NO_LAWFUL_BASIS


def _require_enrollable(sequence: Sequence) -> None:
    if sequence.status != SequenceStatus.ACTIVE:
        raise Conflict(_("Leads can be enrolled only in an active sequence (this one is %(status)s).")
                       % {"status": sequence.get_status_display()}, code="sequence_not_active")


def _visible_leads(actor):
    Lead = _lead_model()
    leads = Lead.objects.all() if actor is None else Lead.objects.restrict(actor)
    return leads.filter(merged_into__isnull=True)


def _enroll_rows(*, sequence: Sequence, rows: list[dict], requested: int, actor, source: str,
                 detail: dict | None = None) -> dict:
    """Enrol the leads given as value rows (LEAD_FIELDS); `requested` - len(rows) were not found."""
    from ..selectors import suppressed_among

    legitimate_interest = NurtureSettings.get().legitimate_interest_allowed
    skipped: Counter = Counter()
    skipped[SKIP_NOT_FOUND] += requested - len(rows)
    already = 0
    now = timezone.now()
    enrolled_ids: list[int] = []
    for chunk in _chunks(rows):
        ids = [row["id"] for row in chunk]
        active = set(Enrollment.objects.filter(sequence=sequence, status=EnrollmentStatus.ACTIVE, lead_id__in=ids)
                     .values_list("lead_id", flat=True))
        suppressed = suppressed_among(row["email"] for row in chunk)
        new = []
        for row in chunk:
            if row["id"] in active:
                already += 1
                continue
            reason = _block_reason(row, suppressed, legitimate_interest)
            if reason:
                skipped[reason] += 1
                continue
            new.append(Enrollment(sequence=sequence, lead_id=row["id"], status=EnrollmentStatus.ACTIVE, position=1,
                                  next_run_at=now, source=source, enrolled_by=actor))
            enrolled_ids.append(row["id"])
        Enrollment.objects.bulk_create(new, batch_size=CHUNK)
    result = {"enrolled": len(enrolled_ids), "already_enrolled": already,
              "skipped": {reason: n for reason, n in sorted(skipped.items()) if n}}
    if enrolled_ids:
        audit.record(actor=actor, action=audit.Action.UPDATE, instance=sequence,
                     actor_label=None if actor is not None else "automation",
                     changes={"enrolled": [None, {**result, "source": source, **(detail or {}),
                                                  "lead_ids": enrolled_ids[:100],
                                                  "more_leads": max(0, len(enrolled_ids) - 100)}]})
        transaction.on_commit(queue_advance)
    return result


def _check_actor(actor) -> None:
    if actor is not None and not can_enroll(actor):
        raise PermissionDenied(_("Only sales users (reps, managers, admins) may enrol leads in sequences."))


@transaction.atomic
def enroll(*, sequence, leads, actor, source: str = EnrollmentSource.MANUAL) -> dict:
    """Enrol leads (Lead objects or ids) in an active sequence, starting at step 1 now.

    Returns {"enrolled": n, "already_enrolled": n, "skipped": {reason: n}}: a lead the actor may not see (or
    that does not exist) is "not_found"; one that may not be e-mailed (no or invalid address, suppressed, no
    lawful basis) or is converted or disqualified is skipped with that reason. `actor` None: the system."""
    _check_actor(actor)
    if source not in EnrollmentSource.values:
        raise ValidationFailed.single("source", _("Unknown source %(value)r.") % {"value": source}, "invalid_choice")
    sequence = _locked(sequence)
    _require_enrollable(sequence)
    ids: list[int] = []
    seen: set[int] = set()
    for lead in leads:
        pk = as_id(getattr(lead, "pk", lead))
        if pk is None:
            raise ValidationFailed.single("lead_ids", _("%(value)r is not a lead id.") % {"value": lead}, "invalid")
        if pk not in seen:
            seen.add(pk)
            ids.append(pk)
    if len(ids) > MAX_ENROLL:
        raise ValidationFailed.single("lead_ids", _("At most %(limit)d leads at once (got %(count)d).")
                                      % {"limit": MAX_ENROLL, "count": len(ids)}, "max_length")
    rows: list[dict] = []
    visible = _visible_leads(actor)
    for chunk in _chunks(ids):
        rows += list(visible.filter(pk__in=chunk).order_by().values(*LEAD_FIELDS))
    return _enroll_rows(sequence=sequence, rows=rows, requested=len(ids), actor=actor, source=source)


def filter_queryset(*, actor, filters: dict | None):
    """The leads the lead list shows `actor` for these filters ({q, status, source, campaign, owner, country})
    — the very same selector as the list page, so "enrol what I see" means exactly that."""
    from l2c.leads.selectors import lead_list

    filters = dict(filters or {})
    q = filters.pop("q", "") or ""
    filters.pop("ordering", None)
    return lead_list(user=actor, q=q, filters={k: v for k, v in filters.items() if v not in (None, "")})


@transaction.atomic
def enroll_by_filter(*, sequence, filters: dict | None, actor) -> dict:
    """Enrol every lead the lead list shows `actor` for these filters; same result as `enroll`."""
    if actor is None or not can_enroll(actor):
        raise PermissionDenied(_("Only sales users (reps, managers, admins) may enrol leads in sequences."))
    sequence = _locked(sequence)
    _require_enrollable(sequence)
    qs = filter_queryset(actor=actor, filters=filters).order_by()
    rows = list(qs.values(*LEAD_FIELDS)[:MAX_ENROLL + 1])
    if len(rows) > MAX_ENROLL:
        raise ValidationFailed.single("filters", _("More than %(limit)d leads match: narrow the filter and enrol "
                                                   "them in parts.") % {"limit": MAX_ENROLL}, "too_many")
    shown = {k: v for k, v in (filters or {}).items() if v not in (None, "")}
    return _enroll_rows(sequence=sequence, rows=rows, requested=len(rows), actor=actor,
                        source=EnrollmentSource.FILTER, detail={"filters": shown})


def _exit(enrollments: list[Enrollment], actor) -> int:
    now = timezone.now()
    ids = [e.pk for e in enrollments]
    Enrollment.objects.filter(pk__in=ids, status=EnrollmentStatus.ACTIVE).update(
        status=EnrollmentStatus.EXITED, exit_reason=ExitReason.UNENROLLED, finished_at=now, next_run_at=None)
    audit.record_many([audit.PendingEvent(
        action=audit.Action.TRANSITION, object_type=audit.object_type_of(Enrollment), object_id=str(e.pk),
        object_repr=str(e)[:200], changes={"status": [EnrollmentStatus.ACTIVE, EnrollmentStatus.EXITED],
                                           "exit_reason": [None, ExitReason.UNENROLLED]}) for e in enrollments],
        actor=actor)
    return len(ids)


@transaction.atomic
def unenroll(*, actor, enrollment=None, sequence=None, lead=None) -> Enrollment:
    """Take a lead out of a sequence: its active enrollment (given, or found by sequence and lead) exits with
    reason "unenrolled". NotFound when there is none the actor may see."""
    _check_actor(actor)
    qs = Enrollment.objects.select_for_update().filter(status=EnrollmentStatus.ACTIVE)
    if enrollment is not None:
        qs = qs.filter(pk=getattr(enrollment, "pk", enrollment))
        if sequence is not None:
            qs = qs.filter(sequence_id=getattr(sequence, "pk", sequence))
    elif sequence is not None and lead is not None:
        qs = qs.filter(sequence_id=getattr(sequence, "pk", sequence), lead_id=getattr(lead, "pk", lead))
    else:
        raise TypeError("give enrollment, or sequence and lead")
    found = qs.filter(lead__in=_visible_leads(actor)).first()
    if found is None:
        raise NotFound(_("No active enrolment to end."))
    _exit([found], actor)
    found.refresh_from_db()
    return found


@transaction.atomic
def unenroll_many(*, actor, sequence, lead_ids: list) -> dict:
    """Take these leads out of the sequence: {"unenrolled": n, "not_enrolled": n} (a lead the actor may not
    see counts as not enrolled)."""
    _check_actor(actor)
    sequence = _locked(sequence)
    ids = {as_id(i) for i in lead_ids} - {None}
    found = list(Enrollment.objects.select_for_update().filter(
        sequence=sequence, status=EnrollmentStatus.ACTIVE, lead_id__in=ids,
        lead__in=_visible_leads(actor)).order_by("pk"))
    unenrolled = _exit(found, actor) if found else 0
    return {"unenrolled": unenrolled, "not_enrolled": len(ids) - unenrolled}
