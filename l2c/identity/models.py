"""Users, teams, roles and API tokens."""
from __future__ import annotations

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.utils.translation import gettext_lazy as _

from l2c.core.models import TimeStampedModel
from l2c.core.visibility import Role


class Team(TimeStampedModel):
    """A sales team: its manager sees what its members own."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    description = models.CharField(_("description"), max_length=300, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    """A person who logs in: their role and team decide what they see."""

    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.REP)
    team = models.ForeignKey(
        Team, verbose_name=_("team"), null=True, blank=True, on_delete=models.SET_NULL, related_name="members"
    )
    language = models.CharField(
        _("language"), max_length=10, blank=True, choices=[("en", "English"), ("zh-hans", "简体中文")]
    )

    objects = UserManager()

    class Meta:
        ordering = ["username"]

    def __str__(self) -> str:
        return self.get_full_name() or self.username

    def get_full_name(self) -> str:
        # Chinese names read family name first, with no space (李娜, not 娜 李).
        if any("\u4e00" <= ch <= "\u9fff" for ch in self.last_name + self.first_name):
            return f"{self.last_name}{self.first_name}".strip()
        return super().get_full_name()

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN or self.is_superuser

    @property
    def is_manager(self) -> bool:
        return self.role == Role.MANAGER

    @property
    def is_finance(self) -> bool:
        return self.role == Role.FINANCE

    @property
    def is_sales(self) -> bool:
        return self.role in (Role.REP, Role.MANAGER, Role.ADMIN) or self.is_superuser


class ApiToken(models.Model):
    """A bearer token for the API; only its SHA-256 is stored, the secret is shown once."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(max_length=12, db_index=True)  # shown in lists to tell tokens apart
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        from django.utils import timezone

        return self.revoked_at is None and (self.expires_at is None or self.expires_at > timezone.now())


class Quota(TimeStampedModel):
    """A sales target: the amount one rep or one team should win between two dates (both inclusive)."""

    user = models.ForeignKey(User, verbose_name=_("rep"), null=True, blank=True, on_delete=models.CASCADE,
                             related_name="quotas")
    team = models.ForeignKey(Team, verbose_name=_("team"), null=True, blank=True, on_delete=models.CASCADE,
                             related_name="quotas")
    period_start = models.DateField(_("period start"))
    period_end = models.DateField(_("period end"))
    amount = models.DecimalField(_("amount"), max_digits=20, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-period_start", "id"]
        verbose_name = _("quota")
        verbose_name_plural = _("quotas")
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(user__isnull=False, team__isnull=True)
                           | models.Q(user__isnull=True, team__isnull=False)),
                name="quota_user_xor_team"),
            models.CheckConstraint(condition=models.Q(period_end__gte=models.F("period_start")),
                                   name="quota_period_in_order"),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="quota_amount_positive"),
        ]
        indexes = [models.Index(fields=["user", "period_start"]), models.Index(fields=["team", "period_start"])]

    def __str__(self) -> str:
        who = self.user or self.team
        return f"{who} {self.period_start:%Y-%m-%d}–{self.period_end:%Y-%m-%d}: {self.amount} {self.currency}"
