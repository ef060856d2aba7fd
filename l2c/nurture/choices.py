"""Languages of a template version and why an address is suppressed."""
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

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


class SequenceStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")  # being written: nobody can be enrolled yet
    ACTIVE = "active", pgettext_lazy("sequence status", "Active")  # enrolments advance
    PAUSED = "paused", _("Paused")  # enrolments wait where they are; nothing is sent
    ARCHIVED = "archived", _("Archived")  # finished with: no new enrolments, the active ones exit


class StepKind(models.TextChoices):
    EMAIL = "email", _("Send an e-mail")  # a template, in the lead's language
    WAIT = "wait", _("Wait")  # a number of days (and hours) before the next step
    TASK = "task", _("Create a task for the owner")  # e.g. "call them"; due in N days
    BRANCH = "branch", _("Branch")  # go to one step or another on opened / clicked / replied / score


class BranchCondition(models.TextChoices):
    OPENED = "opened", _("opened an e-mail of this sequence")
    CLICKED = "clicked", _("clicked a link in an e-mail of this sequence")
    REPLIED = "replied", _("replied to an e-mail of this sequence")
    SCORE_AT_LEAST = "score_at_least", _("has a score of at least")


class EnrollmentStatus(models.TextChoices):
    ACTIVE = "active", pgettext_lazy("enrolment status", "Active")  # steps still to run
    COMPLETED = "completed", _("Completed")  # ran every step
    EXITED = "exited", _("Exited")  # stopped early; exit_reason says why


class ExitReason(models.TextChoices):
    REPLIED = "replied", _("replied")
    CONVERTED = "converted", _("converted")  # the lead became an opportunity (or was qualified/disqualified)
    UNSUBSCRIBED = "unsubscribed", _("unsubscribed")
    BOUNCED = "bounced", _("bounced")
    SUPPRESSED = "suppressed", _("on the suppression list")
    NO_LAWFUL_BASIS = "no_lawful_basis", _("no lawful basis to e-mail")
    NO_EMAIL = "no_email", _("no e-mail address")
    UNENROLLED = "unenrolled", _("unenrolled by a user")
    DISQUALIFIED = "disqualified", _("disqualified")
    ARCHIVED = "archived", _("the sequence was archived")


class EnrollmentSource(models.TextChoices):
    MANUAL = "manual", _("by hand")
    FILTER = "filter", _("from a lead list filter")
    RULE = "rule", _("by an automation rule")
    API = "api", _("through the API")


class MessageStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")  # waiting for its turn (throttle) or its first attempt
    SENDING = "sending", _("Sending")  # claimed by a worker; the SMTP conversation may be under way
    SENT = "sent", _("Sent")  # the SMTP server accepted it
    DEFERRED = "deferred", _("Deferred")  # a temporary failure (4xx, connection); retried with backoff
    BOUNCED = "bounced", _("Bounced")  # the server refused the recipient for good (5xx)
    FAILED = "failed", _("Failed")  # gave up after the last retry, or a permanent error that is not a bounce
    SKIPPED = "skipped", _("Not sent")  # suppressed or no lawful basis by the time it was due
    UNKNOWN = "unknown", _("Unknown")  # a worker died mid-conversation: never re-sent, shown for review
