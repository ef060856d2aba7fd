"""E-mail templates (one version per language), the suppression list and the nurture settings."""
from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from .choices import (
    FALLBACK_LANGUAGE,
    Grade,
    ModelStatus,
    RuleKind,
    RuleOperator,
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
