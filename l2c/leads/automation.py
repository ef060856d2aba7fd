"""Leads offered to workflow automation (core.automation_registry): the lead record type, its events, the
fields rules may read and set, and an updater that writes through the lead services."""
from __future__ import annotations

from django.utils.translation import gettext_lazy as _

LEAD_FIELDS = ("first_name", "last_name", "title", "email", "phone", "company", "website", "industry",
               "company_size", "language", "city", "country", "source", "campaign", "owner", "status", "score",
               "description", "consent_basis", "created_at", "status_changed_at")
UPDATABLE = ("title", "industry", "company_size", "language", "city", "source", "description", "owner", "status")


def update_lead(actor, lead, **values):
    """A rule's write: status through `lead_change_status`, the owner through `lead_assign`, the rest through
    `lead_update`."""
    from . import services

    status = values.pop("status", None)
    if "owner" in values:
        lead = services.lead_assign(lead=lead, owner=values.pop("owner"), actor=actor)
    if values:
        lead = services.lead_update(lead=lead, actor=actor, **values)
    if status is not None and status != lead.status:
        lead = services.lead_change_status(lead=lead, status=status, actor=actor,
                                           reason=str(_("Set by an automation rule")))
    return lead


def register() -> None:
    from l2c.core.automation_registry import register_record_type

    register_record_type(
        "lead", model="leads.Lead", label=_("Lead"), id_key="lead_id", fields=LEAD_FIELDS, updatable=UPDATABLE,
        events={"created": "lead.created", "status_changed": "lead.status_changed"},
        date_fields=["created_at", "status_changed_at"], updater=update_lead,
        url_name="leads:lead-detail")
