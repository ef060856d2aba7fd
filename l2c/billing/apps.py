from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BillingConfig(AppConfig):
    name = "l2c.billing"
    label = "billing"
    verbose_name = _("Billing")

    def ready(self):
        from l2c.core.events import register_event, subscribe

        from . import schedules

        register_event("invoice.posted", "An invoice was numbered and booked. Payload: invoice_id, number, "
                       "account_id, currency, gross_total, due_date.")
        register_event("invoice.status_changed", "A posted invoice's status followed a payment, credit note or "
                       "write-off (partially_paid, paid, written_off, void). Payload: invoice_id, number, "
                       "from_status, to_status.")
        register_event("payment.recorded", "A customer payment was recorded. Payload: payment_id, number, "
                       "account_id, currency, amount, unapplied_amount.")
        register_event("payment.reversed", "A payment was reversed (recorded in error or returned by the bank): "
                       "its allocations and journal entry undone. Payload: payment_id, number, account_id, currency, "
                       "amount, reversal_date, reason, invoice_ids, reversal_entry_id.")
        register_event("credit_note.posted", "A credit note was numbered and booked. Payload: credit_note_id, "
                       "number, invoice_id, gross_total, currency.")
        subscribe("contract.created", schedules.on_contract_created)  # the contract's billing schedule
        subscribe("order.line_fulfilled", schedules.on_line_fulfilled)  # fulfilled lines fall due

        from .automation import register as register_automation

        register_automation()
