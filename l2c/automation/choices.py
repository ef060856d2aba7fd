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


class TriggerKind(models.TextChoices):
    """What starts a workflow rule."""

    CREATED = "created", _("record created")  # the record type's "created" event
    STATUS_CHANGED = "status_changed", _("status changed")  # its "status_changed" event
    STAGE_ENTERED = "stage_entered", _("stage entered")  # its "stage_entered" event (opportunities)
    FIELD_CHANGED = "field_changed", _("field changed")  # an audited update changed one of the given fields
    EVENT = "event", _("domain event")  # any registered event whose payload names the record
    TIME = "time", _("time-based")  # a date field plus or minus some days has arrived (daily sweep)


# The trigger kinds that are a record type's own domain events (core.automation_registry.EVENT_TRIGGERS).
EVENT_TRIGGER_KINDS = (TriggerKind.CREATED, TriggerKind.STATUS_CHANGED, TriggerKind.STAGE_ENTERED)


class RunStatus(models.TextChoices):
    """The outcome of one rule run."""

    RUNNING = "running", _("running")  # claimed; its actions are being run
    SUCCEEDED = "succeeded", _("succeeded")  # every action ran and committed
    FAILED = "failed", _("failed")  # an action failed; the rule's actions were rolled back (the change that
    # triggered it stays)
    SKIPPED = "skipped", _("conditions not met")  # the record did not match the conditions; nothing done
    LOOP_STOPPED = "loop_stopped", _("loop stopped")  # the rule retriggered itself (or the chain got too deep)


class Operator(models.TextChoices):
    """How a condition compares a record's field with the rule's value."""

    EQUALS = "equals", _("equals")
    NOT_EQUALS = "not_equals", _("does not equal")
    IN = "in", _("is one of")
    NOT_IN = "not_in", _("is none of")
    CONTAINS = "contains", _("contains")
    GT = "gt", _("greater than")
    GTE = "gte", _("greater than or equal to")
    LT = "lt", _("less than")
    LTE = "lte", _("less than or equal to")
    IS_EMPTY = "is_empty", _("is empty")
    NOT_EMPTY = "not_empty", _("is not empty")
    CHANGED_TO = "changed_to", _("changed to")  # field-changed triggers only
    CHANGED_FROM = "changed_from", _("changed from")  # field-changed triggers only


NO_VALUE_OPERATORS = (Operator.IS_EMPTY, Operator.NOT_EMPTY)
LIST_OPERATORS = (Operator.IN, Operator.NOT_IN)
ORDER_OPERATORS = (Operator.GT, Operator.GTE, Operator.LT, Operator.LTE)
CHANGE_OPERATORS = (Operator.CHANGED_TO, Operator.CHANGED_FROM)
