from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AutomationConfig(AppConfig):
    """Automation: outbound webhooks now, workflow rules later. It reacts to domain events only (every event
    through `l2c.core.events`), so it imports no stage app."""

    name = "l2c.automation"
    label = "automation"
    verbose_name = _("Automation")

    def ready(self):
        from l2c.core.events import register_event, subscribe

        from . import services

        register_event("webhook.test", "A test event sent from the webhook's page or POST /webhooks/{id}/test. "
                                       "Payload: endpoint_id, message.")
        subscribe("*", services.webhooks_on_event)
