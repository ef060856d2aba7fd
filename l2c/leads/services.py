"""Writes for leads and campaigns: create, edit, assign, status changes and the conversion mark.

Every function validates first (all field errors at once), changes rows in one transaction,
records the audit event and publishes the domain event after commit.
"""
from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_ipv46_address
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from l2c.core import audit, events
from l2c.core.errors import Conflict, FieldError, InvalidTransition, PermissionDenied, ValidationFailed
from l2c.core.validation import (
    check_amount,
    check_choice,
    check_country,
    check_email,
    check_max_lengths,
    check_owner,
    check_phone,
    check_required,
    is_iso_currency,
    normalise_email,
    raise_if_errors,
)
from l2c.customers.models import Account, CompanySize, Contact

from .choices import LEAD_TRANSITIONS, CampaignStatus, CampaignType, ConsentBasis, LeadSource, LeadStatus
from .models import Campaign, Lead

# Default for `owner` on create: the acting user (pass owner=None to leave the lead unassigned).
ACTOR = object()

LEAD_FIELDS = (
    "first_name", "last_name", "title", "email", "phone", "company", "website", "industry", "company_size",
    "city", "country", "source", "campaign", "utm_source", "utm_medium", "utm_campaign", "utm_term",
    "utm_content", "consent_basis", "consent_text", "consent_at", "consent_source", "consent_ip", "owner",
    "description",
)
CAMPAIGN_FIELDS = ("name", "type", "status", "start_date", "end_date", "currency", "budget", "cost",
                   "description", "owner")
_TEXT_LEAD_FIELDS = {f for f in LEAD_FIELDS if f not in {"campaign", "owner", "consent_at", "consent_ip"}}


def require_sales(actor) -> None:
    if actor is not None and not getattr(actor, "is_sales", False):
        raise PermissionDenied(_("Your role does not work with leads."))


def require_campaign_manager(actor) -> None:
    if actor is not None and not (getattr(actor, "is_admin", False) or getattr(actor, "is_manager", False)):
        raise PermissionDenied(_("Only managers and admins can create or change campaigns."))


