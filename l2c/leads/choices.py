"""Lead statuses and the transitions between them."""
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class LeadStatus(models.TextChoices):
    NEW = "new", _("New")  # just captured, nobody has worked it
    WORKING = "working", _("Working")  # a rep is in contact
    NURTURING = "nurturing", _("Nurturing")  # not ready yet; kept warm
    QUALIFIED = "qualified", _("Qualified")  # ready to convert into an opportunity
    DISQUALIFIED = "disqualified", _("Disqualified")  # not a fit (reason recorded)
    CONVERTED = "converted", _("Converted")  # became account + contact + opportunity; final


# Allowed source → targets. Conversion (→ converted) only through the conversion service.
LEAD_TRANSITIONS: dict[str, set[str]] = {
    LeadStatus.NEW: {LeadStatus.WORKING, LeadStatus.NURTURING, LeadStatus.QUALIFIED, LeadStatus.DISQUALIFIED},
    LeadStatus.WORKING: {LeadStatus.NURTURING, LeadStatus.QUALIFIED, LeadStatus.DISQUALIFIED, LeadStatus.NEW},
    LeadStatus.NURTURING: {LeadStatus.WORKING, LeadStatus.QUALIFIED, LeadStatus.DISQUALIFIED},
    LeadStatus.QUALIFIED: {LeadStatus.CONVERTED, LeadStatus.WORKING, LeadStatus.NURTURING, LeadStatus.DISQUALIFIED},
    LeadStatus.DISQUALIFIED: {LeadStatus.WORKING, LeadStatus.NURTURING},
    LeadStatus.CONVERTED: set(),
}


class LeadSource(models.TextChoices):
    WEB_FORM = "web_form", _("Web form")
    IMPORT = "import", _("Import")
    API = "api", _("API")
    MANUAL = "manual", _("Manual entry")
    EMAIL = "email", _("E-mail")
    EVENT = "event", _("Event")
    REFERRAL = "referral", _("Referral")
    PARTNER = "partner", _("Partner")
    ADVERTISING = "advertising", _("Advertising")
    SOCIAL = "social", _("Social media")
    COLD_CALL = "cold_call", _("Cold call")
    OTHER = "other", _("Other")


class CampaignType(models.TextChoices):
    EMAIL = "email", _("E-mail")
    WEBINAR = "webinar", _("Webinar")
    EVENT = "event", _("Event / trade show")
    ADVERTISING = "advertising", _("Advertising")
    CONTENT = "content", _("Content")
    SOCIAL = "social", _("Social")
    PARTNER = "partner", _("Partner")
    REFERRAL = "referral", _("Referral")
    OTHER = "other", _("Other")


class CampaignStatus(models.TextChoices):
    PLANNED = "planned", _("Planned")
    ACTIVE = "active", pgettext_lazy("campaign status", "Active")
    COMPLETED = "completed", _("Completed")
    ABORTED = "aborted", _("Aborted")


class ConsentBasis(models.TextChoices):
    NONE = "", _("None recorded")
    CONSENT = "consent", _("Consent")  # opt-in given, with source and time
    LEGITIMATE_INTEREST = "legitimate_interest", _("Legitimate interest")


def allowed_status_changes(status: str) -> list[str]:
    """The statuses a person may move a lead to from `status` (conversion has its own service)."""
    targets = LEAD_TRANSITIONS.get(status, set()) - {LeadStatus.CONVERTED}
    return [s for s in LeadStatus.values if s in targets]


def can_convert(status: str) -> bool:
    return LeadStatus.CONVERTED in LEAD_TRANSITIONS.get(status, set())


class TouchKind(models.TextChoices):
    FORM_SUBMISSION = "form_submission", _("Form submission")  # a web form was filled in
    IMPORT = "import", _("Import")  # the lead came (again) in an imported file
    API = "api", _("API capture")  # created or matched through the API
    MANUAL = "manual", _("Manual entry")
    EMAIL_SENT = "email_sent", _("E-mail sent")  # nurture: a sequence step or rule sent it
    EMAIL_OPEN = "email_open", _("E-mail opened")  # nurture tracking: the open pixel was loaded
    EMAIL_CLICK = "email_click", _("Link clicked")  # nurture tracking: a signed link was followed
    EMAIL_REPLY = "email_reply", _("E-mail replied")  # nurture: a reply to one of our messages came in
    EMAIL_BOUNCE = "email_bounce", _("E-mail bounced")  # nurture: the receiving server refused the address
    PAGE_VISIT = "page_visit", _("Page visit")


class ImportStatus(models.TextChoices):
    PENDING = "pending", _("Waiting")  # uploaded, mapping not confirmed or not started yet
    RUNNING = "running", _("Running")  # a worker is processing it
    SUCCEEDED = "succeeded", _("Finished")  # done (counts say what happened)
    FAILED = "failed", _("Failed")  # stopped by an error; nothing written (or only valid rows, by choice)
    CANCELLED = "cancelled", _("Cancelled")  # stopped by the user; nothing written


class OnDuplicate(models.TextChoices):
    SKIP = "skip", _("Skip duplicates")
    UPDATE = "update", _("Update the existing lead")
    CREATE = "create", _("Create anyway")


class ImportMode(models.TextChoices):
    ALL_OR_NOTHING = "all_or_nothing", _("All or nothing")  # any rejected row → nothing is written
    VALID_ROWS = "valid_rows", _("Import the valid rows")  # rejected rows are reported, the rest written


class LeadLanguage(models.TextChoices):
    """The language to write to a lead in (e-mail templates pick their version by it)."""

    EN = "en", _("English")
    ZH_HANS = "zh-hans", _("Chinese (Simplified)")
