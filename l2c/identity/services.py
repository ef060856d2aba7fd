"""Writes for users, teams and API tokens; each in a transaction and audited.

Only an admin manages users and teams (`actor=None` is the operator's CLI). Everyone manages their
own API tokens and password; an admin may also revoke anyone's token and reset anyone's password.
"""
from __future__ import annotations

from datetime import datetime

from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from l2c.core import audit
from l2c.core.errors import Conflict, FieldError, NotFound, PermissionDenied, ValidationFailed
from l2c.core.visibility import Role

from . import tokens
from .models import ApiToken, Team, User

USER_FIELDS = ("first_name", "last_name", "email", "role", "team", "language", "is_active")
LANGUAGES = {code for code, _label in User._meta.get_field("language").choices}
MAX_NAME = 150
MAX_EMAIL = 254
MAX_TOKEN_NAME = 100
MAX_TEAM_NAME = 100
MAX_TEAM_DESCRIPTION = 300


def _require_admin(actor) -> None:
    if actor is not None and not getattr(actor, "is_admin", False):
        raise PermissionDenied(_("Only an admin can manage users and teams."))


def _user_field_errors(fields: dict) -> list[FieldError]:
    """Field errors for the profile fields present in `fields` (create and update share these rules)."""
    errors: list[FieldError] = []
    if "role" in fields and fields["role"] not in Role.values:
        errors.append(FieldError("role", _("Unknown role %(role)r; choose one of %(choices)s.")
                                 % {"role": fields["role"], "choices": ", ".join(Role.values)}, "invalid_choice"))
    for name in ("first_name", "last_name"):
        if len(fields.get(name) or "") > MAX_NAME:
            errors.append(FieldError(name, _("At most %(n)d characters.") % {"n": MAX_NAME}, "max_length"))
    email = fields.get("email") or ""
    if email:
        if len(email) > MAX_EMAIL:
            errors.append(FieldError("email", _("At most %(n)d characters.") % {"n": MAX_EMAIL}, "max_length"))
        else:
            try:
                validate_email(email)
            except DjangoValidationError:
                errors.append(FieldError("email", _("%(email)r is not a valid e-mail address.") % {"email": email},
                                         "invalid_email"))
    if "language" in fields and (fields["language"] or "") not in LANGUAGES | {""}:
        errors.append(FieldError("language", _("Unknown language %(lang)r; choose one of %(choices)s.")
                                 % {"lang": fields["language"], "choices": ", ".join(sorted(LANGUAGES))},
                                 "invalid_choice"))
    if "team" in fields and fields["team"] is not None and not isinstance(fields["team"], Team):
        errors.append(FieldError("team", _("Not a team."), "invalid"))
    if "is_active" in fields and not isinstance(fields["is_active"], bool):
        errors.append(FieldError("is_active", _("Must be true or false."), "invalid"))
    return errors


def _password_errors(password: str, user: User) -> list[FieldError]:
    try:
        validate_password(password, user)
    except DjangoValidationError as exc:
        return [FieldError("password", m, "weak_password") for m in exc.messages]
    return []


def _active_admins():
    return User.objects.filter(is_active=True).filter(role=Role.ADMIN)


