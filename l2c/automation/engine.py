"""The workflow rule engine: triggers, conditions, runs and loop detection.

Triggers. `on_event` (subscribed to every domain event) matches a record type's own events ("created",
"status_changed", "stage_entered") and rules with an "event" trigger on that event whose payload names a
record of the rule's type (its `id_key`). `on_field_change` (an audit change listener, see
`core.audit.add_change_listener`) fires "field changed" rules. `sweep_time_rules` (daily beat job) fires
"time" rules for records whose date field plus the rule's offset has arrived, once per (rule, record, date).
All three run after the user's transaction committed; they enqueue the Celery task `run_rule`, so a failing
rule never undoes the user's change and a request never waits for rules.

Runs. Each run is logged (RuleRun) before its actions start. The actions of one run share one transaction:
when one fails, the run is logged as failed with every action's result and the error, and the earlier
actions of that run are rolled back too (a rule does all it says or nothing; its record is left as the user
left it). Actions write through the stage services acting as the rule's `run_as` user.

Loops. While a run's actions execute, the causal chain (the runs that led here: rule, record type, record
id) is held in a contextvar; domain events and audit listeners deliver in the publisher's context, so the
rules they trigger receive the chain in the task's arguments. A rule that would run again for the same record
within one chain, or a chain deeper than MAX_DEPTH, is logged as "loop stopped" and does nothing.
"""
from __future__ import annotations

import contextvars
import datetime as dt
import logging
import uuid
from decimal import Decimal

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from l2c.core import automation_registry as registry
from l2c.core.errors import DomainError

from .choices import CHANGE_OPERATORS, EVENT_TRIGGER_KINDS, Operator, RunStatus, TriggerKind
from .models import AutomationRule, RuleRun

log = logging.getLogger(__name__)

MAX_DEPTH = 5  # rule runs caused by rule runs; deeper is treated as a loop
TIME_WINDOW_DAYS = 7  # a time rule still fires when the sweep missed its day by up to this many days

_CHAIN: contextvars.ContextVar[tuple] = contextvars.ContextVar("l2c_automation_chain", default=())


def current_chain() -> list[list]:
    return [list(link) for link in _CHAIN.get()]


# --- triggers -----------------------------------------------------------------------------------------

def _enqueue(rule: AutomationRule, *, record_id, trigger: str, event: str = "", changes: dict | None = None,
             run_key: str | None = None) -> None:
    from . import tasks

    tasks.run_rule.delay(rule.pk, rule.record_type, str(record_id), trigger, event, changes, current_chain(), run_key)


# The active event-driven rules, cached per process and re-read when the shared version stamp (in the cache
# every process shares: the database table by default, Redis in production) changes: one cache read per event
# instead of a query of the rules, and a rule saved through any process is seen by every other process at its
# next event. Saving or deleting a rule bumps the stamp (after its commit).
RULES_VERSION_KEY = "l2c:automation:rules-version"
_rule_cache: tuple[object, list[AutomationRule]] | None = None


def forget_rules() -> None:
    """A rule changed: every process re-reads the rules at its next event."""
    global _rule_cache
    _rule_cache = None
    cache.set(RULES_VERSION_KEY, uuid.uuid4().hex, timeout=None)


def _active_rules() -> list[AutomationRule]:
    global _rule_cache
    version = cache.get(RULES_VERSION_KEY)
    if _rule_cache is None or _rule_cache[0] != version or version is None:
        rules = list(AutomationRule.objects.filter(is_active=True).exclude(trigger=TriggerKind.TIME)
                     .only("id", "record_type", "trigger", "trigger_config"))
        if version is None:  # first use (or the cache was cleared): stamp it so the others can follow
            version = uuid.uuid4().hex
            cache.add(RULES_VERSION_KEY, version, timeout=None)
            version = cache.get(RULES_VERSION_KEY)
        _rule_cache = (version, rules)
    return _rule_cache[1]


def on_event(name: str, payload: dict) -> int:
    """Subscriber of every domain event: enqueue the rules it triggers; how many."""
    candidates = {}  # record type name -> (record id, trigger kinds this event is)
    for rt in registry.record_types().values():
        record_id = rt.record_id_from(payload or {})
        if record_id is None:
            continue
        kinds = [kind for kind, event in rt.events.items() if event == name]
        candidates[rt.name] = (record_id, kinds)
    if not candidates:
        return 0
    triggers = {TriggerKind.EVENT.value, *EVENT_TRIGGER_KINDS}
    count = 0
    for rule in _active_rules():
        if rule.record_type not in candidates or rule.trigger not in triggers:
            continue
        record_id, kinds = candidates[rule.record_type]
        if rule.trigger in kinds or (rule.trigger == TriggerKind.EVENT and rule.trigger_config.get("event") == name):
            _enqueue(rule, record_id=record_id, trigger=rule.trigger, event=name)
            count += 1
    return count


