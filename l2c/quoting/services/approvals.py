"""Discount approvals: submit a quote, approve or reject it level by level, say why a quote is blocked,
and maintain the approval rules.

On submit every active `ApprovalRule` is evaluated against the freshly computed quote (measure
"overall" = the quote's effective discount, "any_line" = its largest line discount; a rule is hit when
the value is over its threshold). Each hit becomes one pending `QuoteApproval` with its reason in words.
No hit: the quote is APPROVED at once. Levels are decided in order (level 2 waits for level 1).

Who may decide an approval: a user whose role is among the rule's approver roles, never the quote's
owner, and a manager only for quotes owned by a member of their team.
"""
from __future__ import annotations

from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from l2c.core import audit, events
from l2c.core.errors import FieldError, InvalidTransition, PermissionDenied, ValidationFailed
from l2c.core.validation import check_max_lengths
from l2c.core.visibility import Role

from .. import pricing
from ..models import ApprovalRule, ApprovalStatus, Quote, QuoteApproval, QuoteStatus
from .quotes import MAX_TEXT, _decimal, _int, event_payload, lock_quote, require_quote_writer, set_status

APPROVER_ROLES = (Role.MANAGER, Role.FINANCE, Role.ADMIN)
SUBMITTABLE = (QuoteStatus.DRAFT, QuoteStatus.REJECTED)


def _role(user) -> str | None:
    if user is None:
        return None
    if getattr(user, "is_superuser", False):
        return Role.ADMIN
    return getattr(user, "role", None)


def _pct(value: Decimal) -> str:
    """22.5 → "22.50" (a measured discount), shown with 2 places."""
    return f"{Decimal(value).quantize(Decimal('0.01')):f}"


def _threshold(value: Decimal) -> str:
    return pricing.rate_label(value)


def role_names(roles) -> str:
    labels = []
    for role in roles:
        try:
            labels.append(str(Role(role).label))
        except ValueError:
            labels.append(str(role))
    return ", ".join(labels)


# --- who may decide --------------------------------------------------------------------------------------

def decide_refusal(user, approval: QuoteApproval, quote: Quote | None = None) -> str | None:
    """Why `user` may not decide `approval` (ignoring the level order), or None when they may."""
    quote = quote or approval.quote
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return _("Sign in to decide approvals.")
    role = _role(user)
    if quote.owner_id is not None and quote.owner_id == user.pk:
        return _("You cannot approve your own quote.")
    if role not in (approval.approver_roles or []):
        return _("This approval needs one of these roles: %(roles)s.") % {"roles": role_names(approval.approver_roles)}
    if role == Role.MANAGER:
        owner_team = getattr(quote.owner, "team_id", None) if quote.owner_id else None
        if not user.team_id or owner_team != user.team_id:
            return _("A manager approves only quotes of their own team.")
    return None


def may_decide(user, approval: QuoteApproval) -> bool:
    return decide_refusal(user, approval) is None


def approvers_for(approval: QuoteApproval, quote: Quote, *, limit: int = 5) -> list[str]:
    """The names of the users who may decide `approval` (at most `limit`)."""
    User = get_user_model()
    roles = [r for r in (approval.approver_roles or []) if r in Role.values]
    users = User.objects.filter(is_active=True, role__in=roles).select_related("team").order_by("username")
    if quote.owner_id:
        users = users.exclude(pk=quote.owner_id)
    names = []
    for user in users[: limit * 4]:
        if decide_refusal(user, approval, quote) is None:
            names.append(str(user))
        if len(names) >= limit:
            break
    return names


def pending_approvals(quote: Quote) -> list[QuoteApproval]:
    return list(quote.approvals.filter(status=ApprovalStatus.PENDING).order_by("level", "id"))


def can_decide(user, quote: Quote) -> bool:
    """Whether `user` may approve or reject the quote now (its current level)."""
    if quote.status != QuoteStatus.PENDING_APPROVAL:
        return False
    pending = pending_approvals(quote)
    if not pending:
        return False
    level = pending[0].level
    return any(decide_refusal(user, a, quote) is None for a in pending if a.level == level)


def can_submit(quote: Quote) -> bool:
    return quote.status in SUBMITTABLE


# --- submit, approve, reject ---------------------------------------------------------------------------------

