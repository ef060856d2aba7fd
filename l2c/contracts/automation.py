"""Contracts offered to workflow automation (core.automation_registry): triggers, fields for conditions and
the start and end dates for time rules ("3 days before the contract ends"). No updater: contract changes
go through their own signed flows."""
from __future__ import annotations

from django.utils.translation import gettext_lazy as _

CONTRACT_FIELDS = ("number", "account", "contact", "opportunity", "quote", "owner", "status", "currency",
                   "start_date", "end_date", "term_months", "auto_renew", "notice_days", "net_total", "gross_total",
                   "signed_at", "terminated_on")


def register() -> None:
    from l2c.core.automation_registry import register_record_type

    register_record_type(
        "contract", model="contracts.Contract", label=_("Contract"), id_key="contract_id", fields=CONTRACT_FIELDS,
        events={"created": "contract.created"}, date_fields=["end_date", "start_date"],
        url_name="contracts:contract-detail")
