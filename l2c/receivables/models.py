"""Receivables: collecting what posted invoices ask for — dunning levels and the reminders sent, per-invoice
collection flags (disputed, promise to pay), and the customer's portal links to their invoices and statement.

Invoices themselves belong to billing; this app only reads them and keeps its own rows beside them.
"""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from l2c.core.models import TimeStampedModel


class DunningLevel(TimeStampedModel):
    """One step of the reminder ladder: reached when an invoice is `days_overdue` days past its due date."""

    name = models.CharField(_("name"), max_length=80)
    days_overdue = models.PositiveIntegerField(_("days overdue"), unique=True)
    email_subject = models.CharField(_("e-mail subject"), max_length=200)
    email_body = models.TextField(_("e-mail text"))
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["days_overdue"]
        verbose_name = _("dunning level")
        verbose_name_plural = _("dunning levels")
        constraints = [models.CheckConstraint(condition=Q(days_overdue__gte=1), name="dunning_level_days_positive")]

    def __str__(self) -> str:
        return f"{self.name} ({self.days_overdue})"


class InvoiceCollection(TimeStampedModel):
    """Collection state of one invoice: disputed (dunning pauses), a promise to pay by a date, last sending."""

    invoice = models.OneToOneField("billing.Invoice", on_delete=models.CASCADE, related_name="collection")
    disputed = models.BooleanField(_("disputed"), default=False)
    dispute_note = models.TextField(_("dispute note"), blank=True)
    promise_to_pay_date = models.DateField(_("promised payment date"), null=True, blank=True)
    # the last time the invoice was e-mailed: dunning writes to the address the customer last got it at
    sent_to = models.CharField(_("last sent to"), max_length=254, blank=True)
    sent_at = models.DateTimeField(_("last sent at"), null=True, blank=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        verbose_name = _("invoice collection flags")

    def __str__(self) -> str:
        return f"{self.invoice_id}"


class DunningRun(models.Model):
    """One day's dunning run: when it ran and what it sent (one row per day makes the run idempotent)."""

    run_date = models.DateField(_("date"), unique=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    emails_sent = models.PositiveIntegerField(default=0)
    invoices_reminded = models.PositiveIntegerField(default=0)
    failures = models.JSONField(default=list, blank=True)  # [{"account": id, "error": text}]

    class Meta:
        ordering = ["-run_date"]
        verbose_name = _("dunning run")

    def __str__(self) -> str:
        return str(self.run_date)


class DunningEvent(models.Model):
    """One invoice reminded at one level: which e-mail it went out in, and when."""

    invoice = models.ForeignKey("billing.Invoice", on_delete=models.CASCADE, related_name="dunning_events")
    level = models.ForeignKey(DunningLevel, on_delete=models.PROTECT, related_name="events")
    run = models.ForeignKey(DunningRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="events")
    sent_at = models.DateTimeField(_("sent at"))
    email_to = models.CharField(_("sent to"), max_length=254)
    email_subject = models.CharField(_("subject"), max_length=200)
    balance = models.DecimalField(_("balance"), max_digits=20, decimal_places=4)
    days_overdue = models.PositiveIntegerField(_("days overdue"))

    class Meta:
        ordering = ["-sent_at", "-id"]
        verbose_name = _("dunning event")
        constraints = [models.UniqueConstraint(fields=["invoice", "level"], name="dunning_event_once_per_level")]

    def __str__(self) -> str:
        return f"{self.invoice_id} @ {self.level_id}"


class CustomerPortalLink(TimeStampedModel):
    """A customer's link to their open invoices and statement; only the token's SHA-256 is stored."""

    token_hash = models.CharField(max_length=64, unique=True)
    token_prefix = models.CharField(max_length=12)
    account = models.ForeignKey("customers.Account", on_delete=models.CASCADE, related_name="portal_links")
    email = models.EmailField(_("e-mail"), blank=True)
    expires_at = models.DateTimeField(_("expires at"))
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("customer portal link")

    def __str__(self) -> str:
        return f"{self.token_prefix}…"
