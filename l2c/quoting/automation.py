"""Quotes offered to workflow automation (core.automation_registry): triggers, fields for conditions and the
validity date for time rules. No updater yet: rules read quotes and act around them (tasks on the quote's
opportunity, notifications, webhooks) but do not edit them."""
from __future__ import annotations

from django.utils.translation import gettext_lazy as _

QUOTE_FIELDS = ("number", "version", "title", "status", "opportunity", "account", "contact", "owner", "currency",
                "quote_date", "valid_until", "is_primary", "net_total", "gross_total", "discount_total",
                "created_at")


def register() -> None:
    from l2c.core.automation_registry import register_record_type

    register_record_type(
        "quote", model="quoting.Quote", label=_("Quote"), id_key="quote_id", fields=QUOTE_FIELDS,
        events={"created": "quote.created"}, date_fields=["valid_until", "quote_date"],
        url_name="quoting:quote-detail")