@transaction.atomic
def user_create(*, username: str, password: str | None, role: str = Role.REP, team: Team | None = None,
                email: str = "", first_name: str = "", last_name: str = "", language: str = "",
                actor=None, check_password: bool = True) -> User:
    """Create a user. Without a password the user cannot log in until one is set."""
    _require_admin(actor)
    username = (username or "").strip()
    email = (email or "").strip()
    errors = []
    if not username:
        errors.append(FieldError("username", _("A user name is required."), "required"))
    elif len(username) > 150:
        errors.append(FieldError("username", _("At most %(n)d characters.") % {"n": 150}, "max_length"))
    else:
        try:
            UnicodeUsernameValidator()(username)
        except DjangoValidationError:
            errors.append(FieldError("username", _("Use only letters, digits and @ . + - _ in a user name."),
                                     "invalid"))
        else:
            if User.objects.filter(username__iexact=username).exists():
                errors.append(FieldError("username", _("The user name %(name)r is taken.") % {"name": username},
                                         "unique"))
    errors += _user_field_errors({"role": role, "team": team, "email": email, "first_name": first_name,
                                  "last_name": last_name, "language": language})
    user = User(username=username, role=role, team=team, email=email, first_name=first_name or "",
                last_name=last_name or "", language=language or "", is_staff=(role == Role.ADMIN),
                is_superuser=(role == Role.ADMIN))
    if password and check_password:
        errors += _password_errors(password, user)
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
    """Change profile fields, role, team or the active flag.

    Nobody can deactivate themselves or drop their own admin role, and the last active admin stays
    an active admin, so the system always keeps someone who can manage it.
    """
    _require_admin(actor)
    unknown = set(fields) - set(USER_FIELDS)
    if unknown:
        raise ValidationFailed([FieldError(f, _("This field cannot be changed here."), "unknown_field")
                                for f in sorted(unknown)])
    if "email" in fields:
        fields["email"] = (fields["email"] or "").strip()
    for name in ("first_name", "last_name", "language"):
        if name in fields:
            fields[name] = fields[name] or ""
    errors = _user_field_errors(fields)
    if errors:
        raise ValidationFailed(errors)
    user = User.objects.select_for_update().get(pk=user.pk)
    loses_admin = user.role == Role.ADMIN and user.is_active and (
        fields.get("is_active") is False or ("role" in fields and fields["role"] != Role.ADMIN))
    if user.pk == getattr(actor, "pk", None):
        if fields.get("is_active") is False:
            raise Conflict(_("You cannot deactivate yourself."), code="self_deactivate", field="is_active")
        if "role" in fields and fields["role"] != Role.ADMIN and user.role == Role.ADMIN:
            raise Conflict(_("You cannot take away your own admin role; ask another admin."),
                           code="self_demote", field="role")
    if loses_admin:
        # lock the other admins' rows too, so two admins cannot demote each other at once
        others = list(_active_admins().exclude(pk=user.pk).select_for_update().values_list("pk", flat=True))
        if not others:
            field = "is_active" if fields.get("is_active") is False else "role"
            raise Conflict(_("This is the last active admin; make someone else an admin first."),
                           code="last_admin", field=field)
    before = audit.snapshot(user, USER_FIELDS)
    for name, value in fields.items():
        setattr(user, name, value)
    if "role" in fields:
        user.is_staff = user.is_superuser = fields["role"] == Role.ADMIN
    user.save()
    changes = audit.diff(before, audit.snapshot(user, USER_FIELDS))
    if changes:
        audit.record(actor=actor, action=audit.Action.UPDATE, instance=user, changes=changes)
    return user


@transaction.atomic
def user_set_password(*, user: User, password: str, actor) -> None:
    """Set a password (own, or anyone's by an admin), checked by Django's password validators."""
    if actor is not None and actor.pk != user.pk:
        _require_admin(actor)
    if not password:
        raise ValidationFailed.single("password", _("A password is required."), "required")
    errors = _password_errors(password, user)
    if errors:
        raise ValidationFailed(errors)
    user.set_password(password)
    user.save(update_fields=["password"])
    audit.record(actor=actor, action=audit.Action.ACCESS, instance=user, changes={"password": ["***", "changed"]})


@transaction.atomic
def user_unlock(*, user: User, actor) -> int:
    """Lift a log-in lock-out (django-axes) for the user name; returns how many attempt rows were cleared."""
    _require_admin(actor)
    from axes.utils import reset

    cleared = reset(username=user.username)
    if cleared:
        audit.record(actor=actor, action=audit.Action.ACCESS, instance=user,
                     changes={"lockout": ["locked", "unlocked"]})
    return cleared


