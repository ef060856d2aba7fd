from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LeadsConfig(AppConfig):
    name = "l2c.leads"
    label = "leads"
    verbose_name = _("Leads")

    def ready(self):
        from l2c.core.events import register_event

        register_event("lead.created", "A lead was created. Payload: lead_id, source, campaign_id, owner_id, actor_id.")
        register_event("lead.status_changed",
                       "A lead's status changed. Payload: lead_id, from, to, reason, actor_id.")
        register_event("lead.assigned", "A lead got a new owner. Payload: lead_id, from_owner_id, owner_id, actor_id.")
        register_event("lead.converted", "A qualified lead became an account, contact and opportunity. "
                       "Payload: lead_id, account_id, contact_id, opportunity_id, actor_id.")
        register_event("campaign.created", "A campaign was created. Payload: campaign_id, actor_id.")

        from .automation import register as register_automation

        register_automation()