def _reject_unknown(fields: dict, allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        raise ValidationFailed([FieldError(f, _("This field cannot be set here."), "unknown_field") for f in unknown])


def _clean_lead(values: dict) -> dict:
    for name in _TEXT_LEAD_FIELDS & set(values):
        values[name] = (values[name] or "").strip() if name not in {"description", "consent_text"} else (values[name] or "")
    if values.get("country"):
        values["country"] = values["country"].upper()
    if "email" in values:
        values["email"] = normalise_email(values["email"])
    if values.get("consent_ip") == "":
        values["consent_ip"] = None
    return values


def _lead_errors(values: dict, actor, *, creating: bool) -> list[FieldError]:
    errors = check_max_lengths(Lead, values)
    if creating or "last_name" in values:
        errors += check_required(values, "last_name")
    errors += check_email(values)
    errors += check_country(values)
    errors += check_phone(values, "phone", values.get("country") or None)
    errors += check_choice(values, "source", LeadSource)
    errors += check_choice(values, "consent_basis", ConsentBasis, blank=True)
    errors += check_choice(values, "company_size", CompanySize, blank=True)
    if values.get("consent_ip"):
        try:
            validate_ipv46_address(values["consent_ip"])
        except DjangoValidationError:
            errors.append(FieldError("consent_ip", _("Not an IPv4 or IPv6 address."), "invalid_ip"))
    if values.get("consent_at") and timezone.is_naive(values["consent_at"]):
        values["consent_at"] = timezone.make_aware(values["consent_at"])
    if "owner" in values:
        errors += check_owner(values["owner"], actor)
    return errors


@transaction.atomic
def lead_create(*, actor, last_name: str, first_name: str = "", owner=ACTOR, **fields) -> Lead:
    """Create a lead in status `new`. Other fields: see LEAD_FIELDS. `owner` defaults to the actor."""
    require_sales(actor)
    _reject_unknown(fields, LEAD_FIELDS)
    values = _clean_lead({**fields, "last_name": last_name, "first_name": first_name,
                          "owner": actor if owner is ACTOR else owner})
    if values.get("source") in (None, ""):
        values["source"] = LeadSource.MANUAL
    if values.get("consent_basis") is None:
        values["consent_basis"] = ""
    errors = _lead_errors(values, actor, creating=True)
    raise_if_errors(errors)
    if values.get("consent_basis") == ConsentBasis.CONSENT and not values.get("consent_at"):
        values["consent_at"] = timezone.now()
    lead = Lead.objects.create(status=LeadStatus.NEW, status_changed_at=timezone.now(), **values)
    audit.record(actor=actor, action=audit.Action.CREATE, instance=lead)
    events.publish("lead.created", {
        "lead_id": lead.pk, "source": lead.source, "campaign_id": lead.campaign_id, "owner_id": lead.owner_id,
        "actor_id": getattr(actor, "pk", None),
    })
    return lead


def _lock(lead: Lead) -> Lead:
    return Lead.objects.select_for_update().get(pk=lead.pk)


@transaction.atomic
def lead_update(*, lead: Lead, actor, **fields) -> Lead:
    """Edit a lead's fields (not its status: that is `lead_change_status`). Converted leads are final."""
    require_sales(actor)
    _reject_unknown(fields, LEAD_FIELDS)
    values = _clean_lead(dict(fields))
    if "source" in values and values["source"] in (None, ""):
        values["source"] = LeadSource.MANUAL
    errors = _lead_errors(values, actor, creating=False)
    raise_if_errors(errors)
    lead = _lock(lead)
    if lead.status == LeadStatus.CONVERTED:
        raise Conflict(_("A converted lead can no longer be edited; edit its account and contact instead."),
                       code="lead_converted")
    before = audit.snapshot(lead)
    old_owner = lead.owner_id
    for name, value in values.items():
        setattr(lead, name, value)
    lead.save()
    audit.record(actor=actor, action=audit.Action.UPDATE, instance=lead, before=before)
    if lead.owner_id != old_owner:
        _publish_assigned(lead, old_owner, actor)
    return lead


def _publish_assigned(lead: Lead, old_owner_id, actor) -> None:
    events.publish("lead.assigned", {"lead_id": lead.pk, "from_owner_id": old_owner_id, "owner_id": lead.owner_id,
                                     "actor_id": getattr(actor, "pk", None)})


@transaction.atomic
def lead_assign(*, lead: Lead, owner, actor) -> Lead:
    """Give the lead to `owner` (None: back to the unassigned queue)."""
    require_sales(actor)
    errors = check_owner(owner, actor)
    raise_if_errors(errors)
    lead = _lock(lead)
    if lead.status == LeadStatus.CONVERTED:
        raise Conflict(_("A converted lead can no longer be reassigned."), code="lead_converted")
    old_owner = lead.owner_id
    new_owner = getattr(owner, "pk", None)
    if old_owner == new_owner:
        return lead
    lead.owner = owner
    lead.save(update_fields=["owner", "updated_at"])
    audit.record(actor=actor, action=audit.Action.UPDATE, instance=lead, changes={"owner": [old_owner, new_owner]})
    _publish_assigned(lead, old_owner, actor)
    return lead


@transaction.atomic
def lead_change_status(*, lead: Lead, status: str, actor, reason: str = "") -> Lead:
    """Move a lead along LEAD_TRANSITIONS. Disqualifying needs a reason; converting is
    `lead_mark_converted`'s job (called by the conversion in pipeline)."""
    require_sales(actor)
    reason = (reason or "").strip()
    if status not in LeadStatus.values:
        raise ValidationFailed.single(
            "status", _("Unknown status %(value)r; choose one of %(allowed)s.")
            % {"value": status, "allowed": ", ".join(LeadStatus.values)}, "invalid_choice")
    lead = _lock(lead)
    current = lead.status
    if status == LeadStatus.CONVERTED:
        raise InvalidTransition(
            _("A lead becomes converted only by converting it (POST /leads/{id}/convert), not by a status change."),
            field="status")
    if status not in LEAD_TRANSITIONS.get(current, set()):
        raise InvalidTransition(
            _("Cannot change a lead from %(from)s to %(to)s.") % {"from": current, "to": status}, field="status")
    if status == LeadStatus.DISQUALIFIED and not reason:
        raise ValidationFailed.single("reason", _("Say why the lead is disqualified."), "required")
    limit = Lead._meta.get_field("disqualified_reason").max_length
    if len(reason) > limit:
        raise ValidationFailed.single("reason", _("At most %(limit)d characters.") % {"limit": limit}, "max_length")
    changes = {"status": [current, status]}
    new_reason = reason if status == LeadStatus.DISQUALIFIED else ""
    if new_reason != lead.disqualified_reason:
        changes["disqualified_reason"] = [lead.disqualified_reason, new_reason]
    lead.status = status
    lead.disqualified_reason = new_reason
    lead.status_changed_at = timezone.now()
    lead.save(update_fields=["status", "disqualified_reason", "status_changed_at", "updated_at"])
    if reason and status != LeadStatus.DISQUALIFIED:
        changes["reason"] = [None, reason]
    audit.record(actor=actor, action=audit.Action.TRANSITION, instance=lead, changes=changes)
    events.publish("lead.status_changed", {"lead_id": lead.pk, "from": current, "to": status, "reason": reason,
                                           "actor_id": getattr(actor, "pk", None)})
    return lead


@transaction.atomic
def lead_mark_converted(*, lead: Lead, account: Account, contact: Contact, opportunity_id: int | None,
                        actor) -> Lead:
    """Record that a qualified lead became `account` + `contact` + the opportunity; final.

    Called by pipeline's conversion service inside its transaction (leads may not import pipeline).
    """
    require_sales(actor)
    lead = _lock(lead)
    if lead.status != LeadStatus.QUALIFIED:
        raise InvalidTransition(
            _("Only a qualified lead can be converted; this lead is %(status)s.") % {"status": lead.status},
            field="status")
    if account is None or contact is None:
        raise ValidationFailed.single("account", _("A conversion needs an account and a contact."), "required")
    if contact.account_id != account.pk:
        raise ValidationFailed.single("contact", _("The contact must belong to the account."), "invalid")
    now = timezone.now()
    lead.status = LeadStatus.CONVERTED
    lead.status_changed_at = now
    lead.converted_at = now
    lead.converted_account = account
    lead.converted_contact = contact
    lead.converted_opportunity_id = opportunity_id
    lead.save(update_fields=["status", "status_changed_at", "converted_at", "converted_account",
                             "converted_contact", "converted_opportunity_id", "updated_at"])
    audit.record(actor=actor, action=audit.Action.TRANSITION, instance=lead, changes={
        "status": [LeadStatus.QUALIFIED, LeadStatus.CONVERTED],
        "converted_account": [None, account.pk],
        "converted_contact": [None, contact.pk],
        "converted_opportunity_id": [None, opportunity_id],
    })
    events.publish("lead.converted", {"lead_id": lead.pk, "account_id": account.pk, "contact_id": contact.pk,
                                      "opportunity_id": opportunity_id, "actor_id": getattr(actor, "pk", None)})
    return lead


# --- campaigns ------------------------------------------------------------------------------------

def _campaign_errors(values: dict, actor, *, campaign: Campaign | None) -> list[FieldError]:
    errors = check_max_lengths(Campaign, values)
    if campaign is None or "name" in values:
        errors += check_required(values, "name")
        name = values.get("name") or ""
        clash = Campaign.objects.filter(name__iexact=name)
        if campaign is not None:
            clash = clash.exclude(pk=campaign.pk)
        if name and clash.exists():
            errors.append(FieldError("name", _("A campaign called %(name)r exists already.") % {"name": name},
                                     "unique"))
    errors += check_choice(values, "type", CampaignType)
    errors += check_choice(values, "status", CampaignStatus)
    if "currency" in values and not is_iso_currency(values.get("currency") or ""):
        errors.append(FieldError("currency", _("%(value)r is not an ISO 4217 currency code (e.g. USD, EUR, CNY).")
                                 % {"value": values.get("currency")}, "invalid_currency"))
    for name in ("budget", "cost"):
        if name in values and values[name] is None:
            values[name] = 0
        errors += check_amount(values, name)
    for name in ("start_date", "end_date"):
        if values.get(name) is not None and not isinstance(values[name], dt.date):
            errors.append(FieldError(name, _("Not a date (use YYYY-MM-DD)."), "invalid_date"))
    start = values.get("start_date", campaign.start_date if campaign else None)
    end = values.get("end_date", campaign.end_date if campaign else None)
    if isinstance(start, dt.date) and isinstance(end, dt.date) and end < start:
        errors.append(FieldError("end_date", _("The end date cannot be before the start date."), "date_order"))
    if "owner" in values:
        errors += check_owner(values["owner"], actor)
    return errors


def _clean_campaign(values: dict) -> dict:
    if "name" in values:
        values["name"] = (values["name"] or "").strip()
    if "currency" in values:
        values["currency"] = (values["currency"] or "").strip().upper()
    if "description" in values:
        values["description"] = values["description"] or ""
    return values


@transaction.atomic
def campaign_create(*, actor, name: str, type: str = CampaignType.OTHER, status: str = CampaignStatus.PLANNED,
                    start_date: dt.date | None = None, end_date: dt.date | None = None, currency: str | None = None,
                    budget=0, cost=0, description: str = "", owner=ACTOR) -> Campaign:
    require_campaign_manager(actor)
    from django.conf import settings

    values = _clean_campaign(dict(
        name=name, type=type, status=status, start_date=start_date, end_date=end_date,
        currency=currency or settings.L2C_COMPANY_CURRENCY, budget=budget, cost=cost, description=description,
        owner=actor if owner is ACTOR else owner,
    ))
    errors = _campaign_errors(values, actor, campaign=None)
    raise_if_errors(errors)
    campaign = Campaign.objects.create(**values)
    audit.record(actor=actor, action=audit.Action.CREATE, instance=campaign)
    events.publish("campaign.created", {"campaign_id": campaign.pk, "actor_id": getattr(actor, "pk", None)})
    return campaign


@transaction.atomic
def campaign_update(*, campaign: Campaign, actor, **fields) -> Campaign:
    require_campaign_manager(actor)
    _reject_unknown(fields, CAMPAIGN_FIELDS)
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    values = _clean_campaign(dict(fields))
    errors = _campaign_errors(values, actor, campaign=campaign)
    raise_if_errors(errors)
    before = audit.snapshot(campaign)
    for name, value in values.items():
        setattr(campaign, name, value)
    campaign.save()
    campaign.refresh_from_db()  # Decimal fields back in their stored scale, for the audit diff and the caller
    audit.record(actor=actor, action=audit.Action.UPDATE, instance=campaign, before=before)
    return campaign
