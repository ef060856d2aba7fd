from django.db import models
from django.utils.translation import gettext_lazy as _


class ForecastCategory(models.TextChoices):
    PIPELINE = "pipeline", _("Pipeline")  # early, not counted in the forecast
    BEST_CASE = "best_case", _("Best case")  # could close this period
    COMMIT = "commit", _("Commit")  # the rep commits to closing it
    CLOSED = "closed", _("Closed")  # won
    OMITTED = "omitted", _("Omitted")  # lost or excluded


class ActivityKind(models.TextChoices):
    CALL = "call", _("Call")
    EMAIL = "email", _("E-mail")
    MEETING = "meeting", _("Meeting")
    TASK = "task", _("Task")
    NOTE = "note", _("Note")


# Opportunity fields a stage may require before an opportunity enters it.
STAGE_REQUIRABLE_FIELDS = [
    "amount", "expected_close_date", "contact", "next_step", "budget", "authority", "need", "timeline",
    "competitor", "lost_reason",
]
