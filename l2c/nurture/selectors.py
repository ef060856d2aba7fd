"""Nurture reads: templates (every signed-in user), the suppression list, and whether a lead may be e-mailed."""
from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db.models import Prefetch, Q, QuerySet
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from l2c.core.errors import NotFound, PermissionDenied

from .models import EmailTemplate, EmailTemplateVersion, NurtureSettings, Suppression
from .services import can_view, normalise_email


def _require_view(user) -> None:
    if not can_view(user):
        raise PermissionDenied(_("Sign in to see e-mail templates."))


def template_list(*, user, q: str = "") -> QuerySet[EmailTemplate]:
    _require_view(user)
    qs = EmailTemplate.objects.prefetch_related(Prefetch("versions", EmailTemplateVersion.objects.order_by("language")))
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(description__icontains=q))
    return qs.order_by("name", "id")


def template_get(*, user, pk) -> EmailTemplate:
    _require_view(user)
    template = template_list(user=user).filter(pk=pk).first()
    if template is None:
        raise NotFound(_("No e-mail template with id %(id)s.") % {"id": pk})
    return template


def suppression_list(*, user, q: str = "") -> QuerySet[Suppression]:
    _require_view(user)
    qs = Suppression.objects.select_related("created_by")
    if q:
        qs = qs.filter(email__icontains=q.strip().lower())
    return qs.order_by("-created_at", "-id")


def suppression_get(*, user, pk) -> Suppression:
    _require_view(user)
    found = Suppression.objects.filter(pk=pk).first()
    if found is None:
        raise NotFound(_("No suppressed address with id %(id)s.") % {"id": pk})
    return found


def suppression_for(email: str) -> Suppression | None:
    email = normalise_email(email)
    return Suppression.objects.filter(email=email).first() if email else None


def is_suppressed(email: str) -> bool:
    email = normalise_email(email)
    return bool(email) and Suppression.objects.filter(email=email).exists()


def suppressed_among(emails: Iterable[str]) -> set[str]:
    """The addresses of `emails` (lower-cased) that are suppressed, in one query per 1,000."""
    wanted = sorted({normalise_email(e) for e in emails if normalise_email(e)})
    found: set[str] = set()
    for start in range(0, len(wanted), 1000):
        found.update(Suppression.objects.filter(email__in=wanted[start:start + 1000]).values_list("email", flat=True))
    return found


def _day(value) -> str:
    return formats.date_format(timezone.localtime(value), "Y-m-d") if value else ""


def can_email(lead) -> tuple[bool, str]:
    """Whether nurture may e-mail this lead, and why (a translated sentence either way).

    No when the address is empty or invalid or suppressed, or when there is no lawful basis: the lead's
    recorded consent (basis "consent" with its time), or legitimate interest switched on by an admin."""
    email = normalise_email(lead.email)
    if not email:
        return False, _("The lead has no e-mail address.")
    try:
        validate_email(email)
    except DjangoValidationError:
        return False, _("%(email)s is not a valid e-mail address.") % {"email": lead.email}
    suppression = suppression_for(email)
    if suppression is not None:
        return False, _("The address is on the suppression list since %(date)s (%(reason)s).") % {
            "date": _day(suppression.created_at), "reason": suppression.get_reason_display()}
    if lead.consent_basis == "consent" and lead.consent_at:
        return True, _("Consent given on %(date)s%(source)s.") % {
            "date": _day(lead.consent_at), "source": f" ({lead.consent_source})" if lead.consent_source else ""}
    settings = NurtureSettings.get()
    if settings.legitimate_interest_allowed:
        return True, _("Legitimate interest, allowed in the nurture settings since %(date)s.") % {
            "date": _day(settings.changed_at)}
    if lead.consent_basis == "consent":
        return False, _("No lawful basis: the lead's consent has no date recorded, and legitimate interest is not "
                        "allowed in the nurture settings.")
    return False, _("No lawful basis: the lead has no recorded consent, and legitimate interest is not allowed in "
                    "the nurture settings.")
