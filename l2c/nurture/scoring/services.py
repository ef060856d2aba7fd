"""Scoring writes: rules (create, change, delete; managers and admins, audited) and re-scoring.

`rescore_all` scores every lead in id ranges of BATCH: per range one query for the leads (only the fields the
rules and the model read) and one grouped query for their touches (count and decayed sums per touch kind), the
arithmetic a column at a time with numpy (engine.score_batch), then Lead.score set with `update_columns` for
the leads whose score changed and the range's LeadScore rows written (PostgreSQL: HOT updates, COPY and one
upsert; see `_write`), the range written while the next one is computed.
`rescore_lead` runs the same code for one lead, so both agree.
"""
from __future__ import annotations

import datetime as dt
import re

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from l2c.core import audit
from l2c.core.audit import JsonText
from l2c.core.bulk import insert_rows, update_columns
from l2c.core.errors import FieldError, NotFound, PermissionDenied, ValidationFailed

from ..choices import ModelStatus, RuleKind, RuleOperator
from ..models import LeadScore, ScoringModel, ScoringRule
from . import engine

BATCH = 50_000
WRITERS = 1  # threads writing computed ranges while the next is computed; 2 measured no faster on 2 CPUs
ANNOUNCE_CHUNK = 5_000  # score changes per publishing task (a Celery message of ~100 KB)
MAX_NAME = 200
MAX_VALUE = 500
MAX_POINTS = 100
TOUCH_KIND = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
RULE_FIELDS = ["name", "kind", "field", "operator", "value", "touch_kind", "points", "cap", "half_life_days",
               "is_active"]


# --- permissions -------------------------------------------------------------------------------------------

def can_view(user) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False))


def can_edit_scoring(user) -> bool:
    return can_view(user) and (getattr(user, "is_admin", False) or getattr(user, "is_manager", False))


def require_scoring_editor(user) -> None:
    if not can_edit_scoring(user):
        raise PermissionDenied(_("Only a manager or an admin may change scoring rules or train the model."))


# --- rules -------------------------------------------------------------------------------------------------

def _int(values: dict, name: str, errors: list, *, low: int, high: int, required: bool) -> int | None:
    value = values.get(name)
    if value in (None, ""):
        if required:
            errors.append(FieldError(name, _("Give a number."), "required"))
        return None
    if isinstance(value, bool):
        value = None
    try:
        number = int(value)
        if number != float(value):
            raise ValueError
    except (TypeError, ValueError):
        errors.append(FieldError(name, _("Give a whole number."), "invalid"))
        return None
    if not low <= number <= high:
        errors.append(FieldError(name, _("Give a number from %(low)s to %(high)s.") % {"low": low, "high": high},
                                 "out_of_range"))
    return number


