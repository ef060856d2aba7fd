"""Leads and the campaigns they come from."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from l2c.core.models import TimeStampedModel
from l2c.core.visibility import VisibleQuerySet

from .choices import (
    CampaignStatus,
    CampaignType,
    ConsentBasis,
    ImportMode,
    ImportStatus,
    LeadLanguage,
    LeadSource,
    LeadStatus,
    OnDuplicate,
    TouchKind,
)


class CampaignQuerySet(VisibleQuerySet):
    """Campaigns are shared marketing records: every sales user and finance sees them."""

    def owner_q(self, user):
        from django.db.models import Q

        return Q()


class Campaign(TimeStampedModel):
    """A marketing effort that brings leads, with its budget and actual cost."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    type = models.CharField(_("type"), max_length=20, choices=CampaignType.choices, default=CampaignType.OTHER)
    status = models.CharField(_("status"), max_length=20, choices=CampaignStatus.choices, default=CampaignStatus.PLANNED)
    start_date = models.DateField(_("start date"), null=True, blank=True)
    end_date = models.DateField(_("end date"), null=True, blank=True)
    currency = models.CharField(_("currency"), max_length=3, default="USD")
    budget = models.DecimalField(_("budget"), max_digits=20, decimal_places=2, default=0)
    cost = models.DecimalField(_("actual cost"), max_digits=20, decimal_places=2, default=0)
    description = models.TextField(_("description"), blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("owner"), null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="campaigns")

    objects = CampaignQuerySet.as_manager()

    class Meta:
        ordering = ["-start_date", "name"]

    def __str__(self) -> str:
        return self.name


class LeadQuerySet(VisibleQuerySet):
    unassigned_to_managers = True


class Lead(TimeStampedModel):
    """A person (and their company) who might buy, before qualification."""

    # person
    first_name = models.CharField(_("first name"), max_length=100, blank=True)
    last_name = models.CharField(_("last name"), max_length=100)
    title = models.CharField(_("job title"), max_length=150, blank=True)
    email = models.EmailField(_("e-mail"), max_length=254, blank=True, db_index=True)
    phone = models.CharField(_("phone"), max_length=40, blank=True, db_index=True)
    # company
    company = models.CharField(_("company"), max_length=200, blank=True, db_index=True)
    website = models.CharField(_("website"), max_length=200, blank=True)
    industry = models.CharField(_("industry"), max_length=100, blank=True)
    company_size = models.CharField(_("company size"), max_length=20, blank=True)
    # the language to write to them in (empty: not known; e-mail templates then go by the country, else English)
    language = models.CharField(_("language"), max_length=10, choices=LeadLanguage.choices, blank=True)
    city = models.CharField(_("city"), max_length=100, blank=True)
    country = models.CharField(_("country"), max_length=2, blank=True, db_index=True)
    # origin
    source = models.CharField(_("source"), max_length=20, choices=LeadSource.choices, default=LeadSource.MANUAL, db_index=True)
    campaign = models.ForeignKey(Campaign, verbose_name=_("campaign"), null=True, blank=True,
                                 on_delete=models.SET_NULL, related_name="leads")
    utm_source = models.CharField(_("UTM source"), max_length=100, blank=True)
    utm_medium = models.CharField(_("UTM medium"), max_length=100, blank=True)
    utm_campaign = models.CharField(_("UTM campaign"), max_length=100, blank=True)
    utm_term = models.CharField(_("UTM term"), max_length=100, blank=True)
    utm_content = models.CharField(_("UTM content"), max_length=100, blank=True)
    # consent
    consent_basis = models.CharField(_("consent basis"), max_length=30, choices=ConsentBasis.choices, blank=True)
    consent_text = models.TextField(_("consent text shown"), blank=True)
    consent_at = models.DateTimeField(_("consent given at"), null=True, blank=True)
    consent_source = models.CharField(_("consent source"), max_length=200, blank=True)
    consent_ip = models.GenericIPAddressField(_("consent IP"), null=True, blank=True)
    # work
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("owner"), null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="leads")
    status = models.CharField(_("status"), max_length=20, choices=LeadStatus.choices, default=LeadStatus.NEW, db_index=True)
    status_changed_at = models.DateTimeField(_("status changed at"), null=True, blank=True)
    disqualified_reason = models.CharField(_("disqualification reason"), max_length=200, blank=True)
    score = models.IntegerField(_("score"), null=True, blank=True)  # filled by lead scoring (nurture)
    description = models.TextField(_("notes"), blank=True)
    # conversion: plain ids, because leads may not import the later customers→pipeline links
    converted_at = models.DateTimeField(_("converted at"), null=True, blank=True)
    converted_account = models.ForeignKey("customers.Account", verbose_name=_("converted account"), null=True, blank=True, on_delete=models.SET_NULL,
                                          related_name="converted_leads")
    converted_contact = models.ForeignKey("customers.Contact", verbose_name=_("converted contact"), null=True, blank=True, on_delete=models.SET_NULL,
                                          related_name="converted_leads")
    converted_opportunity_id = models.BigIntegerField(_("converted opportunity"), null=True, blank=True)
    # set when this lead was merged into another (hidden from lists; undo clears it)
    merged_into = models.ForeignKey("self", verbose_name=_("merged into"), null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="merged_leads")

    objects = LeadQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["owner", "status"]),
            models.Index(fields=["status", "-created_at"]),
            # a repeat web-form submission finds the open lead by e-mail whatever its letter case
            models.Index(Lower("email"), name="leads_lead_email_lower"),
            # No index may contain `score`: a full re-score rewrites it on every lead, and only an update that
            # touches no indexed column can be HOT (no index entries written: ~20 times less work per row).
            # The lead board sorts a status's leads by score without one (docs/benchmarks.md, lead scoring).
        ]

    def __str__(self) -> str:
        name = self.full_name
        return f"{name} ({self.company})" if self.company else name

    @property
    def full_name(self) -> str:
        if any("\u4e00" <= ch <= "\u9fff" for ch in self.last_name + self.first_name):
            return f"{self.last_name}{self.first_name}"
        return " ".join(p for p in (self.first_name, self.last_name) if p)


