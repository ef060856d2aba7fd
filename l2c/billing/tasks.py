"""Billing jobs (scheduled in l2c/celery.py BEAT_SCHEDULE): thin, safe to run twice."""
import datetime as dt
import logging

from celery import shared_task

from . import schedules

log = logging.getLogger(__name__)


@shared_task(name="l2c.billing.tasks.billing_run")
def billing_run(today: str | None = None) -> dict:
    """Invoice and post every billing schedule item due by `today` (ISO date; default: today). A second run
    the same day finds nothing left to invoice."""
    summary = schedules.billing_run(today=dt.date.fromisoformat(today) if today else None, actor=None)
    for error in summary.errors:
        log.error("billing run: contract %s: %s", error.contract, error.message)
    result = summary.as_dict()
    result["today"] = summary.today.isoformat()
    return result
