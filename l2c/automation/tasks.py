"""Webhook jobs (scheduled in l2c/celery.py BEAT_SCHEDULE): thin, safe to run twice."""
from celery import shared_task

from . import services


@shared_task(name="l2c.automation.tasks.deliver")
def deliver(delivery_id: int) -> str:
    """Make a delivery's next attempt if it is due (nothing when another worker sent it already)."""
    delivery = services.delivery_send(delivery_id=delivery_id)
    return f"{delivery_id}: {delivery.status if delivery else 'not due'}"


@shared_task(name="l2c.automation.tasks.send_due_webhooks")
def send_due_webhooks() -> str:
    """Send every webhook delivery that is due: retries, and first attempts whose message was lost."""
    return f"{services.send_due()} deliveries attempted"


@shared_task(name="l2c.automation.tasks.run_rule")
def run_rule(rule_id: int, record_type: str, record_id: str, trigger: str, event: str = "",
             changes: dict | None = None, chain: list | None = None, run_key: str | None = None) -> str:
    """Run one workflow rule for one record (enqueued after the triggering commit) and log the run."""
    from . import engine

    run = engine.run_rule(rule_id=rule_id, record_type=record_type, record_id=record_id, trigger=trigger,
                          event=event, changes=changes, chain=chain or [], run_key=run_key)
    return f"rule {rule_id} on {record_type} {record_id}: {run.status if run else 'not run'}"


@shared_task(name="l2c.automation.tasks.sweep_time_rules")
def sweep_time_rules() -> str:
    """Fire the time-based rules whose day has come (each rule and record once per date)."""
    from . import engine

    return f"{engine.sweep_time_rules()} time rule runs queued"