def clean_rule(values: dict, *, instance: ScoringRule | None = None) -> dict:
    """The rule's fields, checked as a whole (after applying `values` to `instance`); ValidationFailed names
    each bad field."""
    unknown = set(values) - set(RULE_FIELDS)
    if unknown:
        raise TypeError(f"unknown scoring rule fields: {sorted(unknown)}")
    merged = {name: getattr(instance, name) for name in RULE_FIELDS} if instance else {}
    merged.update(values)
    errors: list[FieldError] = []
    cleaned: dict = {"name": (merged.get("name") or "").strip(), "is_active": bool(merged.get("is_active", True))}
    if len(cleaned["name"]) > MAX_NAME:
        errors.append(FieldError("name", _("At most %(limit)d characters (got %(count)d).")
                                 % {"limit": MAX_NAME, "count": len(cleaned["name"])}, "max_length"))
    kind = merged.get("kind")
    if kind not in RuleKind.values:
        errors.append(FieldError("kind", _("Unknown kind %(value)r: use one of %(allowed)s.")
                                 % {"value": kind, "allowed": ", ".join(RuleKind.values)}, "invalid_choice"))
        raise ValidationFailed(errors)
    cleaned["kind"] = kind
    cleaned["points"] = _int(merged, "points", errors, low=-MAX_POINTS, high=MAX_POINTS, required=True)
    if kind == RuleKind.FIT:
        field = merged.get("field") or ""
        if field not in engine.FIT_FIELDS:
            errors.append(FieldError("field", _("Unknown lead field %(value)r: use one of %(allowed)s.")
                                     % {"value": field, "allowed": ", ".join(engine.FIT_FIELDS)}, "invalid_choice"))
        operator = merged.get("operator") or ""
        if operator not in RuleOperator.values:
            errors.append(FieldError("operator", _("Unknown operator %(value)r: use one of %(allowed)s.")
                                     % {"value": operator, "allowed": ", ".join(RuleOperator.values)},
                                     "invalid_choice"))
        value = (merged.get("value") or "").strip() if isinstance(merged.get("value") or "", str) else str(merged["value"])
        if not value:
            errors.append(FieldError("value", _("Give the value to compare with."), "required"))
        elif len(value) > MAX_VALUE:
            errors.append(FieldError("value", _("At most %(limit)d characters (got %(count)d).")
                                     % {"limit": MAX_VALUE, "count": len(value)}, "max_length"))
        elif operator in (RuleOperator.GTE, RuleOperator.LTE) and engine.number_in(value) is None:
            errors.append(FieldError("value", _("Give a number to compare with."), "invalid"))
        cleaned.update(field=field, operator=operator, value=value, touch_kind="", cap=None, half_life_days=None)
    else:
        touch_kind = (merged.get("touch_kind") or "").strip()
        if not TOUCH_KIND.match(touch_kind):
            errors.append(FieldError("touch_kind", _("Give a touch kind such as form_submission, email_open, "
                                                     "email_click or page_visit."), "invalid"))
        cap = _int(merged, "cap", errors, low=1, high=MAX_POINTS, required=False)
        half_life = _int(merged, "half_life_days", errors, low=1, high=3650, required=False)
        cleaned.update(field="", operator="", value="", touch_kind=touch_kind, cap=cap, half_life_days=half_life)
    if errors:
        raise ValidationFailed(errors)
    return cleaned


def _after_rules_change() -> None:
    from .. import tasks

    transaction.on_commit(lambda: tasks.rescore_all_leads.delay())


@transaction.atomic
def rule_create(*, actor, **values) -> ScoringRule:
    require_scoring_editor(actor)
    cleaned = clean_rule(values)
    rule = ScoringRule.objects.create(created_by=actor, **cleaned)
    audit.record(actor=actor, action=audit.Action.CREATE, instance=rule,
                 changes={k: [None, v] for k, v in audit.snapshot(rule, RULE_FIELDS).items() if v not in (None, "")})
    _after_rules_change()
    return rule


def _locked(rule) -> ScoringRule:
    pk = getattr(rule, "pk", rule)
    found = ScoringRule.objects.select_for_update().filter(pk=pk).first()
    if found is None:
        raise NotFound(_("No scoring rule with id %(id)s.") % {"id": pk})
    return found


@transaction.atomic
def rule_update(*, actor, rule, **values) -> ScoringRule:
    require_scoring_editor(actor)
    rule = _locked(rule)
    cleaned = clean_rule(values, instance=rule)
    before = audit.snapshot(rule, RULE_FIELDS)
    for name, value in cleaned.items():
        setattr(rule, name, value)
    changes = audit.diff(before, audit.snapshot(rule, RULE_FIELDS))
    if changes:
        rule.save()
        audit.record(actor=actor, action=audit.Action.UPDATE, instance=rule, changes=changes)
        _after_rules_change()
    return rule


@transaction.atomic
def rule_delete(*, actor, rule) -> None:
    require_scoring_editor(actor)
    rule = _locked(rule)
    audit.record(actor=actor, action=audit.Action.DELETE, instance=rule,
                 changes={k: [v, None] for k, v in audit.snapshot(rule, RULE_FIELDS).items()})
    rule.delete()
    _after_rules_change()


# --- reading leads and touches in bulk ------------------------------------------------------------------------

def active_rules() -> list[engine.Rule]:
    return [engine.Rule.of(r) for r in ScoringRule.objects.filter(is_active=True).order_by("kind", "id")]


def active_model() -> ScoringModel | None:
    return ScoringModel.objects.filter(status=ModelStatus.ACTIVE).order_by("-created_at", "-id").first()


