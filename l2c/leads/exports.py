"""Columns of the lead export (CSV / Excel); see `l2c.core.exports`."""
from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from l2c.core.exports import choice, field, person

LEAD_COLUMNS = [
    field(_("ID"), "id"),
    field(_("First name"), "first_name"),
    field(_("Last name"), "last_name"),
    field(_("Full name"), "full_name"),
    field(_("Job title"), "title"),
    field(_("E-mail"), "email"),
    field(_("Phone"), "phone"),
    field(_("Company"), "company"),
    field(_("Website"), "website"),
    field(_("Industry"), "industry"),
    field(_("Company size"), "company_size"),
    field(_("City"), "city"),
    field(_("Country"), "country"),
    choice(_("Status"), "status"),
    field(_("Status changed"), "status_changed_at"),
    field(_("Disqualification reason"), "disqualified_reason"),
    field(_("Score"), "score"),
    person(_("Owner"), "owner"),
    choice(_("Source"), "source"),
    field(_("Campaign"), "campaign.name"),
    field(_("UTM source"), "utm_source"),
    field(_("UTM medium"), "utm_medium"),
    field(_("UTM campaign"), "utm_campaign"),
    field(_("UTM term"), "utm_term"),
    field(_("UTM content"), "utm_content"),
    choice(_("Consent basis"), "consent_basis"),
    field(_("Consent given"), "consent_at"),
    field(_("Consent source"), "consent_source"),
    field(_("Notes"), "description"),
    field(_("Converted"), "converted_at"),
    field(_("Created"), "created_at"),
    field(_("Updated"), "updated_at"),
]
