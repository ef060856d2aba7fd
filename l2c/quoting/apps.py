from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

QUOTE_PAYLOAD = ("quote_id, number, version, status, opportunity_id, account_id, owner_id, currency, net_total, "
                 "gross_total, actor_id")


class QuotingConfig(AppConfig):
    name = "l2c.quoting"
    label = "quoting"
    verbose_name = _("Quotes")

    def ready(self):
        from l2c.core.events import register_event

        register_event("quote.created", "A quote or a new version of one was created. Payload: "
                       f"{QUOTE_PAYLOAD} (and previous_version_id for a new version).")
        register_event("quote.submitted", f"A quote was submitted for approval. Payload: {QUOTE_PAYLOAD}, approvals "
                       "(how many approvals it needs; 0: approved at once).")
        register_event("quote.approved", f"A quote is approved (every level). Payload: {QUOTE_PAYLOAD}, comment.")
        register_event("quote.rejected", f"An approver rejected a quote. Payload: {QUOTE_PAYLOAD}, comment.")
        register_event("quote.sent", f"A quote was sent to the customer. Payload: {QUOTE_PAYLOAD}, sent_pdf_sha256.")
        register_event("quote.accepted", f"The customer accepted and signed a quote. Payload: {QUOTE_PAYLOAD}.")
        register_event("quote.declined", f"The customer declined a quote. Payload: {QUOTE_PAYLOAD}, reason.")
        register_event("quote.expired", f"A sent or approved quote passed its validity date. Payload: {QUOTE_PAYLOAD}.")

        from .automation import register as register_automation

        register_automation()
