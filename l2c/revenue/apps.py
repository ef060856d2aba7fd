from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RevenueConfig(AppConfig):
    name = "l2c.revenue"
    label = "revenue"
    verbose_name = _("Revenue recognition")

    def ready(self):
        from l2c.core.events import register_event, subscribe

        from . import services

        register_event("revenue.period_closed", "A month's revenue was recognised, posted and the month locked. "
                       "Payload: period (YYYY-MM), contracts, entries, revenue (company currency).")
        register_event("revenue.period_reopened", "An admin reopened a closed month: its recognition entries were "
                       "reversed and the month unlocked. Payload: period (YYYY-MM).")
        subscribe("contract.created", services.on_contract_created)  # obligations, allocation, schedule
        subscribe("credit_note.posted", services.on_credit_note_posted)  # a credit lowers the price
        subscribe("contract.terminated", services.on_contract_terminated)  # service stops early