def compiled_model() -> engine.CompiledModel | None:
    model = active_model()
    if model is None:
        return None
    return engine.CompiledModel(model.feature_names, model.coefficients, model.intercept, model.pk)


def _age_days_sql() -> str:
    if connection.vendor == "postgresql":
        # float8 throughout: EXTRACT returns numeric, and POWER on numeric is exact and ~50 times slower
        return "GREATEST(EXTRACT(EPOCH FROM (%s::timestamptz - occurred_at))::float8 / 86400.0, 0.0)"
    return "MAX(julianday(%s) - julianday(occurred_at), 0)"


def _now_param(now: dt.datetime):
    if connection.vendor == "postgresql":
        return now
    return now.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def touch_rows(lo: int, hi: int, now: dt.datetime, half_lives: list[int]) -> list[tuple]:
    """(lead id, touch kind, count, Σ 0.5^(age/half-life) for each of `half_lives`) for leads lo ≤ id < hi,
    in one grouped query."""
    from l2c.leads.models import Touch

    table = connection.ops.quote_name(Touch._meta.db_table)
    half = "0.5::float8" if connection.vendor == "postgresql" else "0.5"
    sums = "".join(f", SUM(POWER({half}, {_age_days_sql()} / {int(h)}.0))" for h in half_lives)
    params = [_now_param(now) for _h in half_lives] + [lo, hi]
    sql = (f"SELECT lead_id, kind, COUNT(*){sums} FROM {table} WHERE lead_id >= %s AND lead_id < %s "
           f"GROUP BY lead_id, kind")
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def touch_aggregates(lo: int, hi: int, now: dt.datetime, half_lives: list[int]) -> dict[int, dict]:
    """{lead id: {touch kind: (count, {half-life: Σ 0.5^(age/half-life)})}} for leads lo ≤ id < hi."""
    out: dict[int, dict] = {}
    for row in touch_rows(lo, hi, now, half_lives):
        out.setdefault(row[0], {})[row[1]] = (row[2], {h: float(row[3 + i]) for i, h in enumerate(half_lives)})
    return out


def lead_rows(lo: int, hi: int, *, statuses=None) -> list[tuple]:
    """(id, score, status, {fit field: value}) of leads lo ≤ id < hi."""
    from l2c.leads.models import Lead

    names = list(engine.FIT_FIELDS)
    attnames = [engine.FIT_FIELDS[n] for n in names]
    qs = Lead.objects.filter(pk__gte=lo, pk__lt=hi)
    if statuses:
        qs = qs.filter(status__in=statuses)
    return [(row[0], row[1], row[2], dict(zip(names, row[3:], strict=True)))
            for row in qs.order_by("pk").values_list("pk", "score", "status", *attnames)]


def id_ranges(batch: int = BATCH):
    from django.db.models import Max, Min

    from l2c.leads.models import Lead

    bounds = Lead.objects.aggregate(lo=Min("pk"), hi=Max("pk"))
    if bounds["lo"] is None:
        return
    for start in range(bounds["lo"], bounds["hi"] + 1, batch):
        yield start, min(start + batch, bounds["hi"] + 1)


def half_lives(rules: list[engine.Rule]) -> list[int]:
    return sorted({r.half_life_days for r in rules if r.kind == RuleKind.ENGAGEMENT and r.half_life_days})


# --- scoring ---------------------------------------------------------------------------------------------------

def needed_fields(rules: list[engine.Rule], model: engine.CompiledModel | None) -> list[str]:
    """The lead fields the rules and the model read."""
    names = {r.field for r in rules if r.kind == RuleKind.FIT}
    if model is not None:
        names.update(engine.MODEL_FIELDS)
    return [name for name in engine.FIT_FIELDS if name in names]


