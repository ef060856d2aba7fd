from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ContractsConfig(AppConfig):
    name = "l2c.contracts"
    label = "contracts"
    verbose_name = _("Contracts")

    def ready(self):
        from l2c.core.events import register_event

        contract = ("contract_id, number, quote_id, opportunity_id, account_id, owner_id, status, currency, "
                    "net_total, gross_total, start_date, end_date")
        register_event("quote.signed", "A customer accepted and signed a quote in the portal. Payload: quote_id, "
                       "number, version, signature_id, contract_id, signer_name, opportunity_id.")
        register_event("contract.created", f"A contract was created by a signature. Payload: {contract}.")
        register_event("contract.expired", f"A contract passed its end date. Payload: {contract}, from_status, "
                       "actor_id.")
        register_event("contract.renewed", f"A contract's renewal was signed. Payload: {contract}, from_status, "
                       "actor_id.")
        register_event("contract.terminated", f"A contract was terminated. Payload: {contract}, from_status, "
                       "actor_id.")
        register_event("contract.renewal_started", f"A renewal opportunity (and quote) was created for a contract. "
                       f"Payload: {contract}, renewal_opportunity_id, renewal_quote_id.")

        from .automation import register as register_automation

        register_automation()
