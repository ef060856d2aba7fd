"""Replies to nurture e-mails: matched to our message by the Message-IDs in In-Reply-To and References.

`record_reply` takes the raw RFC 822 message (from the inbound-mail API route, fed by the mail server or a
mailbox poller); `mark_replied` is the rep's "they replied" button. Both set the message's replied_at (once),
add an `email_reply` touch to the lead's timeline, and exit the enrolment when its sequence exits on reply.
"""
from __future__ import annotations

import datetime as dt
import re
from email import policy
from email.parser import BytesParser

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from l2c.core import audit
from l2c.core.errors import NotFound, ValidationFailed

from ..choices import ExitReason
from ..models import EmailMessage, Enrollment
from .runner import enrollment_exit

MAX_RAW = 25 * 1024 * 1024
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")

__all__ = ["referenced_ids", "record_reply", "mark_replied"]


def referenced_ids(raw: bytes) -> tuple[list[str], dict]:
    """The Message-IDs a message answers (In-Reply-To first, then References from the newest), and a few
    of its headers for the timeline."""
    if not isinstance(raw, bytes | bytearray) or not raw.strip():
        raise ValidationFailed.single("body", _("Send the raw e-mail (message/rfc822) as the request body."),
                                      "required")
    if len(raw) > MAX_RAW:
        raise ValidationFailed.single("body", _("The e-mail is larger than %(limit)d MB.")
                                      % {"limit": MAX_RAW // (1024 * 1024)}, "too_large")
    parsed = BytesParser(policy=policy.default).parsebytes(bytes(raw), headersonly=True)
    ids: list[str] = []
    for header in ("In-Reply-To", "References"):
        found = _MESSAGE_ID.findall(str(parsed.get(header, "") or ""))
        if header == "References":
            found.reverse()  # the last reference is the message answered
        ids += [i for i in found if i not in ids]
    details = {"from": str(parsed.get("From", "") or "")[:300], "subject": str(parsed.get("Subject", "") or "")[:250],
               "message_id": str(parsed.get("Message-ID", "") or "")[:250]}
    return ids, details


def _record(message: EmailMessage, *, now: dt.datetime, details: dict, actor=None) -> bool:
    """Inside a transaction, the message locked: True when this is its first reply."""
    from l2c.leads.services import touch_record

    first = message.replied_at is None
    if first:
        message.replied_at = now
        message.save(update_fields=["replied_at"])
        audit.record(actor=actor, action=audit.Action.UPDATE, instance=message,
                     changes={"replied_at": [None, now]}, actor_label=None if actor else "inbound e-mail")
    if message.lead_id is not None:
        touch_record(lead=message.lead, touch={"kind": "email_reply", "occurred_at": now,
                                               "data": {"message": message.token, **details}})
    if message.enrollment_id is not None:
        enrollment = (Enrollment.objects.select_for_update(of=("self",)).select_related("sequence")
                      .filter(pk=message.enrollment_id, status="active").first())
        if enrollment is not None and enrollment.sequence.exit_on_reply:
            enrollment_exit(enrollment, reason=ExitReason.REPLIED, now=now, actor=actor)
    return first


def record_reply(raw: bytes, *, now: dt.datetime | None = None) -> EmailMessage | None:
    """Record a reply from its raw bytes; the message it answers, or None when it answers none of ours."""
    ids, details = referenced_ids(raw)
    if not ids:
        return None
    now = now or timezone.now()
    with transaction.atomic():
        found = {m.message_id: m for m in EmailMessage.objects.select_for_update(of=("self",)).select_related("lead")
                 .filter(message_id__in=ids)}
        message = next((found[i] for i in ids if i in found), None)
        if message is None:
            return None
        _record(message, now=now, details={"from": details["from"], "subject": details["subject"],
                                           "reply_message_id": details["message_id"]})
    return message


def mark_replied(*, message, actor) -> EmailMessage:
    """A user says the lead answered this message (e.g. by phone or from another address). The user must
    be able to see the lead."""
    from l2c.leads.models import Lead

    pk = getattr(message, "pk", message)
    with transaction.atomic():
        found = EmailMessage.objects.select_for_update(of=("self",)).select_related("lead").filter(pk=pk).first()
        visible = found is not None and (
            found.lead_id is None and getattr(actor, "is_admin", False)
            or found.lead_id is not None and Lead.objects.restrict(actor).filter(pk=found.lead_id).exists())
        if not visible:
            raise NotFound(_("No e-mail message with id %(id)s.") % {"id": pk})
        _record(found, now=timezone.now(), details={"marked_by": getattr(actor, "username", "")}, actor=actor)
    return found
