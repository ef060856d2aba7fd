"""Customers: the companies (accounts) and people (contacts) L2C sells to."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from l2c.core.models import TimeStampedModel
from l2c.core.visibility import VisibleQuerySet


class CompanySize(models.TextChoices):
    S1_10 = "1-10", "1–10"
    S11_50 = "11-50", "11–50"
    S51_200 = "51-200", "51–200"
    S201_1000 = "201-1000", "201–1,000"
    S1001_5000 = "1001-5000", "1,001–5,000"
    S5000_PLUS = "5000+", "5,000+"


class AccountQuerySet(VisibleQuerySet):
    finance_visible = True  # finance bills every customer


class Account(TimeStampedModel):
    """A company that is, or may become, a customer."""

    name = models.CharField(_("name"), max_length=200, db_index=True)
    website = models.CharField(_("website"), max_length=200, blank=True)
    domain = models.CharField(_("e-mail domain"), max_length=200, blank=True, db_index=True)
    industry = models.CharField(_("industry"), max_length=100, blank=True)
    size = models.CharField(_("size"), max_length=20, choices=CompanySize.choices, blank=True)
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    street = models.CharField(_("street"), max_length=200, blank=True)
    city = models.CharField(_("city"), max_length=100, blank=True)
    region = models.CharField(_("state / province"), max_length=100, blank=True)
    postal_code = models.CharField(_("postal code"), max_length=20, blank=True)
    country = models.CharField(_("country"), max_length=2, blank=True, help_text=_("ISO 3166-1 alpha-2, e.g. CN, US, GB"))
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("owner"), null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="accounts")
    # customer segment (e.g. "enterprise", "smb", "education"): picks the price book of a quote
    segment = models.CharField(_("segment"), max_length=40, blank=True, db_index=True)
    description = models.TextField(_("description"), blank=True)

    objects = AccountQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["owner", "name"])]

    def __str__(self) -> str:
        return self.name


class ContactQuerySet(VisibleQuerySet):
    finance_visible = True


class Contact(TimeStampedModel):
    """A person at an account."""

    account = models.ForeignKey(Account, verbose_name=_("account"), on_delete=models.PROTECT, related_name="contacts")
    first_name = models.CharField(_("first name"), max_length=100, blank=True)
    last_name = models.CharField(_("last name"), max_length=100)
    title = models.CharField(_("job title"), max_length=150, blank=True)
    email = models.EmailField(_("e-mail"), max_length=254, blank=True, db_index=True)
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    mobile = models.CharField(_("mobile"), max_length=40, blank=True)
    country = models.CharField(_("country"), max_length=2, blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("owner"), null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="contacts")

    # set when this contact was merged into another (hidden from lists; undo clears it)
    merged_into = models.ForeignKey("self", verbose_name=_("merged into"), null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="merged_contacts")

    objects = ContactQuerySet.as_manager()

    class Meta:
        ordering = ["last_name", "first_name", "id"]

    def __str__(self) -> str:
        return self.full_name

    @property
    def full_name(self) -> str:
        # Chinese names read family name first, with no space.
        if any("\u4e00" <= ch <= "\u9fff" for ch in self.last_name + self.first_name):
            return f"{self.last_name}{self.first_name}"
        return " ".join(p for p in (self.first_name, self.last_name) if p)
