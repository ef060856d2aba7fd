"""Columns of the account and contact exports (CSV / Excel); see `l2c.core.exports`."""
from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from l2c.core.exports import Column, choice, field, person

ACCOUNT_COLUMNS = [
    field(_("ID"), "id"),
    field(_("Name"), "name"),
    field(_("Website"), "website"),
    field(_("E-mail domain"), "domain"),
    field(_("Industry"), "industry"),
    choice(_("Size"), "size"),
    field(_("Phone"), "phone"),
    field(_("Street"), "street"),
    field(_("City"), "city"),
    field(_("State / province"), "region"),
    field(_("Postal code"), "postal_code"),
    field(_("Country"), "country"),
    person(_("Owner"), "owner"),
    Column(_("Contacts"), lambda a: getattr(a, "contacts_count", None)),
    field(_("Description"), "description"),
    field(_("Created"), "created_at"),
    field(_("Updated"), "updated_at"),
]

CONTACT_COLUMNS = [
    field(_("ID"), "id"),
    field(_("First name"), "first_name"),
    field(_("Last name"), "last_name"),
    field(_("Full name"), "full_name"),
    field(_("Job title"), "title"),
    field(_("E-mail"), "email"),
    field(_("Phone"), "phone"),
    field(_("Mobile"), "mobile"),
    field(_("Country"), "country"),
    field(_("Account ID"), "account_id"),
    field(_("Account"), "account.name"),
    person(_("Owner"), "owner"),
    field(_("Created"), "created_at"),
    field(_("Updated"), "updated_at"),
]
