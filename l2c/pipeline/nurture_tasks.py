"""Tasks that nurture's sequences ask for (event `nurture.task_requested`): created here, through the
activity service, because nurture may not import the pipeline."""
from __future__ import annotations

import logging

from django.utils.dateparse import parse_datetime

from .choices import ActivityKind

log = logging.getLogger(__name__)


def on_task_requested(name: str, payload: dict) -> None:
    """A task on the lead, for its owner (unassigned when the lead has none), due when the step said."""
    from l2c.identity.models import User

    from .services import activity_create

    owner = User.objects.filter(pk=payload.get("owner_id"), is_active=True).first() if payload.get("owner_id") \
        else None
    activity_create(actor=None, kind=ActivityKind.TASK, subject=payload["subject"][:200],
                    body=payload.get("body", ""), due_at=parse_datetime(payload["due_at"]), owner=owner,
                    lead=payload["lead_id"])
