"""Portal links: the customer's way to one quote version, without an account.

The token (`secrets.token_urlsafe(32)`, 256 bits) is shown once — in the e-mail, and to the sender —
and never stored: the link keeps its SHA-256 (to find it) and its first characters (to recognise it
in the UI). A link works until it expires (settings.L2C_PORTAL_LINK_DAYS), is revoked, has been used to
sign or decline, or its quote is superseded by a newer version.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from l2c.core import audit
from l2c.core.errors import FieldError, InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from l2c.core.validation import check_email

from .models import PortalLink, Quote, QuoteStatus

PREFIX_LENGTH = 8
MAX_DAYS = 365


class LinkState:
    OK = "ok"
    EXPIRED = "expired"
    REVOKED = "revoked"
    USED = "used"
    SUPERSEDED = "superseded"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def portal_url(token: str) -> str:
    return f"{settings.L2C_BASE_URL}/portal/q/{token}/"


def _require_sales_on(actor, quote: Quote) -> Quote:
    """The quote, if the actor is a sales user who may see it (a hidden quote is a 404)."""
    if actor is None:
        return quote
    if not getattr(actor, "is_sales", False):
        raise PermissionDenied(_("Your role cannot send quotes."))
    if not Quote.objects.restrict(actor).filter(pk=quote.pk).exists():
        raise NotFound(_("No quote with id %(id)s.") % {"id": quote.pk})
    return quote


@transaction.atomic
def link_create(*, actor, quote: Quote, email: str, days: int | None = None) -> tuple[PortalLink, str]:
    """A new link to `quote` for `email`; returns (link, token). The token is not kept anywhere."""
    _require_sales_on(actor, quote)
    email = (email or "").strip()
    errors = check_email({"email": email})
    if days is None:
        days = settings.L2C_PORTAL_LINK_DAYS
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        errors.append(FieldError("days", _("Enter a whole number of days from 1 to %(max)d.") % {"max": MAX_DAYS},
                                 "out_of_range"))
    if errors:
        raise ValidationFailed(errors)
    token = secrets.token_urlsafe(32)
    link = PortalLink.objects.create(
        token_hash=token_hash(token), token_prefix=token[:PREFIX_LENGTH], quote=quote, email=email,
        created_by=actor if getattr(actor, "pk", None) else None,
        expires_at=timezone.now() + dt.timedelta(days=days),
    )
    audit.record(actor=actor, action=audit.Action.CREATE, instance=link)
    return link, token


def link_for_token(token: str) -> PortalLink | None:
    """The link a token opens, whatever its state (check `link_state`); None for an unknown token."""
    if not isinstance(token, str) or not token or len(token) > 200:
        return None
    return PortalLink.objects.select_related("quote").filter(token_hash=token_hash(token)).first()


def is_superseded(quote: Quote) -> bool:
    if quote.status == QuoteStatus.SUPERSEDED:
        return True
    return Quote.objects.filter(number=quote.number, version__gt=quote.version).exists()


def link_state(link: PortalLink, *, now: dt.datetime | None = None) -> str:
    """"ok", or why the link no longer works: "revoked", "used", "superseded" or "expired"."""
    now = now or timezone.now()
    if link.revoked_at is not None:
        return LinkState.REVOKED
    if link.used_at is not None:
        return LinkState.USED
    if is_superseded(link.quote):
        return LinkState.SUPERSEDED
    if link.expires_at <= now:
        return LinkState.EXPIRED
    return LinkState.OK


def link_state_label(state: str) -> str:
    return {
        LinkState.OK: _("active"), LinkState.EXPIRED: _("expired"), LinkState.REVOKED: _("revoked"),
        LinkState.USED: _("used"), LinkState.SUPERSEDED: _("superseded by a newer version"),
    }.get(state, state)


def links_of_quote(quote: Quote):
    return PortalLink.objects.filter(quote=quote).select_related("created_by", "quote").order_by("-created_at", "-id")


@transaction.atomic
def link_revoke(*, actor, link: PortalLink) -> PortalLink:
    """Stop a link from working (e.g. sent to the wrong address)."""
    _require_sales_on(actor, link.quote)
    link = PortalLink.objects.select_for_update().get(pk=link.pk)
    if link.revoked_at is not None:
        raise InvalidTransition(_("This link is already revoked."), code="already_revoked")
    link.revoked_at = timezone.now()
    link.save(update_fields=["revoked_at"])
    audit.record(actor=actor, action=audit.Action.ACCESS, instance=link,
                 changes={"revoked_at": [None, audit._normalise(link.revoked_at)]})
    return link