def _team_errors(name: str | None, description: str | None, exclude_pk=None) -> list[FieldError]:
    errors = []
    if name is not None:
        if not name:
            errors.append(FieldError("name", _("A team name is required."), "required"))
        elif len(name) > MAX_TEAM_NAME:
            errors.append(FieldError("name", _("At most %(n)d characters.") % {"n": MAX_TEAM_NAME}, "max_length"))
        elif Team.objects.filter(name__iexact=name).exclude(pk=exclude_pk).exists():
            errors.append(FieldError("name", _("A team called %(name)r exists already.") % {"name": name}, "unique"))
    if description is not None and len(description) > MAX_TEAM_DESCRIPTION:
        errors.append(FieldError("description", _("At most %(n)d characters.") % {"n": MAX_TEAM_DESCRIPTION},
                                 "max_length"))
    return errors


@transaction.atomic
def team_create(*, name: str, description: str = "", actor) -> Team:
    _require_admin(actor)
    name = (name or "").strip()
    description = (description or "").strip()
    errors = _team_errors(name, description)
    if errors:
        raise ValidationFailed(errors)
    team = Team.objects.create(name=name, description=description)
    audit.record(actor=actor, action=audit.Action.CREATE, instance=team)
    return team


@transaction.atomic
def team_update(*, team: Team, actor, name: str | None = None, description: str | None = None) -> Team:
    _require_admin(actor)
    name = name.strip() if name is not None else None
    description = description.strip() if description is not None else None
    errors = _team_errors(name, description, exclude_pk=team.pk)
    if errors:
        raise ValidationFailed(errors)
    team = Team.objects.select_for_update().get(pk=team.pk)
    before = audit.snapshot(team)
    if name is not None:
        team.name = name
    if description is not None:
        team.description = description
    team.save()
    audit.record(actor=actor, action=audit.Action.UPDATE, instance=team, before=before)
    return team


@transaction.atomic
def token_create(*, user: User, name: str, actor=None, expires_at: datetime | None = None) -> tuple[ApiToken, str]:
    """Create a token; returns (token, raw secret). Only the secret's SHA-256 is stored."""
    if actor is not None and actor.pk != user.pk:
        _require_admin(actor)
    name = (name or "").strip() or "API token"
    errors = []
    if len(name) > MAX_TOKEN_NAME:
        errors.append(FieldError("name", _("At most %(n)d characters.") % {"n": MAX_TOKEN_NAME}, "max_length"))
    if expires_at is not None:
        if timezone.is_naive(expires_at):
            expires_at = timezone.make_aware(expires_at)
        if expires_at <= timezone.now():
            errors.append(FieldError("expires_at", _("The expiry must be in the future."), "in_past"))
    if not User.objects.filter(pk=user.pk, is_active=True).exists():
        errors.append(FieldError("user", _("The user is deactivated; activate them first."), "inactive"))
    if errors:
        raise ValidationFailed(errors)
    raw, prefix = tokens.generate()
    token = ApiToken.objects.create(user=user, name=name, prefix=prefix,
                                    token_hash=tokens.hash_token(raw), expires_at=expires_at)
    audit.record(actor=actor or user, action=audit.Action.ACCESS, instance=token,
                 changes={"token": [None, f"created for {user.username}"]})
    return token, raw


@transaction.atomic
def token_revoke(*, token: ApiToken, actor) -> ApiToken:
    """Revoke a token at once; its next request answers 401."""
    if actor is not None and actor.pk != token.user_id:
        _require_admin(actor)
    token = ApiToken.objects.select_for_update().get(pk=token.pk)
    if token.revoked_at is not None:
        raise Conflict(_("This token is already revoked."), code="already_revoked")
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    audit.record(actor=actor, action=audit.Action.ACCESS, instance=token,
                 changes={"revoked_at": [None, audit._normalise(token.revoked_at)]})
    return token


def user_get(username: str) -> User:
    """The user called `username` (for the operator's CLI)."""
    user = User.objects.filter(username=username).first()
    if user is None:
        raise NotFound(_("No user called %(name)r.") % {"name": username})
    return user
