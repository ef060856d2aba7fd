"""API tokens: `l2c_<prefix>_<secret>`, stored as SHA-256 only (the secret has 256 bits of
entropy, so a fast hash is safe and lookups stay O(1))."""
from __future__ import annotations

import hashlib
import secrets

from django.utils import timezone

from .models import ApiToken

TOKEN_PREFIX = "l2c_"


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def generate() -> tuple[str, str]:
    """(raw token, prefix)."""
    prefix = secrets.token_hex(4)
    return f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}", prefix


def user_for_token(raw: str):
    """The active user for a raw token, or None. Touches last_used_at at most once a minute."""
    if not raw or not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    token = ApiToken.objects.select_related("user").filter(token_hash=hash_token(raw)).first()
    if token is None or not token.is_active or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


def bearer_from_header(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def user_from_request(request):
    """The API caller: a bearer token's user, else the logged-in session user."""
    raw = bearer_from_header(request.headers.get("Authorization"))
    if raw:
        return user_for_token(raw)
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return user
    return None
