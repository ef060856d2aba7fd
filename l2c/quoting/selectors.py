"""Reads of quotes and approvals, already scoped to what the user may see.

Quotes: a rep sees the quotes they own, a manager those of their team, an admin all; finance reads every
quote (it approves the higher discount levels and bills what is signed) but changes none. A quote the
user may not see is a 404, exactly like a missing one.
"""
from __future__ import annotations

import datetime as dt

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils.translation import gettext as _

from l2c.core import listing
from l2c.core.errors import NotFound, ValidationFailed
from l2c.core.validation import as_id
from l2c.core.visibility import Role

from .models import ApprovalRule, ApprovalStatus, Quote, QuoteApproval, QuoteStatus

QUOTE_ORDERING = {
    "created_at": ("created_at",),
    "updated_at": ("updated_at",),
    "number": ("number", "version"),
    "quote_date": ("quote_date",),
    "valid_until": ("valid_until",),
    "net_total": ("net_total",),
    "gross_total": ("gross_total",),
    "status": ("status",),
    "account": ("account__name",),
    "owner": ("owner__username",),
}
QUOTE_SEARCH = ("number", "title", "account__name", "opportunity__name", "contact__last_name")


def visible_quotes(user) -> QuerySet:
    """Every quote `user` may read."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return Quote.objects.none()
    if getattr(user, "role", None) == Role.FINANCE:
        return Quote.objects.all()
    return Quote.objects.restrict(user)


def _id(value, field: str) -> int | None:
    if value in (None, ""):
        return None
    pk = getattr(value, "pk", value)
    if as_id(pk) is None:
        raise ValidationFailed.single(field, _("Give a numeric id."), "invalid")
    return as_id(pk)


def quote_list(user, *, status: str | None = None, opportunity=None, owner=None, account=None,
               q: str | None = None, primary: bool | None = None, latest: bool | None = None,
               ordering: str | None = None) -> QuerySet:
    """The quotes `user` may see, filtered, searched and ordered. `latest`: only the newest version of
    each quote (no superseded ones)."""
    qs = visible_quotes(user).select_related("account", "opportunity", "owner", "contact", "price_book")
    if status:
        statuses = [s.strip() for s in str(status).split(",") if s.strip()]
        unknown = [s for s in statuses if s not in QuoteStatus.values]
        if unknown:
            raise ValidationFailed.single("status", _("Choose among %(c)s.") % {"c": ", ".join(QuoteStatus.values)},
                                          "invalid_choice")
        qs = qs.filter(status__in=statuses)
    for name, value in (("opportunity", opportunity), ("owner", owner), ("account", account)):
        if (pk := _id(value, name)) is not None:
            qs = qs.filter(**{f"{name}_id": pk})
    if primary is not None:
        qs = qs.filter(is_primary=primary)
    if latest:
        qs = qs.exclude(status=QuoteStatus.SUPERSEDED)
    qs = listing.search(qs, q, QUOTE_SEARCH)
    return listing.order(qs, ordering, QUOTE_ORDERING, "-created_at")


def quote_get(user, pk) -> Quote:
    """One quote `user` may see (NotFound otherwise), with its account, opportunity and owner."""
    quote = None
    if as_id(getattr(pk, "pk", pk)) is not None:
        quote = (visible_quotes(user)
                 .select_related("account", "opportunity", "owner", "owner__team", "contact", "price_book")
                 .filter(pk=as_id(getattr(pk, "pk", pk))).first())
    if quote is None:
        raise NotFound(_("No quote with id %(id)s.") % {"id": getattr(pk, "pk", pk)})
    return quote


def quote_lines(quote: Quote) -> QuerySet:
    return quote.lines.select_related("product").order_by("position", "id")


def quote_versions(user, quote: Quote) -> QuerySet:
    """Every version of the quote (same number) that `user` may see, newest first."""
    return visible_quotes(user).filter(number=quote.number).select_related("account", "opportunity", "owner") \
        .order_by("-version")


def quote_approvals(quote: Quote) -> QuerySet:
    return quote.approvals.select_related("requested_by", "decided_by").order_by("level", "id")


def current_level(quote: Quote) -> int | None:
    """The lowest level still pending on a quote awaiting approval (the one being decided now)."""
    levels = quote.approvals.filter(status=ApprovalStatus.PENDING).values_list("level", flat=True)
    return min(levels, default=None)


def approvals_inbox(user) -> QuerySet:
    """Pending approvals `user` may decide now: their level is the quote's current one, their role is
    among the approver roles, the quote is not theirs, and a manager decides only for their team."""
    from .services.approvals import may_decide

    lower_pending = QuoteApproval.objects.filter(quote=OuterRef("quote"), status=ApprovalStatus.PENDING,
                                                 level__lt=OuterRef("level"))
    candidates = (QuoteApproval.objects
                  .filter(status=ApprovalStatus.PENDING, quote__status=QuoteStatus.PENDING_APPROVAL,
                          quote__in=visible_quotes(user))
                  .exclude(Exists(lower_pending))
                  .select_related("quote", "quote__owner"))
    allowed = [a.pk for a in candidates if may_decide(user, a)]
    return (QuoteApproval.objects.filter(pk__in=allowed)
            .select_related("quote", "quote__account", "quote__owner", "quote__opportunity", "requested_by")
            .order_by("requested_at", "id"))


def approvals_decided(user, *, days: int = 30) -> QuerySet:
    """Approvals `user` decided in the last `days` days, newest first (the inbox's "decided" section)."""
    from django.utils import timezone

    since = timezone.now() - dt.timedelta(days=days)
    return (QuoteApproval.objects.filter(decided_by=user, decided_at__gte=since)
            .filter(Q(status=ApprovalStatus.APPROVED) | Q(status=ApprovalStatus.REJECTED))
            .select_related("quote", "quote__account", "quote__owner").order_by("-decided_at", "-id"))


# --- approval rules -----------------------------------------------------------------------------------

def approval_rule_list(*, active: bool | None = None) -> QuerySet:
    qs = ApprovalRule.objects.order_by("level", "threshold_percent", "id")
    return qs if active is None else qs.filter(active=active)


def approval_rule_get(pk) -> ApprovalRule:
    rule = ApprovalRule.objects.filter(pk=as_id(pk)).first() if as_id(pk) is not None else None
    if rule is None:
        raise NotFound(_("No approval rule with id %(id)s.") % {"id": pk})
    return rule
