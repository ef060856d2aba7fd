"""E-mail templates (one version per language), the suppression list, the nurture settings, lead scoring, and
e-mail sequences: their steps, the leads enrolled in them and every message sent."""
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from .choices import (
    FALLBACK_LANGUAGE,
    BranchCondition,
    EnrollmentSource,
    EnrollmentStatus,
    ExitReason,
    Grade,
    MessageStatus,
    ModelStatus,
    RuleKind,
    RuleOperator,
    SequenceStatus,
    StepKind,
    SuppressionReason,
    TemplateLanguage,
)


class EmailTemplate(models.Model):
    """A named e-mail (subject and body with merge fields) in one or more languages."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    description = models.TextField(_("description"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("e-mail template")

    def __str__(self):
        return self.name

    def version(self, language: str):
        """The version in `language`, else the English one, else any (None when there is none)."""
        versions = {v.language: v for v in self.versions.all()}
        return versions.get(language) or versions.get(FALLBACK_LANGUAGE) or next(iter(versions.values()), None)


class EmailTemplateVersion(models.Model):
    """A template's subject and bodies in one language."""

    template = models.ForeignKey(EmailTemplate, on_delete=models.CASCADE, related_name="versions")
    language = models.CharField(_("language"), max_length=10, choices=TemplateLanguage.choices)
    subject = models.CharField(_("subject"), max_length=250)
    html = models.TextField(_("HTML body"))
    text = models.TextField(_("plain-text body"), blank=True)  # empty: derived from the HTML when rendered
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["template", "language"]
        constraints = [models.UniqueConstraint(fields=["template", "language"], name="nurture_version_language")]

    def __str__(self):
        return f"{self.template_id} [{self.language}]"


