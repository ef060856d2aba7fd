"""Shared model bases and the cross-cutting records: the audit trail and idempotency keys."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class TimeStampedModel(models.Model):
    """Base for business records: when created and last changed."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class AuditEvent(models.Model):
    """One create, update, state change or deletion of a business record; append-only, hash-chained.

    Written without chain fields inside the business transaction; sealed after commit (core.audit
    `seal_pending`): `chain_seq`, `prev_hash` and `hash` are set once, in commit order, and never again.
    """

    class Action(models.TextChoices):
        CREATE = "create", _("created")  # the record was created
        UPDATE = "update", _("updated")  # fields changed
        TRANSITION = "transition", _("changed state")  # a state (status/stage) changed through its service
        DELETE = "delete", _("deleted")  # the record was deleted
        MERGE = "merge", _("merged")  # records were merged into this one
        ACCESS = "access", _("security event")  # a security event (token created/revoked, lock-out)

    occurred_at = models.DateTimeField(db_index=True)
    # Stored as plain columns, not a constrained FK: an audit row never changes, even when a user goes.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DO_NOTHING,
        db_constraint=False, related_name="+",
    )
    actor_label = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=20, choices=Action.choices)
    object_type = models.CharField(max_length=100)  # "<app_label>.<model>"
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=200, blank=True)
    changes = models.JSONField(default=dict, blank=True)  # {field: [before, after]}
    # The chain, set once when the event is sealed after its transaction committed (NULL until then).
    chain_seq = models.BigIntegerField(null=True, blank=True, unique=True)
    prev_hash = models.CharField(max_length=64, null=True, blank=True)
    hash = models.CharField(max_length=64, unique=True, null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["object_type", "object_id", "id"]),
            # the sealer's queue: small, since events are sealed right after their commit
            models.Index(fields=["id"], condition=models.Q(chain_seq__isnull=True), name="core_audit_unsealed"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.action} {self.object_type}:{self.object_id}"


class AuditChainHead(models.Model):
    """The last sealed event of the audit chain; locked by the sealer (only) so the chain stays linear."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.BigIntegerField(default=0)  # chain_seq of the last sealed event
    last_event_id = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default="0" * 64)
    # Events up to this chain_seq were chained before chain_seq existed: their hash does not cover it.
    legacy_seq = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"audit head #{self.last_event_id}"


class IdempotencyRecord(models.Model):
    """The first response to a creating POST sent with an Idempotency-Key, replayed on a retry."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    response_body = models.TextField()
    content_type = models.CharField(max_length=100, default="application/json")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_unique_user_key")]

    def __str__(self) -> str:
        return f"{self.method} {self.path} [{self.key}]"


class NumberSequence(models.Model):
    """The last number handed out in a document series and year (quotes, contracts, invoices).

    `core.numbering.next_number` takes the row with SELECT … FOR UPDATE inside the caller's
    transaction: numbers are unique and gapless (a rolled-back transaction gives its number back).
    """

    series = models.CharField(max_length=20)
    year = models.PositiveSmallIntegerField()
    last_value = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["series", "year"], name="number_sequence_unique_series_year")]

    def __str__(self) -> str:
        return f"{self.series}-{self.year}: {self.last_value}"


class CompanyProfile(models.Model):
    """The company using L2C (one row): what its documents print and the currency its books are in."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    name = models.CharField(_("company name"), max_length=200, default="L2C Demo Ltd")
    legal_name = models.CharField(_("legal name"), max_length=200, blank=True)
    address = models.TextField(_("address"), blank=True)
    country = models.CharField(_("country"), max_length=2, default="CN")
    tax_id = models.CharField(_("tax ID"), max_length=60, blank=True)
    email = models.EmailField(_("e-mail"), blank=True)
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    website = models.CharField(_("website"), max_length=200, blank=True)
    currency = models.CharField(_("company currency"), max_length=3, default="CNY")
    logo = models.BinaryField(_("logo"), blank=True, null=True, editable=True)  # PNG, JPEG or SVG bytes
    logo_type = models.CharField(max_length=40, blank=True)  # its MIME type
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("company profile")

    def __str__(self) -> str:
        return self.name

    @classmethod
    def get(cls) -> CompanyProfile:
        profile, _created = cls.objects.get_or_create(pk=1, defaults={"currency": settings.L2C_COMPANY_CURRENCY})
        return profile