def _reason(rule: ApprovalRule, value: Decimal) -> str:
    if rule.measure == ApprovalRule.Measure.ANY_LINE:
        text = _("A line discount of %(value)s %% is over %(threshold)s %%")
    else:
        text = _("Overall discount %(value)s %% is over %(threshold)s %%")
    return (text % {"value": _pct(value), "threshold": _threshold(rule.threshold_percent)})[:300]


def rule_hits(quote: Quote) -> list[tuple[ApprovalRule, Decimal]]:
    """The active rules the quote's (stored) discounts go over, with the measured value."""
    hits = []
    for rule in ApprovalRule.objects.filter(active=True).order_by("level", "threshold_percent", "id"):
        value = (quote.max_line_discount_percent if rule.measure == ApprovalRule.Measure.ANY_LINE
                 else quote.effective_discount_percent)
        if Decimal(value) > Decimal(rule.threshold_percent):
            hits.append((rule, Decimal(value)))
    return hits


@transaction.atomic
def quote_submit(*, actor, quote) -> Quote:
    """DRAFT/REJECTED → APPROVED when no rule is hit, else PENDING_APPROVAL with one approval per hit."""
    require_quote_writer(actor)
    quote = lock_quote(quote, actor)
    if quote.status not in SUBMITTABLE:
        raise InvalidTransition(_("Only a draft or a rejected quote can be submitted (this one is %(status)s).")
                                % {"status": quote.get_status_display().lower()})
    errors = []
    if not quote.lines.filter(optional=False).exists():
        errors.append(FieldError("lines", _("Add at least one line (not optional) before submitting."), "no_lines"))
    if quote.valid_until < timezone.localdate():
        errors.append(FieldError("valid_until", _("The quote expired on %(date)s; move its validity date first.")
                                 % {"date": quote.valid_until.isoformat()}, "expired"))
    if errors:
        raise ValidationFailed(errors)
    pricing.recompute(quote)
    now = timezone.now()
    QuoteApproval.objects.filter(quote=quote, status=ApprovalStatus.PENDING).update(status=ApprovalStatus.CANCELLED)
    hits = rule_hits(quote)
    QuoteApproval.objects.bulk_create([
        QuoteApproval(quote=quote, rule=rule, rule_name=rule.name, level=rule.level,
                      approver_roles=list(rule.approver_roles or []), reason=_reason(rule, value),
                      status=ApprovalStatus.PENDING, requested_by=actor, requested_at=now)
        for rule, value in hits
    ])
    if hits:
        set_status(quote, QuoteStatus.PENDING_APPROVAL, actor=actor, now=now,
                   reason="; ".join(_reason(rule, value) for rule, value in hits))
        events.publish("quote.submitted", event_payload(quote, actor, approvals=len(hits)))
    else:
        quote.approved_at = now
        quote.approval_fingerprint = pricing.fingerprint(quote)
        set_status(quote, QuoteStatus.APPROVED, actor=actor, now=now, reason="no approval rule applies",
                   extra_fields=("approved_at", "approval_fingerprint"))
        events.publish("quote.submitted", event_payload(quote, actor, approvals=0))
        events.publish("quote.approved", event_payload(quote, actor))
    return quote


def _decidable(actor, quote: Quote) -> list[QuoteApproval]:
    """The pending approvals of the current level `actor` may decide; PermissionDenied saying why not."""
    if quote.status != QuoteStatus.PENDING_APPROVAL:
        raise InvalidTransition(_("The quote is not awaiting approval (it is %(status)s).")
                                % {"status": quote.get_status_display().lower()})
    pending = pending_approvals(quote)
    level = pending[0].level
    current = [a for a in pending if a.level == level]
    mine = [a for a in current if decide_refusal(actor, a, quote) is None]
    if mine:
        return mine
    later = [a for a in pending if a.level > level and decide_refusal(actor, a, quote) is None]
    if later:
        names = ", ".join(approvers_for(current[0], quote)) or role_names(current[0].approver_roles)
        raise PermissionDenied(_("Level %(level)d must be approved first (by %(who)s).")
                               % {"level": level, "who": names})
    raise PermissionDenied(decide_refusal(actor, current[0], quote))


def _comment(comment, *, required: bool) -> str:
    text = comment.strip() if isinstance(comment, str) else ""
    if required and not text:
        raise ValidationFailed.single("comment", _("Say why you reject the quote."), "required")
    if len(text) > MAX_TEXT:
        raise ValidationFailed.single("comment", _("At most %(limit)d characters.") % {"limit": MAX_TEXT},
                                      "max_length")
    return text


