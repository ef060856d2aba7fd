"""POST /api/v1/inbound-email: a reply to a nurture e-mail, as the raw message (Content-Type
message/rfc822), from the mail server's pipe or a mailbox poller using an admin's API token.

The reply is matched to our message by In-Reply-To/References; the answer says whether it matched.
"""
from __future__ import annotations

from django.utils.translation import gettext as _
from ninja import Router, Schema

from l2c.core.errors import PermissionDenied, ValidationFailed

from ..services import is_admin
from .inbound import record_reply

router = Router(tags=["nurture"])

CONTENT_TYPES = ("message/rfc822", "text/plain", "application/octet-stream")


class InboundOut(Schema):
    matched: bool
    message_id: int | None = None  # our EmailMessage's id
    enrollment_id: int | None = None


@router.post("/inbound-email", response=InboundOut, openapi_extra={
    "requestBody": {"required": True, "content": {"message/rfc822": {"schema": {"type": "string",
                                                                                "format": "binary"}}}}})
def inbound_email(request):
    """Record a reply (admins' tokens only): sets the message's replied_at, adds an e-mail reply touch to the
    lead and exits the enrolment when its sequence exits on reply."""
    if not is_admin(request.auth):
        raise PermissionDenied(_("Only an admin's token may post inbound e-mail."))
    content_type = (request.content_type or "").lower()
    if content_type not in CONTENT_TYPES:
        raise ValidationFailed.single("Content-Type", _("Send the e-mail as message/rfc822 (got %(type)s).")
                                      % {"type": content_type or "none"}, "unsupported_media_type")
    message = record_reply(request.body)
    if message is None:
        return {"matched": False}
    return {"matched": True, "message_id": message.pk, "enrollment_id": message.enrollment_id}
