"""Receivables jobs (scheduled in l2c/celery.py BEAT_SCHEDULE): thin, safe to run twice."""
import datetime as dt
import logging

from celery import shared_task

from . import services

log = logging.getLogger(__name__)


@shared_task(name="l2c.receivables.tasks.run_dunning")
def run_dunning(today: str | None = None) -> str:
    """Send the day's payment reminders (one e-mail per customer). `today`: an ISO date, default today."""
    run = services.run_dunning(dt.date.fromisoformat(today) if today else None)
    return f"{run.run_date}: {run.emails_sent} e-mails, {run.invoices_reminded} invoices, {len(run.failures)} failures"