def _form_key() -> str:
    import secrets

    return secrets.token_urlsafe(16)


class WebFormQuerySet(VisibleQuerySet):
    """Forms are configured by admins and managers; reps and finance do not see them."""

    def owner_q(self, user):
        from django.db.models import Q

        from l2c.core.visibility import Role

        if getattr(user, "role", None) in (Role.ADMIN, Role.MANAGER) or getattr(user, "is_superuser", False):
            return Q()
        return Q(pk__in=[])


class WebForm(TimeStampedModel):
    """A public lead-capture form: its fields, where its leads go, and what the visitor sees after."""

    key = models.CharField(_("form key"), max_length=40, unique=True, default=_form_key)
    name = models.CharField(_("name"), max_length=200)
    # [{"name": "email", "label": "Work e-mail", "required": true}, ...]; names are Lead fields
    fields = models.JSONField(_("fields"), default=list)
    campaign = models.ForeignKey(Campaign, verbose_name=_("campaign"), null=True, blank=True,
                                 on_delete=models.SET_NULL, related_name="web_forms")
    source = models.CharField(_("source"), max_length=20, choices=LeadSource.choices, default=LeadSource.WEB_FORM)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("owner of new leads"), null=True,
                              blank=True, on_delete=models.SET_NULL, related_name="+",
                              help_text=_("Empty: the assignment rules decide."))
    consent_text = models.TextField(_("consent text"), blank=True)
    consent_required = models.BooleanField(_("consent required"), default=False)
    thank_you_text = models.TextField(_("thank-you text"), blank=True)
    redirect_url = models.URLField(_("redirect after submit"), max_length=500, blank=True)
    allowed_origins = models.TextField(_("allowed origins"), blank=True,
                                       help_text=_("One per line, e.g. https://www.example.com; empty: any."))
    is_active = models.BooleanField(_("active"), default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    objects = WebFormQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class Touch(models.Model):
    """One interaction of a lead with us: a form fill, an import or API capture; later opens and clicks."""

    lead = models.ForeignKey(Lead, verbose_name=_("lead"), on_delete=models.CASCADE, related_name="touches")
    kind = models.CharField(_("type"), max_length=20, choices=TouchKind.choices)
    occurred_at = models.DateTimeField(_("when"), db_index=True)
    source = models.CharField(_("source"), max_length=20, choices=LeadSource.choices, blank=True)
    campaign = models.ForeignKey(Campaign, verbose_name=_("campaign"), null=True, blank=True,
                                 on_delete=models.SET_NULL, related_name="touches")
    form = models.ForeignKey(WebForm, verbose_name=_("form"), null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="touches")
    import_job = models.ForeignKey("leads.ImportJob", verbose_name=_("import"), null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="touches")
    utm_source = models.CharField(_("UTM source"), max_length=100, blank=True)
    utm_medium = models.CharField(_("UTM medium"), max_length=100, blank=True)
    utm_campaign = models.CharField(_("UTM campaign"), max_length=100, blank=True)
    utm_term = models.CharField(_("UTM term"), max_length=100, blank=True)
    utm_content = models.CharField(_("UTM content"), max_length=100, blank=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    user_agent = models.CharField(_("browser"), max_length=300, blank=True)
    referrer = models.CharField(_("referrer"), max_length=500, blank=True)
    data = models.JSONField(_("submitted values"), default=dict, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["lead", "-occurred_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.occurred_at:%Y-%m-%d %H:%M}"


class ImportJobQuerySet(VisibleQuerySet):
    owner_field = "created_by"


class ImportJob(TimeStampedModel):
    """One upload of a CSV/XLSX file of leads: its mapping, options, progress and result."""

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("imported by"), null=True,
                                   on_delete=models.SET_NULL, related_name="lead_imports")
    status = models.CharField(_("status"), max_length=20, choices=ImportStatus.choices, default=ImportStatus.PENDING,
                              db_index=True)
    file = models.FileField(_("file"), upload_to="imports/%Y/%m/", max_length=300)
    original_name = models.CharField(_("file name"), max_length=255)
    size = models.BigIntegerField(_("size in bytes"), default=0)
    file_format = models.CharField(_("format"), max_length=10, blank=True)  # csv | xlsx
    encoding = models.CharField(_("encoding"), max_length=20, blank=True)
    delimiter = models.CharField(_("delimiter"), max_length=4, blank=True)
    headers = models.JSONField(_("columns"), default=list, blank=True)
    mapping = models.JSONField(_("column mapping"), default=dict, blank=True)  # column header → lead field
    preview = models.JSONField(_("preview"), default=list, blank=True)  # the first data rows, for the mapping step
    dry_run = models.BooleanField(_("dry run"), default=False)
    on_duplicate = models.CharField(_("on duplicate"), max_length=10, choices=OnDuplicate.choices,
                                    default=OnDuplicate.SKIP)
    mode = models.CharField(_("mode"), max_length=20, choices=ImportMode.choices, default=ImportMode.VALID_ROWS)
    default_region = models.CharField(_("default phone region"), max_length=2, blank=True)
    # defaults for every row: {"owner": id, "campaign": id, "source": "import", "status": "new"}
    defaults = models.JSONField(_("defaults"), default=dict, blank=True)
    rows_total = models.PositiveIntegerField(_("rows"), default=0)
    rows_processed = models.PositiveIntegerField(_("rows processed"), default=0)
    created_count = models.PositiveIntegerField(_("created"), default=0)
    updated_count = models.PositiveIntegerField(_("updated"), default=0)
    skipped_count = models.PositiveIntegerField(_("skipped as duplicate"), default=0)
    rejected_count = models.PositiveIntegerField(_("rejected"), default=0)
    # imported rows whose address is on the suppression list (imported, never e-mailed)
    suppressed_count = models.PositiveIntegerField(_("on the suppression list"), default=0)
    error_report = models.FileField(_("error report"), upload_to="imports/errors/%Y/%m/", max_length=300, blank=True)
    error_message = models.TextField(_("error"), blank=True)
    cancel_requested = models.BooleanField(_("cancel requested"), default=False)
    # start requested (the job waits in the queue until a worker marks it running)
    queued_at = models.DateTimeField(_("queued"), null=True, blank=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    objects = ImportJobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.original_name} ({self.get_status_display()})"


class AssignmentRuleQuerySet(VisibleQuerySet):
    """Rules are routing policy set by admins and managers; every manager sees all of them (the order
    matters across teams), reps and finance none."""

    def owner_q(self, user):
        from django.db.models import Q

        from l2c.core.visibility import Role

        if getattr(user, "role", None) in (Role.ADMIN, Role.MANAGER) or getattr(user, "is_superuser", False):
            return Q()
        return Q(pk__in=[])


class AssignmentRule(TimeStampedModel):
    """Who gets a new lead: conditions (country, source, campaign) and an owner or a team's round-robin."""

    name = models.CharField(_("name"), max_length=200)
    priority = models.PositiveIntegerField(_("priority"), default=100, help_text=_("Lower runs first."))
    is_active = models.BooleanField(_("active"), default=True)
    countries = models.JSONField(_("countries"), default=list, blank=True)  # ISO codes; empty: any
    sources = models.JSONField(_("sources"), default=list, blank=True)  # LeadSource values; empty: any
    campaign = models.ForeignKey(Campaign, verbose_name=_("campaign"), null=True, blank=True,
                                 on_delete=models.CASCADE, related_name="assignment_rules")
    assign_to = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("assign to"), null=True, blank=True,
                                  on_delete=models.CASCADE, related_name="+")
    team = models.ForeignKey("identity.Team", verbose_name=_("round-robin in team"), null=True, blank=True,
                             on_delete=models.CASCADE, related_name="assignment_rules")
    # round-robin cursor: the member who got the last lead (locked with select_for_update)
    last_assigned = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                      related_name="+")

    objects = AssignmentRuleQuerySet.as_manager()

    class Meta:
        ordering = ["priority", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(assign_to__isnull=False) | models.Q(team__isnull=False),
                name="assignment_rule_has_target",
            )
        ]

    def __str__(self) -> str:
        return self.name


