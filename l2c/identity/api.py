"""API: who am I, and my API tokens."""
from __future__ import annotations

from datetime import datetime

from django.shortcuts import get_object_or_404
from ninja import Router, Schema

from . import services
from .models import ApiToken

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
    revoked_at: datetime | None


class TokenIn(Schema):
    name: str = "API token"


class TokenCreatedOut(TokenOut):
    token: str


@router.get("/me", response=MeOut)
def me(request):
    return request.auth


@router.get("/tokens", response=list[TokenOut])
def token_list(request):
    return list(request.auth.api_tokens.all())


@router.post("/tokens", response={201: TokenCreatedOut})
def token_create(request, data: TokenIn):
    token, raw = services.token_create(user=request.auth, name=data.name, actor=request.auth)
    out = TokenCreatedOut.from_orm(token).dict()
    out["token"] = raw
    return 201, out


@router.post("/tokens/{token_id}/revoke", response=TokenOut)
def token_revoke(request, token_id: int):
    token = get_object_or_404(ApiToken, pk=token_id, user=request.auth)
    return services.token_revoke(token=token, actor=request.auth)
