"""Reads for web forms: the configuration pages (admins and managers) and the public endpoint."""
from __future__ import annotations

from django.db.models import Count, QuerySet
from django.db.models.functions import Lower
from django.utils.translation import gettext as _

from l2c.core.errors import NotFound
from l2c.core.validation import as_id, normalise_email

from ..choices import LeadStatus
from ..dedupe.keys import email_key
from ..models import Lead, Touch, WebForm

OPEN_EXCLUDED = (LeadStatus.CONVERTED, LeadStatus.DISQUALIFIED)


def webform_list(*, user) -> QuerySet:
    """Forms with `submissions` (their touches: accepted submissions, robots' excluded)."""
    return (WebForm.objects.restrict(user).select_related("campaign", "owner")
            .annotate(submissions=Count("touches")).order_by("name", "id"))


def webform_submission_count(*, form: WebForm) -> int:
    return Touch.objects.filter(form=form).count()


def webform_get(*, user, pk) -> WebForm:
    form = (WebForm.objects.restrict(user).select_related("campaign", "owner", "created_by").filter(pk=pk).first()
            if as_id(pk) is not None else None)
    if form is None:
        raise NotFound(_("No web form with id %(id)s.") % {"id": pk})
    return form


def webform_public(*, key: str) -> WebForm:
    """The active form behind a public key (no user: the endpoint is public). Unknown or inactive: NotFound."""
    form = None
    if key and len(key) <= 40:
        form = WebForm.objects.filter(key=key, is_active=True).select_related("campaign", "owner").first()
    if form is None:
        raise NotFound(_("No such form."))
    return form


def webform_recent_touches(*, user, form: WebForm, limit: int = 20) -> list:
    """The latest submissions of `form` whose lead the user may see."""
    return list(Touch.objects.filter(form=form, lead__in=Lead.objects.restrict(user).values("pk"))
                .select_related("lead").order_by("-occurred_at", "-id")[:limit])


def email_variants(email: str) -> set[str]:
    """Lower-cased spellings of an address that share its email_key: as typed, and the key itself (for
    gmail: without dots and +tags). Looked up through the index on LOWER(email); the key is compared
    afterwards. (A gmail address stored with dots or a +tag is found by the duplicate finder instead.)"""
    email = normalise_email(email).lower()
    key = email_key(email)
    return {v for v in (email, key) if v}


def _by_lower_email(variants: set[str]):
    return Lead.objects.alias(email_lower=Lower("email")).filter(email_lower__in=variants, merged_into__isnull=True)


def open_lead_for_email(email: str) -> Lead | None:
    """The most recent open lead (not converted, not disqualified, not merged) with the same email_key."""
    key = email_key(email)
    if not key:
        return None
    candidates = (_by_lower_email(email_variants(email)).exclude(status__in=OPEN_EXCLUDED)
                  .order_by("-created_at", "-id")[:20])
    return next((lead for lead in candidates if email_key(lead.email) == key), None)


def leads_by_email_key(keys: set[str], emails: set[str]) -> dict[str, Lead]:
    """Existing (not merged) leads for a batch: email_key → the most recent lead with that key."""
    variants = set()
    for email in emails:
        variants |= email_variants(email)
    found: dict[str, Lead] = {}
    if not variants:
        return found
    rows = _by_lower_email(variants).order_by("created_at", "id").only("id", "email", "status", "owner_id")
    for lead in rows.iterator(chunk_size=2000):
        key = email_key(lead.email)
        if key in keys:
            found[key] = lead  # ascending order: the most recent wins
    return found
