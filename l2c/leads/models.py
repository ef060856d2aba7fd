"""Leads and the campaigns they come from."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from l2c.core.models import TimeStampedModel
from l2c.core.visibility import VisibleQuerySet

from .choices import CampaignStatus, CampaignType, ConsentBasis, LeadSource, LeadStatus


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

    objects = LeadQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["owner", "status"]),
            models.Index(fields=["status", "-created_at"]),
        ]

    def __str__(self) -> str:
        name = self.full_name
        return f"{name} ({self.company})" if self.company else name

    @property
    def full_name(self) -> str:
        if any("\u4e00" <= ch <= "\u9fff" for ch in self.last_name + self.first_name):
            return f"{self.last_name}{self.first_name}"
        return " ".join(p for p in (self.first_name, self.last_name) if p)