def on_field_change(object_type: str, object_id: str, changes: dict) -> int:
    """Audit change listener: enqueue the "field changed" rules of the record's type watching a changed field."""
    names = [rt.name for rt in registry.record_type_for_object_type(object_type)]
    if not names:
        return 0
    count = 0
    for rule in _active_rules():
        if rule.record_type not in names or rule.trigger != TriggerKind.FIELD_CHANGED:
            continue
        if set(rule.trigger_config.get("fields") or []) & set(changes):
            _enqueue(rule, record_id=object_id, trigger=rule.trigger, changes=changes)
            count += 1
    return count


def sweep_time_rules(*, today: dt.date | None = None) -> int:
    """Enqueue every time rule for each record whose date field + offset fell on a day from TIME_WINDOW_DAYS
    ago up to today and that was not fired for yet (the run key holds the date, so a moved date fires again)."""
    today = today or timezone.localdate()
    count = 0
    for rule in AutomationRule.objects.filter(is_active=True, trigger=TriggerKind.TIME):
        rt = registry.record_type(rule.record_type)
        date_field = rule.trigger_config.get("date_field")
        if rt is None or date_field not in rt.date_fields:
            continue
        offset = int(rule.trigger_config.get("offset_days") or 0)
        # the date arrives when date + offset == today, i.e. date == today - offset
        latest = today - dt.timedelta(days=offset)
        earliest = latest - dt.timedelta(days=TIME_WINDOW_DAYS)
        spec = rt.fields.get(date_field)
        lookup = f"{date_field}__date" if spec is not None and spec.kind == "datetime" else date_field
        # a key of a date in the window cannot have fired before the window's first day
        since = timezone.now() - dt.timedelta(days=TIME_WINDOW_DAYS + 1) - max(dt.timedelta(0), today - timezone.localdate())
        fired = set(rule.runs.filter(run_key__isnull=False, started_at__gte=since).values_list("run_key", flat=True))
        rows = (rt.get_model().objects.filter(**{f"{lookup}__gte": earliest, f"{lookup}__lte": latest})
                .values_list("pk", date_field))
        for pk, value in rows.iterator():
            day = value.date() if isinstance(value, dt.datetime) else value
            key = f"time:{pk}:{day.isoformat()}"
            if key in fired:
                continue
            _enqueue(rule, record_id=pk, trigger=TriggerKind.TIME, run_key=key)
            count += 1
    return count


# --- conditions ---------------------------------------------------------------------------------------

