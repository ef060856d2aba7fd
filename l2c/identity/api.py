"""API: who am I, my API tokens, and (admin only) users and teams.

No `from __future__ import annotations` here: ninja resolves `Query[...]` at import time.
"""
from datetime import datetime

from ninja import Query, Router, Schema, Status
from ninja.pagination import paginate

from l2c.core.api_types import LimitOffsetPagination, RecordId
from l2c.core.errors import FieldError, NotFound, ValidationFailed
from l2c.core.visibility import Role

from . import selectors, services

router = Router(tags=["identity"])


class MeOut(Schema):
    id: int
    username: str
    first_name: str
    last_name: str
    email: str
    role: str
    team_id: int | None
    language: str


class TokenOut(Schema):
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
    is_active: bool


class TokenIn(Schema):
    name: str = "API token"
    expires_at: datetime | None = None


class TokenCreatedOut(TokenOut):
    token: str


class UserOut(Schema):
    id: int
    username: str
    first_name: str
    last_name: str
    email: str
    role: Role
    team_id: int | None
    language: str
    is_active: bool
    last_login: datetime | None
    date_joined: datetime


class UserIn(Schema):
    username: str
    password: str | None = None
    role: Role = Role.REP
    team_id: int | None = None
    email: str = ""
    first_name: str = ""
    last_name: str = ""
    language: str = ""


class UserPatch(Schema):
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    role: Role | None = None
    team_id: int | None = None
    language: str | None = None
    is_active: bool | None = None


class UserFilters(Schema):
    q: str = ""
    role: Role | None = None
    team_id: RecordId | None = None
    is_active: bool | None = None
    locked: bool | None = None


class TeamOut(Schema):
    id: int
    name: str
    description: str
    created_at: datetime
    updated_at: datetime


class TeamIn(Schema):
    name: str
    description: str = ""


class TeamPatch(Schema):
    name: str | None = None
    description: str | None = None


# --- me and my tokens -------------------------------------------------------------------------

@router.get("/me", response=MeOut)
def me(request):
    return request.auth


@router.get("/tokens", response=list[TokenOut])
def token_list(request):
    return list(selectors.token_list(user=request.auth))


@router.post("/tokens", response={201: TokenCreatedOut})
def token_create(request, data: TokenIn):
    token, raw = services.token_create(user=request.auth, name=data.name, expires_at=data.expires_at,
                                       actor=request.auth)
    out = TokenOut.from_orm(token).dict()
    out["token"] = raw
    return Status(201, out)


@router.post("/tokens/{token_id}/revoke", response=TokenOut)
def token_revoke(request, token_id: int):
    token = selectors.token_get(user=request.auth, pk=token_id)
    return services.token_revoke(token=token, actor=request.auth)


# --- users and teams (admin only) -------------------------------------------------------------

def _team_or_none(user, team_id: int | None):
    if team_id is None:
        return None
    try:
        return selectors.team_get(user=user, pk=team_id)
    except NotFound as exc:
        raise ValidationFailed.single("team_id", f"No team with id {team_id}.", "not_found") from exc


def _refuse_nulls(fields: dict, nullable=("team",)) -> None:
    nulls = [name for name, value in fields.items() if value is None and name not in nullable]
    if nulls:
        raise ValidationFailed([FieldError(name, "May not be null; leave the field out to keep it.", "null")
                                for name in nulls])


@router.get("/users", response=list[UserOut])
@paginate(LimitOffsetPagination)
def user_list(request, filters: Query[UserFilters]):
    return selectors.user_list(user=request.auth, q=filters.q, role=filters.role or "", team_id=filters.team_id,
                               is_active=filters.is_active, locked=filters.locked)


@router.post("/users", response={201: UserOut})
def user_create(request, data: UserIn):
    selectors.user_list(user=request.auth)  # admin check before looking anything up
    user = services.user_create(
        username=data.username, password=data.password, role=data.role, team=_team_or_none(request.auth, data.team_id),
        email=data.email, first_name=data.first_name, last_name=data.last_name, language=data.language,
        actor=request.auth,
    )
    return Status(201, user)


@router.get("/users/{user_id}", response=UserOut)
def user_get(request, user_id: int):
    return selectors.user_get(user=request.auth, pk=user_id)


@router.patch("/users/{user_id}", response=UserOut)
def user_update(request, user_id: int, data: UserPatch):
    user = selectors.user_get(user=request.auth, pk=user_id)
    fields = data.dict(exclude_unset=True)
    if "team_id" in fields:
        fields["team"] = _team_or_none(request.auth, fields.pop("team_id"))
    _refuse_nulls(fields)
    return services.user_update(user=user, actor=request.auth, **fields)


@router.post("/users/{user_id}/unlock", response=UserOut)
def user_unlock(request, user_id: int):
    user = selectors.user_get(user=request.auth, pk=user_id)
    services.user_unlock(user=user, actor=request.auth)
    return user


@router.get("/teams", response=list[TeamOut])
@paginate(LimitOffsetPagination)
def team_list(request, q: str = ""):
    return selectors.team_list(user=request.auth, q=q)


@router.post("/teams", response={201: TeamOut})
def team_create(request, data: TeamIn):
    return Status(201, services.team_create(name=data.name, description=data.description, actor=request.auth))


@router.get("/teams/{team_id}", response=TeamOut)
def team_get(request, team_id: int):
    return selectors.team_get(user=request.auth, pk=team_id)


@router.patch("/teams/{team_id}", response=TeamOut)
def team_update(request, team_id: int, data: TeamPatch):
    team = selectors.team_get(user=request.auth, pk=team_id)
    fields = data.dict(exclude_unset=True)
    _refuse_nulls(fields)
    return services.team_update(team=team, actor=request.auth, **fields)
