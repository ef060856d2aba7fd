"""One-click unsubscribe: a signed token per address (no expiry: a link in an old e-mail must keep working),
its URL on this server and the List-Unsubscribe headers of RFC 2369 / RFC 8058."""
from __future__ import annotations

from django.conf import settings
from django.core import signing

SALT = "l2c.unsubscribe"


def unsubscribe_token(email: str) -> str:
    return signing.dumps(email.strip().lower(), salt=SALT, compress=True)


def email_for_token(token: str) -> str | None:
    """The address a token was made for, or None when the token is not one of ours (bad or tampered)."""
    try:
        email = signing.loads(token, salt=SALT)
    except signing.BadSignature:
        return None
    return email if isinstance(email, str) and email else None


def unsubscribe_url(email: str) -> str:
    return f"{settings.L2C_BASE_URL}/u/{unsubscribe_token(email)}/"


def list_unsubscribe_headers(email: str) -> dict[str, str]:
    """Headers for every nurture e-mail: mail clients show an unsubscribe button that POSTs to the URL."""
    return {"List-Unsubscribe": f"<{unsubscribe_url(email)}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
