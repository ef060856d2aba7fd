"""The Celery app. The same task code runs on one laptop (filesystem broker) or on a cluster.

Scheduled jobs are declared here, in BEAT_SCHEDULE, and nowhere else.
"""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "l2c.settings")

app = Celery("l2c")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

BEAT_SCHEDULE: dict = {
    "audit-verify-nightly": {"task": "l2c.core.tasks.verify_audit_chain", "schedule": 24 * 3600.0},
}
app.conf.beat_schedule = BEAT_SCHEDULE
