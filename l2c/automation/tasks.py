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