def lead_columns(lo: int, hi: int, fields: list[str]) -> tuple[list, list, dict[str, list]]:
    """(ids, stored scores, {field: values}) of leads lo ≤ id < hi, in id order, in one query."""
    from l2c.leads.models import Lead

    quote_name = connection.ops.quote_name
    meta = Lead._meta
    names = [quote_name(meta.get_field(engine.FIT_FIELDS[name]).column) for name in fields]
    sql = (f"SELECT {quote_name(meta.pk.column)}, {quote_name(meta.get_field('score').column)}"
           f"{''.join(', ' + n for n in names)} FROM {quote_name(meta.db_table)} "
           f"WHERE {quote_name(meta.pk.column)} >= %s AND {quote_name(meta.pk.column)} < %s "
           f"ORDER BY {quote_name(meta.pk.column)}")
    with connection.cursor() as cursor:
        cursor.execute(sql, [lo, hi])
        rows = cursor.fetchall()
    values = [list(column) for column in zip(*rows, strict=True)] if rows else [[] for _n in range(2 + len(fields))]
    return values[0], values[1], dict(zip(fields, values[2:], strict=True))


def score_range(lo: int, hi: int, *, rules, model, now, language: str | None = None) -> engine.Batch:
    """Scores of leads lo ≤ id < hi (no writes), with the leads' stored scores: one query for the leads, one
    for their touches, the arithmetic a column at a time (engine.score_batch)."""
    ids, stored, columns = lead_columns(lo, hi, needed_fields(rules, model))
    lives = half_lives(rules)
    touches = engine.Touches.of_rows(ids, touch_rows(lo, hi, now, lives) if ids else [], lives)
    return engine.score_batch(ids, stored, columns, touches, rules, model,
                              (get_language() or "") if language is None else language)


SCORE_COLUMNS = ["lead_id", "score", "rule_score", "fit", "engagement", "probability", "grade", "factors",
                 "scored_at"]


def grade_changes(batch: engine.Batch) -> list[tuple[int, int | None, int]]:
    """(lead id, previous score, new score) of the leads whose grade changed (a first score included)."""
    grade = engine.grade_for
    return [(pk, old, new) for pk, new, old in zip(batch.ids, batch.score, batch.stored, strict=True)
            if old is None or grade(new) != grade(old)]


def announce(changes: list[tuple[int, int | None, int]]) -> None:
    """Publish `lead.score_changed` for each change (rules and webhooks may act on it, e.g. "score at least 80:
    qualify and tell the owner"), from the worker: a full re-score does not wait for its subscribers."""
    if not changes:
        return
    from .. import tasks

    for start in range(0, len(changes), ANNOUNCE_CHUNK):
        chunk = [list(change) for change in changes[start:start + ANNOUNCE_CHUNK]]
        transaction.on_commit(lambda chunk=chunk: tasks.publish_score_changes.delay(chunk))


def publish_score_changes(changes) -> int:
    from l2c.core.events import publish

    from ..automation import SCORE_EVENT

    grade = engine.grade_for
    for lead_id, old, new in changes:
        publish(SCORE_EVENT, {"lead_id": lead_id, "score": new, "previous_score": old, "grade": grade(new),
                              "previous_grade": grade(old)})
    return len(changes)


def _write(lo: int, hi: int, batch: engine.Batch, now) -> None:
    """Lead.score where it changed, and the range's LeadScore rows written. On PostgreSQL both are HOT updates
    where a row exists (a new row version on the same page, no index entries): no index of leads_lead
    contains `score`, and both tables keep half of each page free (leads 0014/0015, nurture 0004); the
    LeadScore rows go in by COPY into a temporary table and one `INSERT … ON CONFLICT (lead_id) DO UPDATE`.
    Every lead of the range is in the batch, and a LeadScore row cannot outlive its lead, so no other row of
    the range is left to delete. Measured (200,000 rows, 50,000 a transaction, with the foreign key): the
    upsert 1.7–2.1 s per 100k, delete + COPY 2.4–2.8 s (and the table growing by its size per run until
    vacuumed), `UPDATE … FROM` the temporary table 2.6–3.3 s; writing only the rows that differ was slower
    even when nothing changed, as comparing needs the new factors parsed into jsonb just as inserting them
    does. SQLite: delete + insert."""
    from l2c.leads.models import Lead

    rows = [(*row[:7], JsonText(row[7]), now) for row in batch.rows()]
    with transaction.atomic():
        announce(grade_changes(batch))
        update_columns(Lead, ["score"], [(pk, new) for pk, new, old in zip(batch.ids, batch.score, batch.stored,
                                                                            strict=True) if new != old])
        if connection.vendor == "postgresql":
            _upsert_scores(rows)
        else:
            LeadScore.objects.filter(lead_id__gte=lo, lead_id__lt=hi).delete()
            insert_rows(LeadScore, SCORE_COLUMNS, rows)


