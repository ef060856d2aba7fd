from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AutomationConfig(AppConfig):
    """Automation: outbound webhooks and workflow rules. It reacts to domain events only (every event
    through `l2c.core.events`), so it imports no stage app."""

    name = "l2c.automation"
    label = "automation"
    verbose_name = _("Automation")

    def ready(self):
        from l2c.core import audit
        from l2c.core import automation_registry as registry
        from l2c.core.events import register_event, subscribe

        from . import engine, rule_actions, services

        register_event("webhook.test", "A test event sent from the webhook's page or POST /webhooks/{id}/test. "
                                       "Payload: endpoint_id, message.")
        subscribe("*", services.webhooks_on_event)
        # workflow rules: every event may trigger one; audited updates of registered record types fire
        # "field changed" rules; the built-in actions (stage apps register record types and their own actions)
        subscribe("*", engine.on_event)
        registry.on_record_type(lambda rt: audit.add_change_listener(rt.object_type, engine.on_field_change))
        rule_actions.register()