class MergeRecord(models.Model):
    """A merge of duplicate leads or contacts, with what is needed to undo it."""

    class Kind(models.TextChoices):
        LEAD = "lead", _("Leads")
        CONTACT = "contact", _("Contacts")

    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    survivor_id = models.BigIntegerField(_("survivor"))
    merged_ids = models.JSONField(_("merged records"), default=list)
    # survivor's values before the merge, the merged records' values, and the ids of moved rows
    snapshot = models.JSONField(default=dict)
    merged_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    merged_at = models.DateTimeField(_("merged at"), auto_now_add=True)
    undone_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+")
    undone_at = models.DateTimeField(_("undone at"), null=True, blank=True)

    class Meta:
        ordering = ["-merged_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} merge into #{self.survivor_id}"


# --- duplicate finder (leads.dedupe) ----------------------------------------------------------------

class DuplicateScan(models.Model):
    """One run of the duplicate finder over every lead and contact: when, how long, what it found."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")  # requested; waits for a worker
        RUNNING = "running", _("Running")  # a worker is comparing records
        DONE = "done", _("Finished")  # its groups replaced the previous scan's
        FAILED = "failed", _("Failed")  # stopped with an error (kept in `error`); earlier groups stay

    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.QUEUED,
                              db_index=True)
    threshold = models.PositiveSmallIntegerField(_("similarity threshold"), default=90)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("requested by"), null=True,
                                     blank=True, on_delete=models.SET_NULL, related_name="+")
    requested_at = models.DateTimeField(_("requested"), auto_now_add=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    records_compared = models.PositiveIntegerField(_("records compared"), default=0)
    pairs_found = models.PositiveIntegerField(_("pairs found"), default=0)
    groups_found = models.PositiveIntegerField(_("groups found"), default=0)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]

    def __str__(self) -> str:
        return f"duplicate scan #{self.pk} ({self.status})"


class DuplicateGroup(models.Model):
    """Records the last duplicate scan found to be one person: leads, contacts or both."""

    class Kind(models.TextChoices):
        LEAD = "lead", _("Leads")  # only leads
        CONTACT = "contact", _("Contacts")  # only contacts
        MIXED = "mixed", _("Leads and contacts")  # a lead that already is a contact

    scan = models.ForeignKey(DuplicateScan, on_delete=models.CASCADE, related_name="groups")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, db_index=True)
    size = models.PositiveIntegerField(_("records"))
    score = models.PositiveSmallIntegerField(_("best score"))

    class Meta:
        ordering = ["-score", "-size", "id"]

    def __str__(self) -> str:
        return f"{self.kind} duplicates ({self.size})"


class DuplicateMember(models.Model):
    """One lead or contact in a duplicate group."""

    group = models.ForeignKey(DuplicateGroup, on_delete=models.CASCADE, related_name="members")
    lead = models.ForeignKey(Lead, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    contact = models.ForeignKey("customers.Contact", null=True, blank=True, on_delete=models.CASCADE,
                                related_name="+")

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(lead__isnull=False, contact__isnull=True)
                | models.Q(lead__isnull=True, contact__isnull=False),
                name="duplicate_member_is_lead_or_contact",
            )
        ]

    def __str__(self) -> str:
        return f"lead #{self.lead_id}" if self.lead_id else f"contact #{self.contact_id}"


class DuplicatePair(models.Model):
    """Why two records of a group match: a score (0–100) and the reasons."""

    group = models.ForeignKey(DuplicateGroup, on_delete=models.CASCADE, related_name="pairs")
    a_kind = models.CharField(max_length=10)  # "lead" | "contact"
    a_id = models.BigIntegerField()
    b_kind = models.CharField(max_length=10)
    b_id = models.BigIntegerField()
    score = models.PositiveSmallIntegerField(_("score"))
    # [{"code": "email"|"phone"|"name_company", "score": 93}, ...]
    reasons = models.JSONField(_("reasons"), default=list)

    class Meta:
        ordering = ["-score", "id"]
        indexes = [models.Index(fields=["a_kind", "a_id"]), models.Index(fields=["b_kind", "b_id"])]

    def __str__(self) -> str:
        return f"{self.a_kind} #{self.a_id} ~ {self.b_kind} #{self.b_id} ({self.score})"
