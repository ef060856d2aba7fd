"""E-mail templates (one version per language), the suppression list and the nurture settings."""
from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from .choices import FALLBACK_LANGUAGE, SuppressionReason, TemplateLanguage


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
