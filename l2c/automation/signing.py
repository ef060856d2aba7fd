"""Webhook signatures, Stripe-style. Copy this module (standard library only) into a receiver.

Every request carries `X-L2C-Signature: t=<unix seconds>,v1=<hex>` where `<hex>` is the HMAC-SHA256, keyed
with the endpoint's secret, of the bytes `<t>.<raw request body>`. Verify against the raw body exactly as
received (before any JSON parsing), and refuse old timestamps so a captured request cannot be replayed.
"""
from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "X-L2C-Signature"


def compute_signature(secret: str, timestamp: int, body: bytes) -> str:
    message = str(int(timestamp)).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else int(timestamp)
    return f"t={timestamp},v1={compute_signature(secret, timestamp, body)}"


def verify_signature(secret: str, header: str | None, body: bytes, *, tolerance: int = 300,
                     now: float | None = None) -> bool:
    """True when `header` (the X-L2C-Signature value) signs `body` with `secret` and its timestamp lies
    within `tolerance` seconds of `now` (default: the current time). Several v1= values may be present
    (e.g. during a secret rotation); one matching is enough."""
    if not header or not secret:
        return False
    timestamp = None
    signatures = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                return False
        elif key == "v1":
            signatures.append(value)
    if timestamp is None or not signatures:
        return False
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        return False
    expected = compute_signature(secret, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in signatures)
