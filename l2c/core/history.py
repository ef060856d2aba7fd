"""A record's audit events ready for its page: field labels instead of names, people and records
instead of ids, choice labels instead of codes. Used with the `includes/history.html` snippet."""
from __future__ import annotations

from collections import defaultdict

from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from . import audit

MAX_EVENTS = 100


def _field(model, name):
    try:
        return model._meta.get_field(name)
    except FieldDoesNotExist:
        return None


def history_rows(instance: models.Model, limit: int = MAX_EVENTS) -> list:
    """Newest first; each event gets `display_changes`: [(label, before, after), ...]."""
    model = type(instance)
    events = list(audit.history_for(instance)[:limit])
    wanted: dict[type[models.Model], set] = defaultdict(set)
    for event in events:
        for name, pair in (event.changes or {}).items():
            field = _field(model, name)
            if isinstance(field, models.ForeignKey) and isinstance(pair, list):
                wanted[field.related_model].update(v for v in pair if v is not None)
    names = {
        related: {obj.pk: str(obj) for obj in related._default_manager.filter(pk__in=ids)}
        for related, ids in wanted.items()
    }

    def show(field, value):
        if value is None or value == "":
            return None
        if isinstance(field, models.ForeignKey):
            return names.get(field.related_model, {}).get(value, f"#{value}")
        if field is not None and field.choices:
            return dict(field.flatchoices).get(value, value)
        if isinstance(field, models.DateTimeField) and isinstance(value, str):
            parsed = parse_datetime(value)
            if parsed is not None:
                return timezone.localtime(parsed).strftime("%Y-%m-%d %H:%M") if timezone.is_aware(parsed) else value
        return value

    from django.contrib.auth import get_user_model

    actor_ids = {e.actor_id for e in events if e.actor_id is not None}
    actors = {u.pk: str(u) for u in get_user_model()._default_manager.filter(pk__in=actor_ids)}
    for event in events:
        event.actor_name = actors.get(event.actor_id, "")
        rows = []
        for name, pair in (event.changes or {}).items():
            if name == "id":
                continue
            field = _field(model, name)
            label = str(field.verbose_name) if field is not None else name.replace("_", " ")
            before, after = pair if isinstance(pair, list) and len(pair) == 2 else (None, pair)
            rows.append((label, show(field, before), show(field, after)))
        event.display_changes = rows
    return events
