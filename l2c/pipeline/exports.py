"""Columns of the opportunity and activity exports (CSV / Excel); see `l2c.core.exports`."""
from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from l2c.core.exports import Column, choice, field, person

OPPORTUNITY_COLUMNS = [
    field(_("ID"), "id"),
    field(_("Name"), "name"),
    field(_("Account ID"), "account_id"),
    field(_("Account"), "account.name"),
    person(_("Contact"), "contact"),
    person(_("Owner"), "owner"),
    field(_("Amount"), "amount"),
    field(_("Currency"), "currency"),
    Column(_("Stage"), lambda o: o.stage.label),
    field(_("In stage since"), "stage_entered_at"),
    field(_("Probability %"), "probability"),
    choice(_("Forecast category"), "forecast_category"),
    field(_("Expected close date"), "expected_close_date"),
    field(_("Closed"), "closed_at"),
    field(_("Next step"), "next_step"),
    field(_("Budget"), "budget"),
    field(_("Authority"), "authority"),
    field(_("Need"), "need"),
    field(_("Timeline"), "timeline"),
    field(_("Lost reason"), "lost_reason"),
    field(_("Competitor"), "competitor"),
    choice(_("Source"), "source"),
    field(_("Campaign"), "campaign.name"),
    field(_("Lead ID"), "lead_id"),
    field(_("Description"), "description"),
    field(_("Created"), "created_at"),
    field(_("Updated"), "updated_at"),
]
# The export reads these on every row; the list selector joins the rest.
OPPORTUNITY_RELATED = ("campaign",)

_TARGETS = (("lead", _("Lead")), ("account", _("Account")), ("contact", _("Contact")),
            ("opportunity", _("Opportunity")))


def _target(activity):
    for name, label in _TARGETS:
        record = getattr(activity, name)
        if record is not None:
            return label, record
    return None, None


def _record_name(record) -> str | None:
    if record is None:
        return None
    return getattr(record, "name", None) or str(record)


ACTIVITY_COLUMNS = [
    field(_("ID"), "id"),
    choice(_("Type"), "kind"),
    field(_("Subject"), "subject"),
    field(_("Details"), "body"),
    field(_("Due"), "due_at"),
    field(_("Done"), "done_at"),
    person(_("Assigned to"), "owner"),
    Column(_("Related to"), lambda a: _target(a)[0]),
    Column(_("Record"), lambda a: _record_name(_target(a)[1])),
    Column(_("Record ID"), lambda a: getattr(_target(a)[1], "pk", None)),
    field(_("Created"), "created_at"),
]
