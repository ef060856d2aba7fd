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

from l2c.core import audit, changes, events
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

from .choices import (
    LEAD_TRANSITIONS,
    CampaignStatus,
    CampaignType,
    ConsentBasis,
    LeadLanguage,
    LeadSource,
    LeadStatus,
)
from .models import Campaign, Lead

# Default for `owner` on create: the acting user (pass owner=None to leave the lead unassigned).
ACTOR = object()

LEAD_FIELDS = (
    "first_name", "last_name", "title", "email", "phone", "company", "website", "industry", "company_size",
    "city", "country", "language", "source", "campaign", "utm_source", "utm_medium", "utm_campaign", "utm_term",
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
    errors += check_choice(values, "language", LeadLanguage, blank=True)
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
    lead = Lead.objects.select_for_update().get(pk=lead.pk)
    if lead.merged_into_id is not None:
        raise Conflict(_("This lead was merged into lead #%(id)s; change that lead instead.")
                       % {"id": lead.merged_into_id}, code="lead_merged")
    return lead


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
def lead_assign(*, lead: Lead, owner, actor, rule=None) -> Lead:
    """Give the lead to `owner` (None: back to the unassigned queue).

    `rule`: the assignment rule that chose `owner` (leads.assignment). The rules were set by admins and
    managers, so the owner need only be an active sales user, not one the actor could pick by hand.
    """
    require_sales(actor)
    errors = _rule_owner_errors(owner) if rule is not None else check_owner(owner, actor)
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
    changes = {"owner": [old_owner, new_owner]}
    if rule is not None:
        changes["assignment_rule"] = [None, f"{rule.name} (#{rule.pk})"]
    audit.record(actor=actor, action=audit.Action.UPDATE, instance=lead, changes=changes)
    _publish_assigned(lead, old_owner, actor)
    return lead


def _rule_owner_errors(owner) -> list[FieldError]:
    return check_owner(owner, None)


@transaction.atomic
def leads_assign(*, leads, owner, actor) -> dict[int, str]:
    """Give several leads to `owner` (None: back to the unassigned queue); one audit event per lead.

    Returns each lead id's outcome: "assigned", "unchanged" (already theirs) or "converted" (refused:
    a converted lead keeps its owner). Leads are locked in id order, so two bulk reassignments of
    overlapping leads wait for each other instead of deadlocking.
    """
    require_sales(actor)
    raise_if_errors(check_owner(owner, actor))
    ids = sorted({lead.pk for lead in leads})
    locked = list(Lead.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
    new_owner = getattr(owner, "pk", None)
    outcome: dict[int, str] = {}
    changed: list[tuple[Lead, int | None]] = []
    for lead in locked:
        if lead.status == LeadStatus.CONVERTED:
            outcome[lead.pk] = "converted"
        elif lead.owner_id == new_owner:
            outcome[lead.pk] = "unchanged"
        else:
            outcome[lead.pk] = "assigned"
            changed.append((lead, lead.owner_id))
    if changed:
        now = timezone.now()
        Lead.objects.filter(pk__in=[lead.pk for lead, _old in changed]).update(owner_id=new_owner, updated_at=now)
        changes.announce(Lead, [lead.pk for lead, _old in changed])
        pending = []
        for lead, old_owner in changed:
            lead.owner = owner
            lead.updated_at = now
            pending.append(audit.PendingEvent(action=audit.Action.UPDATE, object_type=audit.object_type_of(lead),
                                              object_id=str(lead.pk), object_repr=str(lead),
                                              changes={"owner": [old_owner, new_owner]}))
        audit.record_many(pending, actor=actor)
        for lead, old_owner in changed:
            _publish_assigned(lead, old_owner, actor)
    return outcome


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


# --- capture channels (web forms, the bulk API): validate without saving, then capture ------------------
# Kept apart from lead_create: a capture also writes the lead's first Touch, may be made by the system
# (actor None, audited under a label such as "web form Contact us"), and the bulk API validates 1,000
# leads before writing any of them.

def lead_prepare(*, actor, values: dict) -> dict:
    """Clean and validate one new lead's values exactly as `lead_create` does, without saving.

    `values` holds LEAD_FIELDS plus first_name/last_name; "owner" defaults to the actor. Returns the
    cleaned values (phone in E.164, e-mail domain lower-cased, country upper-cased, defaults filled);
    raises ValidationFailed with every field error at once.
    """
    require_sales(actor)
    _reject_unknown({k: v for k, v in values.items() if k not in ("first_name", "last_name")}, LEAD_FIELDS)
    values = _clean_lead({"first_name": "", "last_name": "", "owner": actor, **values})
    if values.get("source") in (None, ""):
        values["source"] = LeadSource.MANUAL
    if values.get("consent_basis") is None:
        values["consent_basis"] = ""
    raise_if_errors(_lead_errors(values, actor, creating=True))
    if values.get("consent_basis") == ConsentBasis.CONSENT and not values.get("consent_at"):
        values["consent_at"] = timezone.now()
    return values


def _new_touch(lead: Lead, touch: dict, now):
    from .models import Touch

    return Touch(lead=lead, occurred_at=touch.pop("occurred_at", None) or now, **touch)


@transaction.atomic
def lead_capture(*, values: dict, touch: dict, actor=None, actor_label: str | None = None) -> Lead:
    """Create a lead from values already checked by `lead_prepare`, with its first Touch (`touch`: kind,
    source, campaign, form, utm_*, ip, user_agent, referrer, data). Audited under `actor`, or for the
    system (actor None) under `actor_label`. The audit event is written last, so the audit chain's
    lock is held only for the end of the transaction."""
    now = timezone.now()
    lead = Lead.objects.create(status=LeadStatus.NEW, status_changed_at=now, **values)
    _new_touch(lead, dict(touch), now).save()
    audit.record(actor=actor, action=audit.Action.CREATE, instance=lead, actor_label=actor_label)
    events.publish("lead.created", {
        "lead_id": lead.pk, "source": lead.source, "campaign_id": lead.campaign_id, "owner_id": lead.owner_id,
        "actor_id": getattr(actor, "pk", None),
    })
    return lead


@transaction.atomic
def lead_add_touch(*, lead: Lead, touch: dict, fill: dict | None = None, actor=None,
                   actor_label: str | None = None) -> Lead:
    """Record another interaction of an existing lead (a repeat form submission). Fields of the lead
    that are still empty take the values in `fill` (already validated); a filled field is never
    overwritten. The change, if any, is audited."""
    lead = _lock(lead)
    before = audit.snapshot(lead)
    changed = []
    for name, value in (fill or {}).items():
        if value in (None, "") or getattr(lead, name, None) not in (None, ""):
            continue
        setattr(lead, name, value)
        changed.append(name)
    _new_touch(lead, dict(touch), timezone.now()).save()
    if changed:
        lead.save(update_fields=[*changed, "updated_at"])
        audit.record(actor=actor, action=audit.Action.UPDATE, instance=lead, before=before, actor_label=actor_label)
    return lead


def touch_record(*, lead: Lead, touch: dict):
    """Add a Touch to a lead inside the caller's transaction (e.g. POST /leads: kind api)."""
    item = _new_touch(lead, dict(touch), timezone.now())
    item.save()
    return item
