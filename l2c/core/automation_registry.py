"""What workflow automation can act on: record types and actions, offered by the stage apps.

`automation` imports no stage app. Each stage registers, in its AppConfig.ready, the record types it owns
(`register_record_type`: model, fields usable in conditions, the domain events that are its triggers, the
date fields for time triggers, and an `updater` that writes through the stage's own services) and any
actions of its own (`register_action`). Automation reads this registry to validate rules, evaluate
conditions and run actions. Other apps (nurture: "send e-mail", "enrol in a sequence") add actions the same
way, later, without automation changing.

A field is declared by name; its label, kind and choices are read from the model field the first time they
are needed (after the app registry is ready). Kinds: text, choice, number, date, datetime, bool, user
(a foreign key to a user; compared and set by id), ref (another foreign key; compared by id).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

# Trigger kinds a record type maps onto its domain events (besides "event", "field_changed" and "time").
EVENT_TRIGGERS = ("created", "status_changed", "stage_entered")


@dataclass
class FieldSpec:
    """One field of a record type: how conditions read it and whether an action may set it."""

    name: str
    label: str
    kind: str
    choices: list[tuple[str, str]] = field(default_factory=list)
    updatable: bool = False

    @property
    def attname(self) -> str:
        return f"{self.name}_id" if self.kind in ("user", "ref") else self.name

    def read(self, instance):
        return getattr(instance, self.attname, None)

    def coerce(self, value):
        """The rule's JSON value as this field's Python value; ValueError with a reason when it is not one."""
        if value is None or value == "":
            return None
        kind = self.kind
        if kind in ("user", "ref"):
            if isinstance(value, bool) or not str(value).strip().isdigit():
                raise ValueError("an id (a whole number) is expected")
            return int(value)
        if kind == "number":
            if isinstance(value, bool):
                raise ValueError("a number is expected")
            try:
                return Decimal(str(value).strip())
            except InvalidOperation as exc:
                raise ValueError("a number is expected") from exc
        if kind in ("date", "datetime"):
            if isinstance(value, dt.datetime):
                return value.date()
            if isinstance(value, dt.date):
                return value
            try:
                return dt.date.fromisoformat(str(value).strip()[:10])
            except ValueError as exc:
                raise ValueError("a date YYYY-MM-DD is expected") from exc
        if kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("true", "1", "yes"):
                return True
            if text in ("false", "0", "no"):
                return False
            raise ValueError("true or false is expected")
        if kind == "choice":
            text = str(value)
            allowed = [key for key, _label in self.choices]
            if allowed and text not in allowed:
                raise ValueError("one of " + ", ".join(allowed) + " is expected")
            return text
        return str(value)


@dataclass
class RecordType:
    """A kind of record rules can watch and act on (a lead, an opportunity, a quote, ...)."""

    name: str
    model: str  # "app_label.ModelName"
    label: str
    id_key: str  # the key of the record's id in its events' payloads, e.g. "lead_id"
    owner_field: str | None = "owner"
    events: dict[str, str] = field(default_factory=dict)  # trigger kind -> event name
    date_fields: list[str] = field(default_factory=list)
    updater: Callable | None = None  # updater(actor, instance, **values) through the stage's services
    url_name: str = ""  # the record's page, reversed with its pk ("leads:lead-detail")
    _field_names: list[str] = field(default_factory=list)
    _updatable: set[str] = field(default_factory=set)
    _fields: dict[str, FieldSpec] | None = None

    def get_model(self):
        from django.apps import apps

        return apps.get_model(self.model)

    @property
    def object_type(self) -> str:
        """The audit trail's name of the model ("leads.lead")."""
        app_label, model_name = self.model.split(".")
        return f"{app_label}.{model_name.lower()}"

    @property
    def fields(self) -> dict[str, FieldSpec]:
        if self._fields is None:
            self._fields = {name: _spec(self.get_model(), name, name in self._updatable) for name in self._field_names}
        return self._fields

    def load(self, pk):
        return self.get_model().objects.filter(pk=pk).first()

    def owner_id(self, instance):
        return getattr(instance, f"{self.owner_field}_id", None) if self.owner_field else None

    def link(self, instance) -> str:
        from django.urls import NoReverseMatch, reverse

        if not self.url_name:
            return ""
        try:
            return reverse(self.url_name, args=[instance.pk])
        except NoReverseMatch:
            return ""

    def record_id_from(self, payload: dict):
        return payload.get(self.id_key)


