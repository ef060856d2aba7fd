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

# Activities that wait for someone to do them; notes and logged e-mails are records, not to-dos.
OPEN_ACTIVITY_KINDS = [ActivityKind.TASK, ActivityKind.CALL, ActivityKind.MEETING]

# Forecast categories a person may choose for an open deal; closed and omitted follow the stage.
OPEN_FORECAST_CATEGORIES = [ForecastCategory.PIPELINE, ForecastCategory.BEST_CASE, ForecastCategory.COMMIT,
                            ForecastCategory.OMITTED]

# The stages a fresh database starts with (data migration 0002 and `ensure_default_stages`).
DEFAULT_STAGES = [
    {"name": "Prospecting", "order": 10, "probability": 10, "required_fields": [], "expected_days": 14},
    {"name": "Qualification", "order": 20, "probability": 20, "required_fields": ["budget", "need"],
     "expected_days": 14},
    {"name": "Proposal", "order": 30, "probability": 50, "required_fields": ["amount", "expected_close_date"],
     "expected_days": 21},
    {"name": "Negotiation", "order": 40, "probability": 75, "required_fields": [], "expected_days": 21},
    {"name": "Closed Won", "order": 50, "probability": 100, "is_won": True, "required_fields": []},
    {"name": "Closed Lost", "order": 60, "probability": 0, "is_lost": True, "required_fields": ["lost_reason"]},
]