class Suppression(models.Model):
    """An address L2C never e-mails (unsubscribed, bounced, complained or added by hand)."""

    email = models.EmailField(_("e-mail"), max_length=254, unique=True)  # stripped and lower-cased
    reason = models.CharField(_("reason"), max_length=20, choices=SuppressionReason.choices,
                              default=SuppressionReason.MANUAL)
    source = models.CharField(_("source"), max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("suppressed address")

    def __str__(self):
        return self.email


class NurtureSettings(models.Model):
    """Nurture settings (one row): whether legitimate interest is a lawful basis for e-mailing leads."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    legitimate_interest_allowed = models.BooleanField(_("legitimate interest allowed"), default=False)
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("nurture settings")

    def __str__(self):
        return "nurture settings"

    @classmethod
    def get(cls) -> "NurtureSettings":
        found = cls.objects.select_related("changed_by").filter(pk=1).first()
        return found if found is not None else cls(pk=1)


class ScoringRule(models.Model):
    """One way a lead earns (or loses) points: a fit condition on a lead field, or points per touch of a kind
    that decay with the touch's age."""

    name = models.CharField(_("name"), max_length=200, blank=True)
    kind = models.CharField(_("kind"), max_length=20, choices=RuleKind.choices)
    field = models.CharField(_("lead field"), max_length=40, blank=True)  # fit rules
    operator = models.CharField(_("operator"), max_length=20, choices=RuleOperator.choices, blank=True)
    value = models.CharField(_("value"), max_length=500, blank=True)
    touch_kind = models.CharField(_("touch kind"), max_length=40, blank=True)  # engagement rules
    points = models.IntegerField(_("points"))  # fit: when it matches; engagement: per touch
    cap = models.PositiveIntegerField(_("cap"), null=True, blank=True)  # engagement: at most this many points
    half_life_days = models.PositiveIntegerField(_("half-life in days"), null=True, blank=True)  # none: no decay
    is_active = models.BooleanField(_("active"), default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kind", "id"]
        verbose_name = _("scoring rule")

    def __str__(self):
        return self.name or f"{self.kind} #{self.pk}"


class ScoringModel(models.Model):
    """One training of the predictive model: its metrics and, when active, its coefficients (stored as
    numbers, so scoring never unpickles anything)."""

    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    status = models.CharField(_("status"), max_length=20, choices=ModelStatus.choices)
    metrics = models.JSONField(_("metrics"), default=dict)  # counts, auc, calibration
    feature_names = models.JSONField(default=list)  # ["country=CN", "country=*other*", "touches:form_submission", …]
    coefficients = models.JSONField(default=list)  # one per feature name
    intercept = models.FloatField(default=0.0)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("scoring model")

    def __str__(self):
        return f"model #{self.pk} ({self.status})"


class LeadScore(models.Model):
    """A lead's latest score: rule score (fit + engagement), the model's probability, grade and the factors
    that explain it."""

    lead = models.OneToOneField("leads.Lead", primary_key=True, on_delete=models.CASCADE, related_name="score_detail")
    score = models.IntegerField(_("score"))  # what is shown: the model's when one is active, else the rule score
    rule_score = models.IntegerField(_("rule score"))
    fit = models.FloatField(_("fit points"))
    engagement = models.FloatField(_("engagement points"))
    probability = models.FloatField(_("probability"), null=True, blank=True)
    grade = models.CharField(_("grade"), max_length=1, choices=Grade.choices)
    factors = models.JSONField(_("factors"), default=list)  # [{"text", "points"|"weight", + what to re-word it}]
    scored_at = models.DateTimeField(_("scored at"))

    class Meta:
        verbose_name = _("lead score")

    def __str__(self):
        return f"{self.lead_id}: {self.score} {self.grade}"


class Sequence(models.Model):
    """An ordered series of steps (e-mails, waits, tasks, branches) that leads are enrolled in."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    description = models.TextField(_("description"), blank=True)
    status = models.CharField(_("status"), max_length=20, choices=SequenceStatus.choices,
                              default=SequenceStatus.DRAFT, db_index=True)
    from_name = models.CharField(_("sender name"), max_length=200, blank=True)  # blank: the company's name
    from_email = models.EmailField(_("sender address"), max_length=254, blank=True)  # blank: DEFAULT_FROM_EMAIL
    exit_on_reply = models.BooleanField(_("exit when the lead replies"), default=True)
    exit_on_conversion = models.BooleanField(_("exit when the lead converts"), default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("sequence")

    def __str__(self):
        return self.name


class SequenceStep(models.Model):
    """One step of a sequence, at its 1-based position."""

    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveIntegerField(_("position"))
    kind = models.CharField(_("kind"), max_length=20, choices=StepKind.choices)
    # e-mail
    template = models.ForeignKey(EmailTemplate, verbose_name=_("template"), null=True, blank=True,
                                 on_delete=models.PROTECT, related_name="steps")
    # wait
    wait_days = models.PositiveIntegerField(_("days"), default=0)
    wait_hours = models.PositiveIntegerField(_("hours"), default=0)
    # task
    task_subject = models.CharField(_("task"), max_length=200, blank=True)
    task_due_days = models.PositiveIntegerField(_("due in days"), default=0)
    # branch: when the condition holds go to `if_true`, else to `if_false` (a position; None: the next step;
    # 0: finish the sequence)
    condition = models.CharField(_("condition"), max_length=20, choices=BranchCondition.choices, blank=True)
    condition_value = models.IntegerField(_("value"), null=True, blank=True)  # the score for score_at_least
    if_true = models.PositiveIntegerField(_("then go to step"), null=True, blank=True)
    if_false = models.PositiveIntegerField(_("else go to step"), null=True, blank=True)

    class Meta:
        ordering = ["sequence", "position"]
        constraints = [models.UniqueConstraint(fields=["sequence", "position"], name="nurture_step_position")]
        verbose_name = _("sequence step")

    def __str__(self):
        return f"{self.sequence_id} #{self.position} {self.kind}"


class Enrollment(models.Model):
    """A lead going through a sequence: where it is, when its next step is due, and how it ended."""

    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="enrollments")
    lead = models.ForeignKey("leads.Lead", on_delete=models.CASCADE, related_name="enrollments")
    status = models.CharField(_("status"), max_length=20, choices=EnrollmentStatus.choices,
                              default=EnrollmentStatus.ACTIVE)
    exit_reason = models.CharField(_("exit reason"), max_length=20, choices=ExitReason.choices, blank=True)
    position = models.PositiveIntegerField(_("next step"), default=1)  # the step to run next
    next_run_at = models.DateTimeField(_("next step due"), null=True, blank=True)
    source = models.CharField(_("enrolled"), max_length=20, choices=EnrollmentSource.choices,
                              default=EnrollmentSource.MANUAL)
    enrolled_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    enrolled_at = models.DateTimeField(_("enrolled at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        ordering = ["-enrolled_at", "-id"]
        verbose_name = _("enrolment")
        constraints = [models.UniqueConstraint(fields=["sequence", "lead"], condition=Q(status="active"),
                                               name="nurture_one_active_enrollment")]
        indexes = [models.Index(fields=["status", "next_run_at"]), models.Index(fields=["lead", "status"])]

    def __str__(self):
        return f"{self.lead_id} in {self.sequence_id} ({self.status})"


class EmailMessage(models.Model):
    """One e-mail to one lead (a sequence step's, or an automation rule's): what was sent, its delivery and
    what the recipient did with it. `token` names it in tracking links; `message_id` matches replies."""

    token = models.CharField(max_length=32, unique=True)
    message_id = models.CharField(_("Message-ID"), max_length=250, unique=True)
    enrollment = models.ForeignKey(Enrollment, null=True, blank=True, on_delete=models.CASCADE,
                                   related_name="messages")
    step = models.ForeignKey(SequenceStep, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages")
    # Any other sender's key for "send once" (e.g. "rule:12:run:345"); sequence steps use (enrollment, step).
    idempotency_key = models.CharField(max_length=200, null=True, blank=True, unique=True)
    lead = models.ForeignKey("leads.Lead", null=True, blank=True, on_delete=models.SET_NULL, related_name="emails")
    template = models.ForeignKey(EmailTemplate, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    language = models.CharField(_("language"), max_length=10, blank=True)
    to_email = models.EmailField(_("to"), max_length=254)
    from_email = models.CharField(_("from"), max_length=320)
    subject = models.CharField(_("subject"), max_length=250)
    html = models.TextField(blank=True)
    text = models.TextField(blank=True)
    status = models.CharField(_("status"), max_length=20, choices=MessageStatus.choices,
                              default=MessageStatus.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    smtp_response = models.CharField(_("server response"), max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    opened_at = models.DateTimeField(_("first opened at"), null=True, blank=True)
    clicked_at = models.DateTimeField(_("first clicked at"), null=True, blank=True)
    replied_at = models.DateTimeField(_("replied at"), null=True, blank=True)
    bounced_at = models.DateTimeField(_("bounced at"), null=True, blank=True)
    open_count = models.PositiveIntegerField(default=0)
    click_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("e-mail message")
        constraints = [models.UniqueConstraint(fields=["enrollment", "step"], name="nurture_message_once_per_step")]
        indexes = [models.Index(fields=["status", "next_attempt_at"]), models.Index(fields=["step", "status"])]

    def __str__(self):
        return f"{self.to_email}: {self.subject}"


class SendWindow(models.Model):
    """How many messages a sending domain has sent in one minute (the per-domain throttle)."""

    domain = models.CharField(max_length=253)
    minute = models.DateTimeField()  # the start of the minute
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["domain", "minute"], name="nurture_send_window")]

    def __str__(self):
        return f"{self.domain} {self.minute:%Y-%m-%d %H:%M}: {self.count}"
