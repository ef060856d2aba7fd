"""Reads for users, teams and API tokens. Users and teams are admin-only; tokens are their owner's."""
from __future__ import annotations

from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from l2c.core.errors import NotFound, PermissionDenied
from l2c.core.listing import search

from .models import ApiToken, Team, User


def _require_admin(user) -> None:
    if user is None or not getattr(user, "is_authenticated", False) or not getattr(user, "is_admin", False):
        raise PermissionDenied(_("Only an admin can see users and teams."))


def user_list(*, user, q: str = "", role: str = "", team_id: int | None = None,
              is_active: bool | None = None, locked: bool | None = None) -> QuerySet[User]:
    """Users matching the filters (admin only). `team_id=0` means users without a team."""
    _require_admin(user)
    qs = User.objects.select_related("team").order_by("username")
    qs = search(qs, q, ("username", "first_name", "last_name", "email"))
    if role:
        qs = qs.filter(role=role)
    if team_id == 0:
        qs = qs.filter(team__isnull=True)
    elif team_id:
        qs = qs.filter(team_id=team_id)
    if is_active is not None:
        qs = qs.filter(is_active=is_active)
    if locked is not None:
        names = locked_usernames()
        qs = qs.filter(username__in=names) if locked else qs.exclude(username__in=names)
    return qs


def user_get(*, user, pk: int) -> User:
    _require_admin(user)
    found = User.objects.select_related("team").filter(pk=pk).first()
    if found is None:
        raise NotFound(_("No such user."))
    return found


def team_list(*, user, q: str = "") -> QuerySet[Team]:
    _require_admin(user)
    qs = Team.objects.annotate(member_count=Count("members", filter=Q(members__is_active=True))).order_by("name")
    q = (q or "").strip()
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(description__icontains=q))
    return qs


def team_get(*, user, pk: int) -> Team:
    _require_admin(user)
    found = Team.objects.filter(pk=pk).first()
    if found is None:
        raise NotFound(_("No such team."))
    return found


def team_members(*, user, team: Team) -> QuerySet[User]:
    _require_admin(user)
    return team.members.order_by("-is_active", "role", "username")


def token_list(*, user, owner: User | None = None) -> QuerySet[ApiToken]:
    """API tokens of `owner` (default: the caller). Only an admin reads someone else's."""
    owner = owner or user
    if owner.pk != user.pk:
        _require_admin(user)
    return ApiToken.objects.filter(user=owner).order_by("-created_at")


def token_get(*, user, pk: int) -> ApiToken:
    """One of the caller's own tokens; anyone else's answers 404 like a missing one."""
    found = ApiToken.objects.filter(pk=pk, user=user).first()
    if found is None:
        raise NotFound(_("No such token."))
    return found


def locked_usernames(usernames=None) -> set[str]:
    """User names locked out right now by django-axes (too many failed log-ins within the cool-off)."""
    from axes.helpers import get_cool_off
    from axes.models import AccessAttempt

    limit = settings.AXES_FAILURE_LIMIT
    qs = AccessAttempt.objects.filter(failures_since_start__gte=limit, username__isnull=False)
    cool_off = get_cool_off()
    if cool_off is not None:
        qs = qs.filter(attempt_time__gte=timezone.now() - cool_off)
    if usernames is not None:
        qs = qs.filter(username__in=list(usernames))
    return set(qs.values_list("username", flat=True))


def is_locked(user: User) -> bool:
    return bool(locked_usernames([user.username]))

