"""Columns of the journal lines export (CSV / Excel); see `l2c.core.exports`."""
from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from l2c.core.exports import field

LINE_COLUMNS = [
    field(_("Entry"), "entry.number"),
    field(_("Date"), "entry.date"),
    field(_("Journal"), "entry.journal.code"),
    field(_("Memo"), "entry.memo"),
    field(_("Source"), "entry.source_label"),
    field(_("Line"), "line_no"),
    field(pgettext_lazy("ledger account", "Account"), "account.code"),
    field(_("Account name"), "account.name"),
    field(_("Debit"), "debit"),
    field(_("Credit"), "credit"),
    field(_("Currency"), "currency"),
    field(_("Amount"), "amount"),
    field(_("Rate"), "rate"),
    field(_("Customer"), "customer.name"),
    field(_("Description"), "description"),
]
