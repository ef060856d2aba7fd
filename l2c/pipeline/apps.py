from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PipelineConfig(AppConfig):
    name = "l2c.pipeline"
    label = "pipeline"
    verbose_name = _("Pipeline")

    def ready(self):
        from l2c.core.events import register_event, subscribe

        from .nurture_tasks import on_task_requested

        register_event("opportunity.created", "An opportunity was created. Payload: opportunity_id, account_id, "
                       "owner_id, stage_id, amount, currency, actor_id.")
        register_event("opportunity.stage_changed", "An opportunity moved to another stage. Payload: opportunity_id, "
                       "from_stage_id, to_stage_id, account_id, owner_id, amount, currency, actor_id.")
        register_event("opportunity.won", "An opportunity entered a won stage. Payload as opportunity.stage_changed.")
        register_event("opportunity.lost", "An opportunity entered a lost stage. Payload as "
                       "opportunity.stage_changed, plus lost_reason.")

        from .automation import register as register_automation

        register_automation()
        subscribe("nurture.task_requested", on_task_requested)  # a sequence's "create a task" step
