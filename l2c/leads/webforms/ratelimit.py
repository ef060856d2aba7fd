"""Per-IP rate limits for the public form endpoint, counted in the shared Django cache.

Fixed windows: the counter key names the window (`...:<minute number>`), so a counter never needs
resetting and an expired key is simply never read again. Counting is `incr` (atomic in Redis and in
l2c.core.cache.DatabaseCache), with `add` starting a new window: when two processes start the same
window at once, one `add` wins and the other falls back to `incr`, so no hit is lost across gunicorn
processes. A window may let up to twice the limit through around its boundary; that is the price of
one counter per window, and fine for stopping floods.
"""
from __future__ import annotations

import math
import time

from django.conf import settings
from django.core.cache import cache


def client_ip(request) -> str:
    """The client's address: REMOTE_ADDR, or behind a proxy (L2C_BEHIND_PROXY) the address the proxy
    appended last to X-Forwarded-For (earlier entries are whatever the client claimed)."""
    if getattr(settings, "SECURE_PROXY_SSL_HEADER", None):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        last = forwarded.rsplit(",", 1)[-1].strip()
        if last:
            return last[:45]
    return (request.META.get("REMOTE_ADDR") or "")[:45]


def _hit(key: str, period: int, now: float) -> tuple[int, float]:
    window = int(now // period)
    full_key = f"l2c:rl:{key}:{period}:{window}"
    try:
        count = cache.incr(full_key)
    except ValueError:
        if cache.add(full_key, 1, timeout=period + 5):
            count = 1
        else:  # another process started this window first
            count = cache.incr(full_key)
    return count, (window + 1) * period - now


def check(*, form_key: str, ip: str) -> int | None:
    """Count one submission; None when allowed, else the seconds to wait (for Retry-After)."""
    now = time.time()
    waits = []
    per_minute = settings.L2C_WEBFORM_RATE_PER_MINUTE
    per_hour = settings.L2C_WEBFORM_RATE_PER_HOUR
    if per_minute > 0:
        count, remaining = _hit(f"form:{form_key}:{ip}", 60, now)
        if count > per_minute:
            waits.append(remaining)
    if per_hour > 0:
        count, remaining = _hit(f"ip:{ip}", 3600, now)
        if count > per_hour:
            waits.append(remaining)
    return max(1, math.ceil(max(waits))) if waits else None
