from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NurtureConfig(AppConfig):
    """Nurture: e-mail templates with merge fields, the suppression list, consent checks and one-click
    unsubscribe, lead scoring (rules and a predictive model). Cross-cutting: it reads leads and
    contacts but no stage imports it; it tells others through events."""

    name = "l2c.nurture"
    label = "nurture"
    verbose_name = _("Nurture")

    def ready(self):
        from l2c.core.contact_policy import register_suppression_loader
        from l2c.core.events import register_event, subscribe

        from .scoring.services import on_lead_event
        from .services import suppressed_addresses

        register_event("nurture.unsubscribed", "An address was put on the suppression list by its owner (the "
                                               "unsubscribe link or a one-click List-Unsubscribe POST). "
                                               "Payload: email, source.")
        subscribe("lead.created", on_lead_event)  # a new lead gets its score at once when rules exist
        subscribe("lead.status_changed", on_lead_event)
        from .sequences.runner import connect as connect_sequences

        connect_sequences()  # nurture.task_requested; exits on unsubscribe, conversion, disqualification
        register_suppression_loader(suppressed_addresses)  # lead imports say which rows are suppressed
        from .automation import register as register_automation

        register_automation()  # workflow rules: "enrol in a sequence", the lead.score_changed event
