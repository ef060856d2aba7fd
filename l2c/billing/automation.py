"""Invoices offered to workflow automation (core.automation_registry): triggers, fields for conditions and
the due date for time rules ("7 days overdue": due date + 7, status still open). No updater: an invoice's
amounts and status follow postings, payments and credit notes only. Invoices have no owner; tasks and
notifications go to the customer's owner."""
from __future__ import annotations

from django.utils.translation import gettext_lazy as _

INVOICE_FIELDS = ("number", "status", "account", "contract", "currency", "issue_date", "due_date", "net_total",
                  "gross_total", "amount_paid", "balance", "posted_at")


def register() -> None:
    from l2c.core.automation_registry import register_record_type

    register_record_type(
        "invoice", model="billing.Invoice", label=_("Invoice"), id_key="invoice_id", fields=INVOICE_FIELDS,
        owner_field=None, events={"status_changed": "invoice.status_changed"},
        date_fields=["due_date", "issue_date"], url_name="billing:invoice-detail")
