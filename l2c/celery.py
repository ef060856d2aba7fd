"""The Celery app. The same task code runs on one laptop (filesystem broker) or on a cluster.

Scheduled jobs are declared here, in BEAT_SCHEDULE, and nowhere else.
"""
import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "l2c.settings")

app = Celery("l2c")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.autodiscover_tasks(["l2c.leads.dedupe"])  # tasks of a sub-package (autodiscovery looks at apps only)

BEAT_SCHEDULE: dict = {
    "audit-verify-nightly": {"task": "l2c.core.tasks.verify_audit_chain", "schedule": 24 * 3600.0},
    # audit events are sealed right after their commit; this catches any a crash left unsealed
    "audit-seal-leftovers": {"task": "l2c.core.tasks.seal_audit_chain", "schedule": 60.0},
    "leads-find-duplicates-nightly": {"task": "l2c.leads.dedupe.tasks.find_duplicates", "schedule": 24 * 3600.0},
    "quotes-expire-hourly": {"task": "l2c.quoting.tasks.expire_quotes", "schedule": 3600.0},
    # contracts past their end expire; renewals start N days before the end of auto-renew contracts
    "contracts-daily": {"task": "l2c.contracts.tasks.contracts_daily", "schedule": 24 * 3600.0},
    # invoices every schedule item that is due (subscriptions in advance, deposits, fulfilled lines)
    "billing-run-daily": {"task": "l2c.billing.tasks.billing_run", "schedule": 24 * 3600.0},
    # reminders for overdue invoices: one e-mail per customer, level by level
    "receivables-dunning-daily": {"task": "l2c.receivables.tasks.run_dunning", "schedule": 24 * 3600.0},
    # closes the previous month for revenue on the 3rd (late invoices of the month are posted by then);
    # a month already closed by finance posts nothing
    "revenue-close-monthly": {"task": "l2c.revenue.tasks.close_previous_month",
                              "schedule": crontab(day_of_month="3", hour="2", minute="0")},
    # lead scoring: train on the day's outcomes (or record that there are too few), then re-score every lead
    "nurture-scoring-nightly": {"task": "l2c.nurture.tasks.train_scoring_model_and_rescore",
                                "schedule": crontab(hour="3", minute="30")},
    # webhook deliveries that are due: retries, and first attempts whose task message was lost
    "automation-webhooks-due": {"task": "l2c.automation.tasks.send_due_webhooks", "schedule": 60.0},
    # e-mail sequences: run the steps that are due, then send the e-mails that are due (throttled, retried)
    "nurture-sequences-advance": {"task": "l2c.nurture.tasks.advance_sequences", "schedule": 60.0},
    "nurture-emails-send-due": {"task": "l2c.nurture.tasks.send_due_emails", "schedule": 60.0},
    # time-based workflow rules ("3 days before contract end"): hourly, each rule and record once per date
    "automation-time-rules-hourly": {"task": "l2c.automation.tasks.sweep_time_rules", "schedule": 3600.0},
    # the forecast as it stands, kept weekly to measure forecast accuracy against what closed
    "analytics-forecast-snapshot-weekly": {"task": "l2c.analytics.tasks.take_weekly_forecast_snapshot",
                                           "schedule": crontab(day_of_week="mon", hour="6", minute="0")},
    # the per-lead flow summary behind the funnel, cycle-time and attribution reports: stale rows and new leads
    # every minute, every row again nightly (the safety net for changes made behind the application's back)
    "analytics-lead-flow-refresh": {"task": "l2c.analytics.tasks.refresh_lead_flow", "schedule": 60.0},
    "analytics-lead-flow-rebuild-nightly": {"task": "l2c.analytics.tasks.rebuild_lead_flow",
                                            "schedule": crontab(hour="4", minute="15")},
}
app.conf.beat_schedule = BEAT_SCHEDULE
