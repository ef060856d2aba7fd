"""What the portal records when the customer opens a quote: the view, on the quote and on the link."""
from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from l2c.contracts.services import record_portal_event

# Reloads within this time count as one view in the audit trail (the link's last_viewed_at still moves).
VIEW_EVENT_INTERVAL = dt.timedelta(minutes=5)


@transaction.atomic
def record_view(*, link, ip: str | None, user_agent: str) -> None:
    """Mark the quote viewed (once), move the link's first/last viewed times, audit a "viewed" event."""
    from l2c.quoting.models import PortalLink
    from l2c.quoting.services import quotes as quote_services

    link = PortalLink.objects.select_for_update().select_related("quote").get(pk=link.pk)
    now = timezone.now()
    previous = link.last_viewed_at
    link.first_viewed_at = link.first_viewed_at or now
    link.last_viewed_at = now
    link.save(update_fields=["first_viewed_at", "last_viewed_at"])
    quote = quote_services.quote_mark_viewed(quote=link.quote)
    if previous is None or now - previous >= VIEW_EVENT_INTERVAL:
        record_portal_event(quote=quote, event="viewed", link=link, ip=ip, user_agent=user_agent,
                            actor_label=f"portal: {link.email}"[:150] if link.email else "portal")
