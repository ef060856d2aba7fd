"""Statuses of a webhook delivery and the retry schedule."""
import datetime as dt

from django.db import models
from django.utils.translation import gettext_lazy as _

# Waits after failed attempts 1..5; attempt 6 failing gives up. A delivery is tried MAX_ATTEMPTS times.
RETRY_DELAYS = (dt.timedelta(minutes=1), dt.timedelta(minutes=5), dt.timedelta(minutes=30),
                dt.timedelta(hours=2), dt.timedelta(hours=8))
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("pending")  # created, its first attempt not made yet
    RETRYING = "retrying", _("retrying")  # an attempt failed; the next one is due at next_attempt_at
    SUCCEEDED = "succeeded", _("succeeded")  # the receiver answered 2xx
    FAILED = "failed", _("failed")  # every attempt failed; L2C gave up (replay sends it again)


# Deliveries a worker may still send.
OPEN_STATUSES = (DeliveryStatus.PENDING, DeliveryStatus.RETRYING)