def _normalise(spec: registry.FieldSpec, value):
    """A field's current or recorded value in the same form as `spec.coerce` makes of a rule's value."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        value = timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    if spec.kind == "number" and not isinstance(value, Decimal):
        return Decimal(str(value))
    if spec.kind in ("text", "choice"):
        return str(value)
    try:
        return spec.coerce(value)
    except ValueError:
        return value


def _coerce_all(spec, raw) -> list:
    values = raw if isinstance(raw, list) else [raw]
    out = []
    for item in values:
        try:
            out.append(spec.coerce(item))
        except ValueError:
            continue
    return out


def condition_matches(condition: dict, record_type: registry.RecordType, instance, changes: dict | None) -> bool:
    spec = record_type.fields.get(condition.get("field"))
    if spec is None:
        return False
    operator, raw = condition.get("operator"), condition.get("value")
    if operator in CHANGE_OPERATORS:
        if not changes or spec.name not in changes:
            return False
        old, new = changes[spec.name]
        return _normalise(spec, new if operator == Operator.CHANGED_TO else old) in _coerce_all(spec, raw)
    current = _normalise(spec, spec.read(instance))
    if operator == Operator.IS_EMPTY:
        return current is None
    if operator == Operator.NOT_EMPTY:
        return current is not None
    if operator == Operator.CONTAINS:
        return str(raw).lower() in str(current or "").lower()
    if operator in (Operator.IN, Operator.NOT_IN):
        found = current in _coerce_all(spec, raw)
        return found if operator == Operator.IN else not found
    expected = _coerce_all(spec, raw)
    if not expected:
        return False
    expected = expected[0]
    if operator == Operator.EQUALS:
        return current == expected
    if operator == Operator.NOT_EQUALS:
        return current != expected
    if current is None:
        return False
    try:
        return {Operator.GT: current > expected, Operator.GTE: current >= expected, Operator.LT: current < expected,
                Operator.LTE: current <= expected}[operator]
    except TypeError:
        return False


def conditions_match(rule: AutomationRule, record_type, instance, changes: dict | None) -> bool:
    return all(condition_matches(c, record_type, instance, changes) for c in rule.conditions or [])


# --- runs ---------------------------------------------------------------------------------------------

class _ActionFailed(Exception):
    pass


def _error_text(exc: Exception) -> str:
    if isinstance(exc, DomainError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"


def _finish(run: RuleRun, status: str, *, results=None, error: str = "") -> RuleRun:
    run.status = status
    run.results = results or []
    run.error = error[:4000]
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "results", "error", "finished_at"])
    return run


def run_rule(*, rule_id: int, record_type: str, record_id, trigger: str, event: str = "",
             changes: dict | None = None, chain=(), run_key: str | None = None) -> RuleRun | None:
    """Run one rule for one record and log it; None when the rule is gone or inactive, or the run key was
    fired already (safe to run twice for time triggers)."""
    rule = AutomationRule.objects.select_related("run_as").filter(pk=rule_id, is_active=True).first()
    if rule is None:
        return None
    chain = tuple(tuple(link) for link in (chain or ()))
    me = (rule.pk, record_type, str(record_id))
    rt = registry.record_type(record_type)
    instance = rt.load(record_id) if rt is not None else None
    run = RuleRun(rule=rule, record_type=record_type, record_id=str(record_id),
                  record_repr=str(instance)[:200] if instance is not None else "", trigger=trigger,
                  event=event or "", depth=len(chain), chain=[list(link) for link in chain], run_key=run_key,
                  started_at=timezone.now())
    try:
        with transaction.atomic():
            run.save()
    except IntegrityError:
        return None  # this time trigger fired already for this record and date
    if me in chain or len(chain) >= MAX_DEPTH:
        why = (_("The rule was triggered again for the same record by its own actions.") if me in chain
               else _("More than %(n)d rules triggered one another.") % {"n": MAX_DEPTH})
        log.warning("automation: loop stopped for rule %s on %s %s (chain %s)", rule.pk, record_type, record_id,
                    chain)
        return _finish(run, RunStatus.LOOP_STOPPED, error=why)
    if rt is None or instance is None:
        return _finish(run, RunStatus.FAILED, error=_("The record no longer exists."))
    if not conditions_match(rule, rt, instance, changes):
        return _finish(run, RunStatus.SKIPPED)
    if rule.run_as is None or not rule.run_as.is_active:
        return _finish(run, RunStatus.FAILED, error=_("The rule has no active user to act as; save it again."))
    results: list[dict] = []
    status, error = RunStatus.SUCCEEDED, ""
    token = _CHAIN.set((*chain, me))
    try:
        with transaction.atomic():
            for index, item in enumerate(rule.actions):
                action = registry.action(item.get("type"))
                if action is None:
                    results.append({"action": item.get("type"), "ok": False,
                                    "error": _("This action is no longer offered.")})
                    raise _ActionFailed
                context = registry.ActionContext(record=instance, record_type=rt, params=dict(item.get("params") or {}),
                                                 rule=rule, actor=rule.run_as, run=run, index=index)
                try:
                    with transaction.atomic():
                        text = action.handler(context)
                except Exception as exc:  # any failure is the run's result, never the caller's
                    results.append({"action": action.name, "ok": False, "error": _error_text(exc)[:1000]})
                    if not isinstance(exc, DomainError):
                        log.exception("automation: action %s of rule %s failed", action.name, rule.pk)
                    raise _ActionFailed from exc
                results.append({"action": action.name, "ok": True, "result": str(text or "")[:500]})
                instance = rt.load(record_id) or instance  # the next action sees this one's writes
    except _ActionFailed:
        status = RunStatus.FAILED
        error = results[-1].get("error", "") if results else ""
        for result in results[:-1]:
            result["rolled_back"] = True
    finally:
        _CHAIN.reset(token)
    return _finish(run, status, results=results, error=error)
