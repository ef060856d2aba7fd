"""A light per-IP limit on portal form posts (sign, decline), counted in the shared cache.

Same fixed-window counting as the public web forms (l2c.leads.webforms.ratelimit): `incr`, with `add`
starting a window. It stops floods of attempts, not a person who retries a few times.
"""
from __future__ import annotations

import math
import time

from django.conf import settings
from django.core.cache import cache

from l2c.leads.webforms.ratelimit import client_ip  # noqa: F401 - the one way to read the client's address


def _hit(key: str, period: int, now: float) -> tuple[int, float]:
    window = int(now // period)
    full_key = f"l2c:portal:{key}:{period}:{window}"
    try:
        count = cache.incr(full_key)
    except ValueError:
        if cache.add(full_key, 1, timeout=period + 5):
            count = 1
        else:
            count = cache.incr(full_key)
    return count, (window + 1) * period - now


def check(*, ip: str) -> int | None:
    """Count one post; None when allowed, else the seconds to wait."""
    now = time.time()
    waits = []
    for period, limit in ((60, getattr(settings, "L2C_PORTAL_RATE_PER_MINUTE", 10)),
                          (3600, getattr(settings, "L2C_PORTAL_RATE_PER_HOUR", 60))):
        if limit > 0:
            count, remaining = _hit(f"ip:{ip}", period, now)
            if count > limit:
                waits.append(remaining)
    return max(1, math.ceil(max(waits))) if waits else None
