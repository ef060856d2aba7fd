"""Who sees which record. Every selector, list, export and search filters through `restrict`.

Roles: admin sees all; a sales manager sees records owned by anyone in their team (and
unassigned ones, to hand them out); a sales rep sees what they own; finance sees the customer
master data (accounts, contacts) and, in later stages, billing, ledger and revenue.
"""
from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    ADMIN = "admin", _("Admin")  # everything, plus settings
    MANAGER = "manager", _("Sales manager")  # own team's records, approvals
    REP = "rep", _("Sales rep")  # own records
    FINANCE = "finance", _("Finance")  # billing, ledger, revenue; reads customers


class VisibleQuerySet(models.QuerySet):
    """A queryset that knows how to restrict itself to what a user may see.

    Subclass attributes:
      owner_field         the FK to the owning user ("owner")
      finance_visible     finance users see every row (customer master data)
      unassigned_to_managers  managers also see rows with no owner (the unassigned queue)
    """

    owner_field = "owner"
    finance_visible = False
    unassigned_to_managers = False

    def owner_q(self, user) -> Q:
        role = getattr(user, "role", None)
        if role == Role.ADMIN or getattr(user, "is_superuser", False):
            return Q()
        if role == Role.MANAGER:
            q = Q(**{self.owner_field: user.pk})
            if user.team_id:
                # the team as a subquery on the users table rather than a join of every row to its owner: the
                # database hashes the team's few ids (a join of a million report rows to their owners cost 1 s)
                from django.contrib.auth import get_user_model

                team = get_user_model().objects.filter(team_id=user.team_id).values("pk")
                q |= Q(**{f"{self.owner_field}__in": team})
            if self.unassigned_to_managers:
                q |= Q(**{f"{self.owner_field}__isnull": True})
            return q
        if role == Role.FINANCE and self.finance_visible:
            return Q()
        if role == Role.REP:
            return Q(**{self.owner_field: user.pk})
        return Q(pk__in=[])

    def restrict(self, user) -> VisibleQuerySet:
        if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        return self.filter(self.owner_q(user))


def can_see_all(user) -> bool:
    return getattr(user, "role", None) == Role.ADMIN or getattr(user, "is_superuser", False)
