"""Lead conversion: a qualified lead becomes an account (new or matched), a contact and an opportunity.

It lives in pipeline because it creates an opportunity and `leads` may not import `pipeline`.
"""
from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from l2c.core import audit
from l2c.core.errors import FieldError, InvalidTransition, ValidationFailed
from l2c.core.validation import FREE_MAIL_DOMAINS, as_id, email_domain

from ..models import Activity, Opportunity
from ._common import require_sales, visible_or_404
from .opportunities import opportunity_create


@dataclass
class Conversion:
    """What a conversion produced."""

    lead: object
    account: object
    contact: object
    opportunity: Opportunity | None
    account_created: bool
    contact_created: bool
    activities_moved: int


def _company_domain(lead) -> str:
    for candidate in (lead.email, lead.website):
        host = email_domain(candidate or "")
        if host and "." in host and host not in FREE_MAIL_DOMAINS:
            return host[:200]
    return ""


def matching_accounts(*, lead, user, limit: int = 5):
    """Existing accounts the lead's company may be (same name, else same e-mail domain) that `user` sees."""
    from l2c.customers.models import Account

    qs = Account.objects.restrict(user)
    found = []
    if lead.company.strip():
        found += list(qs.filter(name__iexact=lead.company.strip()).order_by("id")[:limit])
    domain = _company_domain(lead)
    if domain and len(found) < limit:
        found += [a for a in qs.filter(domain=domain).order_by("id")[:limit] if a not in found]
    return found[:limit]


def _remap(exc: ValidationFailed, mapping: dict[str, str], prefix: str = "") -> ValidationFailed:
    return ValidationFailed([FieldError(mapping.get(e.field, f"{prefix}{e.field}" if prefix else e.field),
                                        e.message, e.code) for e in exc.errors])


@transaction.atomic
def lead_convert(*, lead, actor, account=None, create_account_name: str | None = None,
                 opportunity_name: str | None = None, amount=None, currency: str | None = None,
                 expected_close_date=None, create_opportunity: bool = True) -> Conversion:
    """Convert a qualified lead, all or nothing.

    The account is the one chosen (`account`), else a new one named `create_account_name`, else
    the existing account matching the company name or e-mail domain, else a new one from the
    lead's company fields. The opportunity keeps the lead, its source and campaign; the lead's
    activities are attached to the new contact and opportunity (and stay on the lead).
    """
    from l2c.customers import services as customer_services
    from l2c.customers.models import Account, CompanySize, Contact
    from l2c.leads import services as lead_services
    from l2c.leads.choices import LeadStatus
    from l2c.leads.models import Lead

    require_sales(actor)
    visible_or_404(Lead, lead.pk, actor, _("lead"))
    lead = Lead.objects.select_for_update().get(pk=lead.pk)
    if lead.status != LeadStatus.QUALIFIED:
        message = (_("This lead was converted already.") if lead.status == LeadStatus.CONVERTED
                   else _("Only a qualified lead can be converted; this lead is %(status)s.")
                   % {"status": lead.get_status_display()})
        raise InvalidTransition(message, field="status")
    owner = lead.owner or actor

    # the account
    account_created = False
    if account not in (None, ""):
        pk = getattr(account, "pk", account)
        chosen = Account.objects.restrict(actor).filter(pk=pk).first() if as_id(pk) is not None else None
        if chosen is None:
            raise ValidationFailed.single("account_id", _("No account with id %(id)s.") % {"id": pk}, "not_found")
        account = chosen
    else:
        account = None
        if not (create_account_name or "").strip():
            account = customer_services.account_find_match(name=lead.company, domain=_company_domain(lead), user=actor)
        if account is None:
            size = lead.company_size if lead.company_size in CompanySize.values else ""
            try:
                account = customer_services.account_create(
                    actor=actor, name=(create_account_name or "").strip() or lead.company.strip() or lead.full_name,
                    website=lead.website, domain=_company_domain(lead), industry=lead.industry, size=size,
                    phone="", city=lead.city, country=lead.country, owner=owner)
            except ValidationFailed as exc:
                raise _remap(exc, {"name": "create_account_name"}, prefix="account.") from exc
            account_created = True

    # the contact: reuse the person if the account already has them (same e-mail)
    contact = None
    contact_created = False
    if lead.email and not account_created:
        contact = Contact.objects.filter(account=account, email__iexact=lead.email).order_by("id").first()
    if contact is None:
        try:
            contact = customer_services.contact_create(
                actor=actor, account=account, last_name=lead.last_name, first_name=lead.first_name,
                title=lead.title, email=lead.email, phone=lead.phone, country=lead.country, owner=owner)
        except ValidationFailed as exc:
            raise _remap(exc, {}, prefix="contact.") from exc
        contact_created = True

    # the opportunity, keeping where the deal came from
    opportunity = None
    if create_opportunity:
        default_name = lead.company.strip() or account.name
        fields = {
            "contact": contact, "owner": owner, "amount": amount, "expected_close_date": expected_close_date,
            "currency": (currency or "").strip().upper() or settings.L2C_COMPANY_CURRENCY,
            "lead": lead, "source": lead.source, "campaign": lead.campaign,
        }
        try:
            opportunity = opportunity_create(actor=actor, name=(opportunity_name or "").strip() or default_name,
                                             account=account, **fields)
        except ValidationFailed as exc:
            raise _remap(exc, {"name": "opportunity_name"}) from exc

    # the lead's activities follow the person and the deal (and keep their lead link)
    moved = []
    for activity in Activity.objects.select_for_update().filter(lead=lead):
        before = audit.snapshot(activity)
        if activity.contact_id is None:
            activity.contact = contact
        if activity.opportunity_id is None and opportunity is not None:
            activity.opportunity = opportunity
        if activity.account_id is None:
            activity.account = account
        activity.save(update_fields=["contact", "opportunity", "account", "updated_at"])
        moved.append(audit.PendingEvent(action=audit.Action.UPDATE, object_type=audit.object_type_of(activity),
                                        object_id=str(activity.pk), object_repr=str(activity),
                                        changes=audit.diff(before, audit.snapshot(activity))))
    audit.record_many(moved, actor=actor)

    lead = lead_services.lead_mark_converted(lead=lead, account=account, contact=contact,
                                             opportunity_id=opportunity.pk if opportunity else None, actor=actor)
    return Conversion(lead=lead, account=account, contact=contact, opportunity=opportunity,
                      account_created=account_created, contact_created=contact_created, activities_moved=len(moved))
