"""Languages of a template version and why an address is suppressed."""
from django.db import models
from django.utils.translation import gettext_lazy as _

FALLBACK_LANGUAGE = "en"


class TemplateLanguage(models.TextChoices):
    EN = "en", _("English")  # the fallback: every template has it
    ZH_HANS = "zh-hans", _("Simplified Chinese")


class SuppressionReason(models.TextChoices):
    UNSUBSCRIBED = "unsubscribed", _("unsubscribed")  # the person used the unsubscribe link or asked us
    BOUNCED = "bounced", _("bounced")  # the address does not receive mail
    COMPLAINED = "complained", _("complained")  # the person marked a message as spam
    MANUAL = "manual", _("manual")  # a manager or admin added it


class RuleKind(models.TextChoices):
    FIT = "fit", _("Fit")  # points for who the lead is (industry, country, title, …)
    ENGAGEMENT = "engagement", _("Engagement")  # points per touch (form fill, open, click, visit), decaying


class RuleOperator(models.TextChoices):
    EQUALS = "equals", _("equals")  # case-insensitive
    IN = "in", _("is one of")  # comma-separated list, case-insensitive
    CONTAINS = "contains", _("contains")  # case-insensitive substring
    GTE = "gte", _("is at least")  # numbers (a size "51-200" counts as its lower bound, 51)
    LTE = "lte", _("is at most")


class ModelStatus(models.TextChoices):
    ACTIVE = "active", _("Active")  # scores leads now
    INSUFFICIENT = "insufficient", _("Not enough history")  # too few outcomes: rule score alone
    SUPERSEDED = "superseded", _("Superseded")  # a later training replaced it


class Grade(models.TextChoices):
    A = "A", "A"  # score 80 or more
    B = "B", "B"  # 60 to 79
    C = "C", "C"  # 40 to 59
    D = "D", "D"  # below 40
