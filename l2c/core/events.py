"""Domain events: how an earlier stage learns about a later one, and how cross-cutting apps
(automation, nurture, analytics) react anywhere without importing the stage that emits.

Apps declare the events they emit with `register_event` (in AppConfig.ready), services call
`publish` inside their transaction, and subscribers run after commit.
"""
from __future__ import annotations

import contextvars
import logging
from collections import defaultdict
from collections.abc import Callable

from django.db import transaction

log = logging.getLogger(__name__)

_EVENTS: dict[str, str] = {}
_SUBSCRIBERS: dict[str, list[Callable[[str, dict], None]]] = defaultdict(list)


def register_event(name: str, description: str) -> None:
    _EVENTS[name] = description


def registered_events() -> dict[str, str]:
    return dict(sorted(_EVENTS.items()))


def subscribe(name: str, handler: Callable[[str, dict], None]) -> None:
    """`name` is an event name or "*" for all events."""
    if handler not in _SUBSCRIBERS[name]:
        _SUBSCRIBERS[name].append(handler)


def publish(name: str, payload: dict) -> None:
    """Deliver after the surrounding transaction commits (immediately when there is none)."""
    if name not in _EVENTS:
        raise KeyError(f"event {name!r} is not registered; call register_event first")

    def deliver():
        for handler in [*_SUBSCRIBERS.get(name, []), *_SUBSCRIBERS.get("*", [])]:
            try:
                handler(name, payload)
            except Exception:  # one failing subscriber must not stop the others
                log.exception("subscriber %r failed for event %s", handler, name)

    # subscribers run in the publisher's context (its contextvars, e.g. automation's causal chain), even
    # when the commit that delivers happens later, in an outer transaction
    context = contextvars.copy_context()
    transaction.on_commit(lambda: context.run(deliver))
