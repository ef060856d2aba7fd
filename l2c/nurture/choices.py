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
