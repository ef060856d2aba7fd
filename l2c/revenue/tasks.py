"""Revenue background jobs (scheduled in l2c/celery.py BEAT_SCHEDULE)."""
import datetime as dt
import logging

from celery import shared_task
from django.utils import timezone

log = logging.getLogger(__name__)


@shared_task(name="l2c.revenue.tasks.close_previous_month")
def close_previous_month(today: str | None = None) -> dict:
    """On the first days of a month: close the month before (idempotent: a closed month posts nothing)."""
    from . import close

    day = dt.date.fromisoformat(today) if today else timezone.localdate()
    previous = day.replace(day=1) - dt.timedelta(days=1)
    summary = close.close_period(actor=None, period=(previous.year, previous.month))
    return summary.as_dict()