def _upsert_scores(rows: list[tuple]) -> None:
    """PostgreSQL: insert or overwrite the LeadScore rows (SCORE_COLUMNS order) in one statement."""
    quote_name = connection.ops.quote_name
    table = quote_name(LeadScore._meta.db_table)
    names = [quote_name(LeadScore._meta.get_field(name).column) for name in SCORE_COLUMNS]
    columns = ", ".join(names)
    updates = ", ".join(f"{name} = EXCLUDED.{name}" for name in names[1:])
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS scores_new (LIKE {table}) ON COMMIT DELETE ROWS")
        cursor.execute("TRUNCATE scores_new")  # empty also when an enclosing transaction wrote earlier batches
        with cursor.cursor.copy(f"COPY scores_new ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([str(value) if isinstance(value, JsonText) else value for value in row])
        cursor.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM scores_new "
                       f"ON CONFLICT ({names[0]}) DO UPDATE SET {updates}")


def rescore_all(*, now: dt.datetime | None = None, batch: int = BATCH) -> int:
    """Score every lead; returns how many were scored. Each id range is its own transaction, so a long run
    holds no lock for long and a crash leaves the ranges written done. On PostgreSQL, outside a transaction,
    ranges are written by WRITERS threads while the next one is read and computed, so the database writes
    while Python computes (docs/benchmarks.md, lead scoring); inside a transaction (tests, a caller's own),
    and on SQLite, one range after the other on the caller's connection."""
    now = now or timezone.now()
    rules, model = active_rules(), compiled_model()
    language = get_language() or ""
    ranges = list(id_ranges(batch))
    if len(ranges) > 1 and connection.vendor == "postgresql" and not connection.in_atomic_block:
        return _rescore_overlapped(ranges, rules=rules, model=model, now=now, language=language)
    done = 0
    for lo, hi in ranges:
        scored = score_range(lo, hi, rules=rules, model=model, now=now, language=language)
        _write(lo, hi, scored, now)
        done += len(scored)
    return done


def _rescore_overlapped(ranges, *, rules, model, now, language) -> int:
    """`rescore_all`'s loop with the writes on WRITERS threads, each range in its own transaction on its own
    connection (opened for the range and closed after it: ~20 connections for a million leads). A failed
    write stops the run: the ranges written are each whole, the failed one is not written."""
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    def write(lo, hi, scored):
        try:
            _write(lo, hi, scored, now)
        finally:
            connection.close()  # this thread's own connection (connections are per thread)

    done = 0
    with ThreadPoolExecutor(max_workers=WRITERS, thread_name_prefix="rescore-write") as writers:
        pending: deque = deque()
        for lo, hi in ranges:
            scored = score_range(lo, hi, rules=rules, model=model, now=now, language=language)
            if len(pending) >= WRITERS:
                pending.popleft().result()  # at most WRITERS computed ranges wait in memory; raises a write's error
            pending.append(writers.submit(write, lo, hi, scored))
            done += len(scored)
        while pending:
            pending.popleft().result()
    return done


def rescore_lead(lead, *, now: dt.datetime | None = None) -> LeadScore | None:
    """Score one lead (the same code as the batch, over a range of one id)."""
    now = now or timezone.now()
    pk = getattr(lead, "pk", lead)
    scored = score_range(pk, pk + 1, rules=active_rules(), model=compiled_model(), now=now)
    if not len(scored):
        return None
    _write(pk, pk + 1, scored, now)
    if hasattr(lead, "score"):
        lead.score = scored.score[0]
    return LeadScore.objects.get(pk=pk)


def on_lead_event(name: str, payload: dict) -> None:
    """lead.created / lead.status_changed: score the lead when anything is configured to score with — on the
    worker, so a web form or API capture does not wait for the score."""
    from ..tasks import rescore_lead as rescore_lead_task

    lead_id = payload.get("lead_id")
    if lead_id and (ScoringRule.objects.filter(is_active=True).exists() or active_model() is not None):
        rescore_lead_task.delay(lead_id)