def _spec(model, name: str, updatable: bool) -> FieldSpec:
    from django.conf import settings
    from django.db import models

    f = model._meta.get_field(name)
    label = str(getattr(f, "verbose_name", name))
    choices = [(str(k), str(v)) for k, v in (f.choices or [])]
    if isinstance(f, models.ForeignKey):
        related = f.related_model._meta.label
        kind = "user" if related == settings.AUTH_USER_MODEL else "ref"
    elif choices:
        kind = "choice"
    elif isinstance(f, models.BooleanField):
        kind = "bool"
    elif isinstance(f, models.DateTimeField):
        kind = "datetime"
    elif isinstance(f, models.DateField):
        kind = "date"
    elif isinstance(f, models.DecimalField | models.IntegerField | models.FloatField):
        kind = "number"
    else:
        kind = "text"
    return FieldSpec(name=name, label=label, kind=kind, choices=choices, updatable=updatable)


@dataclass
class ParamSpec:
    """One parameter of an action: its kind (text, int, user, webhook, field, any), whether it is required."""

    name: str
    label: str
    kind: str = "text"
    required: bool = True
    default: object = None


@dataclass
class ActionContext:
    """What an action handler gets: the record, its type, the action's parameters, the rule and the user the
    rule acts as (every write goes through a service with that actor)."""

    record: object
    record_type: RecordType
    params: dict
    rule: object
    actor: object
    run: object = None  # the RuleRun: with `index`, a key for "do this once per run and action"
    index: int = 0  # the action's place in the rule


@dataclass
class Action:
    """Something a rule does. `handler(context) -> str` returns a short result text or raises; `validate(
    record_type, params) -> dict of param -> reason` checks parameters when the rule is saved."""

    name: str
    label: str
    params: list[ParamSpec]
    handler: Callable[[ActionContext], str]
    record_types: tuple[str, ...] | None = None  # None: every record type
    validate: Callable | None = None
    needs_updater: bool = False

    def applies_to(self, record_type: RecordType) -> bool:
        if self.needs_updater and record_type.updater is None:
            return False
        return self.record_types is None or record_type.name in self.record_types


_RECORD_TYPES: dict[str, RecordType] = {}
_ACTIONS: dict[str, Action] = {}
_ON_RECORD_TYPE: list[Callable[[RecordType], None]] = []


def register_record_type(name: str, *, model: str, label, id_key: str, fields, updatable=(), owner_field="owner",
                         events: dict[str, str] | None = None, date_fields=(), updater=None, url_name: str = "") -> RecordType:
    """Offer a record type to automation (call in AppConfig.ready). `fields`: the field names conditions may
    read; `updatable`: those an "update a field" action may set through `updater(actor, instance, **values)`;
    `events`: {"created": "lead.created", "status_changed": ..., "stage_entered": ...}. `updater` gets the
    fields' Python values (a user field as a User)."""
    unknown = set(events or {}) - set(EVENT_TRIGGERS)
    if unknown:
        raise ValueError(f"unknown trigger kinds {sorted(unknown)}; use {EVENT_TRIGGERS}")
    record_type = RecordType(name=name, model=model, label=label, id_key=id_key, owner_field=owner_field,
                             events=dict(events or {}), date_fields=list(date_fields), updater=updater, url_name=url_name,
                             _field_names=list(fields), _updatable=set(updatable))
    _RECORD_TYPES[name] = record_type
    for callback in _ON_RECORD_TYPE:
        callback(record_type)
    return record_type


def on_record_type(callback: Callable[[RecordType], None]) -> None:
    """Call `callback` for every record type registered so far and every one registered later (automation
    uses it to listen for field changes whatever order the apps are ready in)."""
    _ON_RECORD_TYPE.append(callback)
    for record_type in list(_RECORD_TYPES.values()):
        callback(record_type)


def register_action(name: str, *, label, handler: Callable[[ActionContext], str], params=(),
                    record_types=None, validate=None, needs_updater: bool = False) -> Action:
    """Offer an action to rules (call in AppConfig.ready). `params`: ParamSpec list (or dicts of its fields)."""
    specs = [p if isinstance(p, ParamSpec) else ParamSpec(**p) for p in params]
    action = Action(name=name, label=label, params=specs, handler=handler,
                    record_types=tuple(record_types) if record_types else None, validate=validate,
                    needs_updater=needs_updater)
    _ACTIONS[name] = action
    return action


def record_types() -> dict[str, RecordType]:
    return dict(_RECORD_TYPES)


def record_type(name: str) -> RecordType | None:
    return _RECORD_TYPES.get(name)


def record_type_for_object_type(object_type: str) -> list[RecordType]:
    return [rt for rt in _RECORD_TYPES.values() if rt.object_type == object_type]


def actions() -> dict[str, Action]:
    return dict(_ACTIONS)


def action(name: str) -> Action | None:
    return _ACTIONS.get(name)
