"""Writes for users, teams and API tokens; each audited."""
from __future__ import annotations

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils import timezone

from l2c.core import audit
from l2c.core.errors import Conflict, FieldError, NotFound, PermissionDenied, ValidationFailed
from l2c.core.visibility import Role

from . import tokens
from .models import ApiToken, Team, User

USER_FIELDS = ("first_name", "last_name", "email", "role", "team", "language", "is_active")


def _require_admin(actor) -> None:
    if actor is not None and not getattr(actor, "is_admin", False):
        raise PermissionDenied("Only an admin can manage users and teams.")


def _validate_role(role: str) -> None:
    if role not in Role.values:
        raise ValidationFailed.single("role", f"Unknown role {role!r}; choose one of {', '.join(Role.values)}.")


@transaction.atomic
def user_create(*, username: str, password: str | None, role: str = Role.REP, team: Team | None = None,
                email: str = "", first_name: str = "", last_name: str = "", language: str = "",
                actor=None, check_password: bool = True) -> User:
    _require_admin(actor)
    _validate_role(role)
    username = (username or "").strip()
    errors = []
    if not username:
        errors.append(FieldError("username", "A user name is required.", "required"))
    elif len(username) > 150:
        errors.append(FieldError("username", "At most 150 characters.", "max_length"))
    elif User.objects.filter(username__iexact=username).exists():
        errors.append(FieldError("username", f"The user name {username!r} is taken.", "unique"))
    user = User(username=username, role=role, team=team, email=email, first_name=first_name,
                last_name=last_name, language=language, is_staff=(role == Role.ADMIN),
                is_superuser=(role == Role.ADMIN))
    if password and check_password:
        try:
            validate_password(password, user)
        except DjangoValidationError as exc:
            errors.extend(FieldError("password", m, "weak_password") for m in exc.messages)
    if errors:
        raise ValidationFailed(errors)
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    audit.record(actor=actor, action=audit.Action.CREATE, instance=user)
    return user


@transaction.atomic
def user_update(*, user: User, actor, **fields) -> User:
    _require_admin(actor)
    unknown = set(fields) - set(USER_FIELDS)
    if unknown:
        raise ValidationFailed([FieldError(f, "This field cannot be changed here.", "unknown_field") for f in sorted(unknown)])
    if "role" in fields:
        _validate_role(fields["role"])
    if user.pk == getattr(actor, "pk", None) and fields.get("is_active") is False:
        raise Conflict("You cannot deactivate yourself.", field="is_active")
    user = User.objects.select_for_update().get(pk=user.pk)
    before = audit.snapshot(user, USER_FIELDS)
    for name, value in fields.items():
        setattr(user, name, value)
    if "role" in fields:
        user.is_staff = user.is_superuser = fields["role"] == Role.ADMIN
    user.save()
    after = audit.snapshot(user, USER_FIELDS)
    changes = audit.diff(before, after)
    if changes:
        audit.record(actor=actor, action=audit.Action.UPDATE, instance=user, changes=changes)
    return user


@transaction.atomic
def user_set_password(*, user: User, password: str, actor) -> None:
    if actor is not None and actor.pk != user.pk:
        _require_admin(actor)
    try:
        validate_password(password, user)
    except DjangoValidationError as exc:
        raise ValidationFailed([FieldError("password", m, "weak_password") for m in exc.messages]) from exc
    user.set_password(password)
    user.save(update_fields=["password"])
    audit.record(actor=actor, action=audit.Action.ACCESS, instance=user, changes={"password": ["***", "changed"]})


@transaction.atomic
def team_create(*, name: str, description: str = "", actor) -> Team:
    _require_admin(actor)
    name = (name or "").strip()
    if not name:
        raise ValidationFailed.single("name", "A team name is required.", "required")
    if len(name) > 100:
        raise ValidationFailed.single("name", "At most 100 characters.", "max_length")
    if Team.objects.filter(name__iexact=name).exists():
        raise ValidationFailed.single("name", f"A team called {name!r} exists already.", "unique")
    team = Team.objects.create(name=name, description=description)
    audit.record(actor=actor, action=audit.Action.CREATE, instance=team)
    return team


@transaction.atomic
def team_update(*, team: Team, actor, name: str | None = None, description: str | None = None) -> Team:
    _require_admin(actor)
    before = audit.snapshot(team)
    if name is not None:
        name = name.strip()
        if not name:
            raise ValidationFailed.single("name", "A team name is required.", "required")
        if Team.objects.filter(name__iexact=name).exclude(pk=team.pk).exists():
            raise ValidationFailed.single("name", f"A team called {name!r} exists already.", "unique")
        team.name = name
    if description is not None:
        team.description = description
    team.save()
    audit.record(actor=actor, action=audit.Action.UPDATE, instance=team, before=before)
    return team


@transaction.atomic
def token_create(*, user: User, name: str, actor=None, expires_at=None) -> tuple[ApiToken, str]:
    """Create a token; returns (token, raw secret). The raw secret is never stored."""
    if actor is not None and actor.pk != user.pk:
        _require_admin(actor)
    name = (name or "").strip() or "API token"
    raw, prefix = tokens.generate()
    token = ApiToken.objects.create(user=user, name=name[:100], prefix=prefix,
                                    token_hash=tokens.hash_token(raw), expires_at=expires_at)
    audit.record(actor=actor or user, action=audit.Action.ACCESS, instance=token,
                 changes={"token": [None, f"created for {user.username}"]})
    return token, raw


@transaction.atomic
def token_revoke(*, token: ApiToken, actor) -> ApiToken:
    if actor is not None and actor.pk != token.user_id:
        _require_admin(actor)
    token = ApiToken.objects.select_for_update().get(pk=token.pk)
    if token.revoked_at is not None:
        raise Conflict("This token is already revoked.", code="already_revoked")
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    audit.record(actor=actor, action=audit.Action.ACCESS, instance=token,
                 changes={"revoked_at": [None, audit._normalise(token.revoked_at)]})
    return token


def user_get(username: str) -> User:
    user = User.objects.filter(username=username).first()
    if user is None:
        raise NotFound(f"No user called {username!r}.")
    return user