def _decide(approvals: list[QuoteApproval], *, actor, status: str, comment: str, now) -> None:
    for approval in approvals:
        before = audit.snapshot(approval)
        approval.status = status
        approval.decided_by = actor
        approval.decided_at = now
        approval.comment = comment
        approval.save(update_fields=["status", "decided_by", "decided_at", "comment"])
        audit.record(actor=actor, action=audit.Action.TRANSITION, instance=approval, before=before,
                     changes=audit.diff(before, audit.snapshot(approval)))


@transaction.atomic
def quote_approve(*, actor, quote, comment: str = "") -> Quote:
    """Approve the current level's approvals the actor may decide; the last one makes the quote APPROVED."""
    comment = _comment(comment, required=False)
    quote = lock_quote(quote, actor)
    approvals = _decidable(actor, quote)
    now = timezone.now()
    _decide(approvals, actor=actor, status=ApprovalStatus.APPROVED, comment=comment, now=now)
    if not quote.approvals.filter(status=ApprovalStatus.PENDING).exists():
        quote.approved_at = now
        quote.approval_fingerprint = pricing.fingerprint(quote)
        set_status(quote, QuoteStatus.APPROVED, actor=actor, now=now,
                   extra_fields=("approved_at", "approval_fingerprint"))
        events.publish("quote.approved", event_payload(quote, actor, comment=comment))
    return quote


@transaction.atomic
def quote_reject(*, actor, quote, comment: str) -> Quote:
    """Reject (a comment is required): the quote becomes REJECTED, editable and submittable again."""
    comment = _comment(comment, required=True)
    quote = lock_quote(quote, actor)
    approvals = _decidable(actor, quote)
    now = timezone.now()
    _decide(approvals[:1], actor=actor, status=ApprovalStatus.REJECTED, comment=comment, now=now)
    QuoteApproval.objects.filter(quote=quote, status=ApprovalStatus.PENDING).update(status=ApprovalStatus.CANCELLED)
    set_status(quote, QuoteStatus.REJECTED, actor=actor, now=now, reason=comment)
    events.publish("quote.rejected", event_payload(quote, actor, comment=comment))
    return quote


# --- why a quote cannot be sent -------------------------------------------------------------------------------

def blockers(quote: Quote) -> list[str]:
    """Human reasons why the quote cannot be sent now (empty: it can)."""
    reasons: list[str] = []
    status = quote.status
    final = {
        QuoteStatus.ACCEPTED: _("The quote was accepted and signed."),
        QuoteStatus.DECLINED: _("The customer declined the quote: %(reason)s") % {"reason": quote.decline_reason},
        QuoteStatus.SUPERSEDED: _("This version was replaced by a newer version."),
    }
    if status in final:
        return [final[status]]
    if not quote.lines.filter(optional=False).exists():
        reasons.append(_("The quote has no lines."))
    if status == QuoteStatus.EXPIRED or quote.valid_until < timezone.localdate():
        reasons.append(_("The quote expired on %(date)s.") % {"date": date_format(quote.valid_until)})
    if status == QuoteStatus.DRAFT:
        reasons.append(_("The quote has not been submitted for approval."))
    elif status == QuoteStatus.PENDING_APPROVAL:
        pending = pending_approvals(quote)
        current = pending[0].level if pending else None
        for approval in pending:
            who = ", ".join(approvers_for(approval, quote)) or _("nobody yet: no active user with the role %(roles)s "
                                                                  "may decide it") % {
                "roles": role_names(approval.approver_roles)}
            if approval.level == current:
                reasons.append(_("Waiting for approval (level %(level)d): %(reason)s. Can approve: %(who)s.")
                               % {"level": approval.level, "reason": approval.reason, "who": who})
            else:
                reasons.append(_("Then approval level %(level)d: %(reason)s. Can approve: %(who)s.")
                               % {"level": approval.level, "reason": approval.reason, "who": who})
    elif status == QuoteStatus.REJECTED:
        rejected = quote.approvals.filter(status=ApprovalStatus.REJECTED).select_related("decided_by") \
            .order_by("-decided_at", "-id").first()
        if rejected is not None:
            reasons.append(_("Rejected by %(who)s: %(comment)s") % {"who": rejected.decided_by or _("an approver"),
                                                                     "comment": rejected.comment})
        else:
            reasons.append(_("The quote was rejected."))
        reasons.append(_("Change it as needed and submit it again."))
    elif status in (QuoteStatus.APPROVED, QuoteStatus.SENT):
        if quote.approval_fingerprint and pricing.fingerprint(quote) != quote.approval_fingerprint:
            reasons.append(_("The prices changed after the approval; submit the quote again."))
    return reasons


# --- approval rules (admin) ------------------------------------------------------------------------------------

RULE_FIELDS = ("name", "measure", "threshold_percent", "approver_roles", "level", "active")


def require_admin(actor) -> None:
    if actor is not None and not getattr(actor, "is_admin", False):
        raise PermissionDenied(_("Only an admin can change the approval rules."))


def _clean_rule(values: dict, *, creating: bool) -> dict:
    errors: list[FieldError] = []
    unknown = sorted(set(values) - set(RULE_FIELDS))
    errors += [FieldError(f, _("This field cannot be set here."), "unknown_field") for f in unknown]
    out: dict = {}
    if "name" in values or creating:
        name = values.get("name")
        name = name.strip() if isinstance(name, str) else ""
        if not name:
            errors.append(FieldError("name", _("A name is required."), "required"))
        errors += check_max_lengths(ApprovalRule, {"name": name})
        out["name"] = name
    if "measure" in values:
        if values["measure"] not in ApprovalRule.Measure.values:
            errors.append(FieldError("measure", _("Choose one of %(c)s.") % {"c": ", ".join(ApprovalRule.Measure.values)},
                                     "invalid_choice"))
        else:
            out["measure"] = values["measure"]
    if "threshold_percent" in values or creating:
        if values.get("threshold_percent") in (None, ""):
            errors.append(FieldError("threshold_percent", _("This field is required."), "required"))
        else:
            value = _decimal(values, "threshold_percent", errors, minimum=Decimal(0), maximum=Decimal(100))
            if value is not None:
                out["threshold_percent"] = value
    if "approver_roles" in values or creating:
        roles = values.get("approver_roles")
        if not isinstance(roles, list | tuple) or not roles:
            errors.append(FieldError("approver_roles", _("Name at least one role that may approve: %(roles)s.")
                                     % {"roles": ", ".join(APPROVER_ROLES)}, "required"))
        elif any(r not in APPROVER_ROLES for r in roles):
            errors.append(FieldError("approver_roles", _("Approvers can have the roles %(roles)s.")
                                     % {"roles": ", ".join(APPROVER_ROLES)}, "invalid_choice"))
        else:
            out["approver_roles"] = list(dict.fromkeys(str(r) for r in roles))
    if "level" in values:
        value = _int(values, "level", errors, minimum=1, maximum=9)
        if value is not None:
            out["level"] = value
    if "active" in values:
        if not isinstance(values["active"], bool):
            errors.append(FieldError("active", _("Give true or false."), "invalid"))
        else:
            out["active"] = values["active"]
    if errors:
        raise ValidationFailed(errors)
    return out


@transaction.atomic
def approval_rule_create(*, actor, **values) -> ApprovalRule:
    """A new rule ("a discount over N % needs one of these roles"), evaluated at the next submit."""
    require_admin(actor)
    rule = ApprovalRule(**_clean_rule(values, creating=True))
    rule.save()
    audit.record(actor=actor, action=audit.Action.CREATE, instance=rule)
    return rule


@transaction.atomic
def approval_rule_update(*, actor, rule, **values) -> ApprovalRule:
    """Change a rule; quotes already submitted keep the approvals they were asked for."""
    require_admin(actor)
    rule = ApprovalRule.objects.select_for_update().get(pk=rule.pk)
    cleaned = _clean_rule(values, creating=False)
    before = audit.snapshot(rule)
    for name, value in cleaned.items():
        setattr(rule, name, value)
    rule.save()
    audit.record(actor=actor, action=audit.Action.UPDATE, instance=rule, before=before)
    return rule


@transaction.atomic
def approval_rule_delete(*, actor, rule) -> None:
    """Delete a rule; approvals asked under it keep its name and reason."""
    require_admin(actor)
    audit.record(actor=actor, action=audit.Action.DELETE, instance=rule, changes=audit.snapshot(rule))
    rule.delete()
