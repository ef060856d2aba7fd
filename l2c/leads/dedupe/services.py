"""Writes of the duplicate finder: duplicate scans, merging leads or contacts, and undoing a merge.

Merge (`lead_merge`, `contact_merge`), in one transaction:
  lock every record (id order) → check → set the survivor's fields from the chosen records → move the
  rows that point at the merged records (touches, activities, opportunities, converted leads …) to
  the survivor → mark the others `merged_into` the survivor → MergeRecord + MERGE audit events.

The rows to move are found by model introspection (`Model._meta.related_objects`), not by importing
the apps that own them: leads may not import pipeline, yet pipeline's activities and opportunities
must follow the survivor. Exactly the moved ids are kept in the MergeRecord, so an undo moves those
rows back and no others.

Undo (`merge_undo`) policy, decided here:
- refused (409) when it is already undone; when the survivor has since been merged into another
  record (undo that merge first); when a merged record has since been merged elsewhere; and when a
  lead survivor has been converted since (a converted lead is final);
- otherwise allowed. A survivor field the merge changed is restored to its old value unless someone
  edited it after the merge: then the newer value is kept and the field is reported in
  `snapshot["undo"]["kept_fields"]`. Moved rows that were deleted or moved elsewhere since stay
  where they are and are counted in `snapshot["undo"]["rows_not_returned"]`.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from l2c.core import audit, changes, events
from l2c.core.errors import Conflict, FieldError, NotFound, PermissionDenied, ValidationFailed
from l2c.customers import services as customer_services
from l2c.customers.models import Contact

from ..choices import LeadStatus
from ..models import DuplicateGroup, DuplicateMember, DuplicatePair, DuplicateScan, Lead, MergeRecord
from . import matching

events.register_event("lead.merged", "Leads were merged into one. Payload: merge_id, survivor_id, merged_ids, actor_id.")
events.register_event("lead.merge_undone", "A lead merge was undone. Payload: merge_id, survivor_id, merged_ids, actor_id.")
events.register_event("contact.merged",
                      "Contacts were merged into one. Payload: merge_id, survivor_id, merged_ids, actor_id.")
events.register_event("contact.merge_undone",
                      "A contact merge was undone. Payload: merge_id, survivor_id, merged_ids, actor_id.")

MAX_MERGE = 10  # records in one merge
UPDATE_BATCH = 500
STALE_SCAN = dt.timedelta(hours=6)  # a queued/running scan older than this is considered lost

# What a merge picks per record: a key → the fields that travel together (consent and UTM are one
# statement each; mixing the consent text of one record with the time of another would be false).
LEAD_MERGE_FIELDS: dict[str, tuple[str, ...]] = {
    "first_name": ("first_name",), "last_name": ("last_name",), "title": ("title",), "email": ("email",),
    "phone": ("phone",), "company": ("company",), "website": ("website",), "industry": ("industry",),
    "company_size": ("company_size",), "city": ("city",), "country": ("country",), "source": ("source",),
    "campaign": ("campaign",), "owner": ("owner",), "score": ("score",), "description": ("description",),
    "utm": ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"),
    "consent": ("consent_basis", "consent_text", "consent_at", "consent_source", "consent_ip"),
}
CONTACT_MERGE_FIELDS: dict[str, tuple[str, ...]] = {
    "first_name": ("first_name",), "last_name": ("last_name",), "title": ("title",), "email": ("email",),
    "phone": ("phone",), "mobile": ("mobile",), "account": ("account",), "country": ("country",),
    "owner": ("owner",),
}
GROUP_LABELS = {"utm": gettext_lazy("UTM parameters"), "consent": gettext_lazy("Consent")}


def require_sales(actor) -> None:
    if actor is not None and not getattr(actor, "is_sales", False):
        raise PermissionDenied(_("Your role cannot merge records."))


# --- merge specs: what differs between merging leads and merging contacts ----------------------------

@dataclass(frozen=True)
class MergeSpec:
    kind: str
    model: type[models.Model]
    fields: dict[str, tuple[str, ...]]
    event_prefix: str

    def name(self, pk) -> str:
        return (_("lead #%(id)s") if self.kind == MergeRecord.Kind.LEAD else _("contact #%(id)s")) % {"id": pk}

    def not_found(self, pk) -> NotFound:
        if self.kind == MergeRecord.Kind.LEAD:
            return NotFound(_("No lead with id %(id)s.") % {"id": pk})
        return NotFound(_("No contact with id %(id)s.") % {"id": pk})

    def write(self, *, survivor, values: dict, merged_ids: list[int], merged_into_id: int | None) -> None:
        if self.kind == MergeRecord.Kind.CONTACT:
            customer_services.contact_merge_apply(survivor=survivor, values=values, merged_ids=merged_ids,
                                                  merged_into_id=merged_into_id)
            return
        if values:
            for attname, value in values.items():
                setattr(survivor, attname, value)
            survivor.save(update_fields=[*values, "updated_at"])
        Lead.objects.filter(pk__in=merged_ids).update(merged_into_id=merged_into_id, updated_at=timezone.now())
        changes.announce(Lead, [*merged_ids, survivor.pk])


LEAD_SPEC = MergeSpec(MergeRecord.Kind.LEAD, Lead, LEAD_MERGE_FIELDS, "lead")
CONTACT_SPEC = MergeSpec(MergeRecord.Kind.CONTACT, Contact, CONTACT_MERGE_FIELDS, "contact")
SPECS = {spec.kind: spec for spec in (LEAD_SPEC, CONTACT_SPEC)}


def field_label(spec: MergeSpec, key: str) -> str:
    if key in GROUP_LABELS:
        return str(GROUP_LABELS[key])
    return str(spec.model._meta.get_field(spec.fields[key][0]).verbose_name).capitalize()


def _is_empty(value) -> bool:
    return value is None or value == ""


def _group_empty(record, names: tuple[str, ...]) -> bool:
    return all(_is_empty(getattr(record, record._meta.get_field(n).attname)) for n in names)


def default_choices(spec: MergeSpec, survivor, records: list) -> dict[str, int]:
    """Per field: the survivor's value when it has one, else the most recently changed record's
    non-empty value, else the survivor's (empty) value. A converted survivor keeps all its values."""
    if getattr(survivor, "status", None) == LeadStatus.CONVERTED:
        return {key: survivor.pk for key in spec.fields}  # a converted lead's values are final
    newest_first = sorted(records, key=lambda r: (r.updated_at, r.pk), reverse=True)
    choices = {}
    for key, names in spec.fields.items():
        if not _group_empty(survivor, names):
            choices[key] = survivor.pk
            continue
        source = next((r for r in newest_first if not _group_empty(r, names)), survivor)
        choices[key] = source.pk
    return choices


def _relations(model) -> list:
    """Reverse foreign keys to `model` from other models (touches, activities, opportunities …)."""
    rels = []
    for rel in model._meta.related_objects:
        if rel.related_model is model or rel.many_to_many:
            continue  # merged_into chains stay as they are; no many-to-many points at leads/contacts
        rels.append(rel)
    return rels


def _rel_key(rel) -> str:
    meta = rel.related_model._meta
    return f"{meta.app_label}.{meta.model_name}.{rel.field.name}"


def _move_rows(model, survivor_id: int, other_ids: list[int]) -> dict[str, dict[str, list[int]]]:
    moved: dict[str, dict[str, list[int]]] = {}
    for rel in _relations(model):
        related, attname = rel.related_model, rel.field.attname
        rows = list(related._base_manager.filter(**{f"{attname}__in": other_ids}).order_by("pk")
                    .values_list("pk", attname))
        if not rows:
            continue
        if rel.one_to_one and (len(rows) > 1 or related._base_manager.filter(**{attname: survivor_id}).exists()):
            continue  # the survivor can hold only one; the merged record keeps its own (undo needs nothing)
        by_source: dict[str, list[int]] = {}
        for pk, source in rows:
            by_source.setdefault(str(source), []).append(pk)
        ids = [pk for pk, _source in rows]
        for start in range(0, len(ids), UPDATE_BATCH):
            related._base_manager.filter(pk__in=ids[start:start + UPDATE_BATCH]).update(**{attname: survivor_id})
        changes.announce(related, ids)
        moved[_rel_key(rel)] = by_source
    return moved


def _to_python(model, name: str, value):
    field = model._meta.get_field(name)
    return value if field.is_relation else field.to_python(value)


def _ids(values, field: str) -> list[int]:
    out = []
    for value in values:
        try:
            pk = int(value)
        except (TypeError, ValueError):
            raise ValidationFailed.single(field, _("Not a record id: %(value)r.") % {"value": value},
                                          "invalid_id") from None
        if pk < 1:
            raise ValidationFailed.single(field, _("Not a record id: %(value)r.") % {"value": value}, "invalid_id")
        out.append(pk)
    return out


def _merge(spec: MergeSpec, *, survivor, others, field_choices: dict | None, actor) -> MergeRecord:
    require_sales(actor)
    survivor_id = _ids([getattr(survivor, "pk", survivor)], "survivor_id")[0]
    other_ids = _ids([getattr(o, "pk", o) for o in (others or [])], "other_ids")
    if not other_ids:
        raise ValidationFailed.single("other_ids", _("Choose at least one other record to merge into the survivor."),
                                      "required")
    if survivor_id in other_ids:
        raise ValidationFailed.single("other_ids", _("A record cannot be merged with itself."), "self_merge")
    if len(set(other_ids)) != len(other_ids):
        raise ValidationFailed.single("other_ids", _("Each record may be listed once."), "duplicate_id")
    if len(other_ids) + 1 > MAX_MERGE:
        raise ValidationFailed.single("other_ids", _("At most %(n)d records can be merged at once.") % {"n": MAX_MERGE},
                                      "too_many")
    all_ids = [survivor_id, *other_ids]
    # someone else's record is a 404, exactly like a missing one (checked again under the lock)
    visible = set(spec.model.objects.restrict(actor).filter(pk__in=all_ids).values_list("pk", flat=True))
    for pk in all_ids:
        if pk not in visible:
            raise spec.not_found(pk)
    choices = dict(field_choices or {})
    errors = []
    for key, source in choices.items():
        if key not in spec.fields:
            errors.append(FieldError(f"field_choices.{key}", _("Not a field that can be merged; use one of %(keys)s.")
                                     % {"keys": ", ".join(spec.fields)}, "unknown_field"))
            continue
        try:
            choices[key] = int(source)
        except (TypeError, ValueError):
            errors.append(FieldError(f"field_choices.{key}", _("Not a record id: %(value)r.") % {"value": source},
                                     "invalid_id"))
            continue
        if choices[key] not in all_ids:
            errors.append(FieldError(f"field_choices.{key}", _("Record #%(id)s is not part of this merge.")
                                     % {"id": source}, "not_in_merge"))
    if errors:
        raise ValidationFailed(errors)

    locked = {r.pk: r for r in spec.model.objects.select_for_update().filter(pk__in=all_ids).order_by("pk")}
    if len(locked) != len(all_ids):
        raise spec.not_found(next(pk for pk in all_ids if pk not in locked))
    survivor = locked[survivor_id]
    others = [locked[pk] for pk in other_ids]
    for record in (survivor, *others):
        if record.merged_into_id is not None:
            raise Conflict(_("%(record)s was already merged into #%(target)s.")
                           % {"record": spec.name(record.pk), "target": record.merged_into_id}, code="already_merged")
    if spec.kind == MergeRecord.Kind.LEAD:
        converted = [o.pk for o in others if o.status == LeadStatus.CONVERTED]
        if converted:
            raise ValidationFailed.single(
                "other_ids", _("Lead #%(id)s is converted and cannot be merged away; choose it as the survivor.")
                % {"id": converted[0]}, "converted_lead")

    resolved = {**default_choices(spec, survivor, [survivor, *others]), **choices}
    values: dict[str, Any] = {}
    for key, source_id in resolved.items():
        if source_id == survivor_id:
            continue
        source = locked[source_id]
        for name in spec.fields[key]:
            attname = spec.model._meta.get_field(name).attname
            if getattr(source, attname) != getattr(survivor, attname):
                values[attname] = getattr(source, attname)
    if values and spec.kind == MergeRecord.Kind.LEAD and survivor.status == LeadStatus.CONVERTED:
        changed = sorted({k for k, names in spec.fields.items() if resolved[k] != survivor_id})
        raise ValidationFailed([FieldError(f"field_choices.{k}", _("The survivor is converted: its values are final; "
                                           "keep its own value."), "survivor_converted") for k in changed])
    names = [f.name for f in spec.model._meta.concrete_fields if f.attname in values]
    before_all = audit.snapshot(survivor)
    merged_snapshots = {str(o.pk): audit.snapshot(o) for o in others}
    try:
        with transaction.atomic():
            spec.write(survivor=survivor, values=values, merged_ids=other_ids, merged_into_id=survivor_id)
            moved = _move_rows(spec.model, survivor_id, other_ids)
    except IntegrityError as exc:
        raise Conflict(_("The records cannot be merged: a related record would clash (%(error)s).")
                       % {"error": exc}, code="merge_clash") from exc
    after = audit.snapshot(survivor, names)
    before = {n: before_all.get(n) for n in names}
    merge = MergeRecord.objects.create(
        kind=spec.kind, survivor_id=survivor_id, merged_ids=other_ids, merged_by=actor if actor else None,
        snapshot={"survivor_before": before, "survivor_after": after, "choices": {k: v for k, v in resolved.items()},
                  "merged": merged_snapshots, "moved": moved},
    )
    object_type = audit.object_type_of(spec.model)
    changes = {n: [before[n], after[n]] for n in names}
    moved_counts = {k: sum(len(v) for v in by.values()) for k, by in moved.items()}
    pending = [audit.PendingEvent(
        action=audit.Action.MERGE, object_type=object_type, object_id=str(survivor_id), object_repr=str(survivor),
        changes={**changes, "merged": [None, other_ids], "merge_record": [None, merge.pk],
                 "moved_rows": [None, moved_counts]},
    )]
    for other in others:
        pending.append(audit.PendingEvent(
            action=audit.Action.MERGE, object_type=object_type, object_id=str(other.pk), object_repr=str(other),
            changes={"merged_into": [None, survivor_id], "merge_record": [None, merge.pk]},
        ))
    audit.record_many(pending, actor=actor)
    events.publish(f"{spec.event_prefix}.merged", {"merge_id": merge.pk, "survivor_id": survivor_id,
                                                   "merged_ids": other_ids, "actor_id": getattr(actor, "pk", None)})
    return merge


@transaction.atomic
def lead_merge(*, survivor, others, field_choices: dict | None = None, actor) -> MergeRecord:
    """Merge `others` (leads or ids) into `survivor`. field_choices: {field key: id of the record whose
    value wins} (keys: LEAD_MERGE_FIELDS); a field not given keeps the survivor's value, or the most
    recent non-empty one when the survivor's is empty. A converted lead can only be the survivor."""
    return _merge(LEAD_SPEC, survivor=survivor, others=others, field_choices=field_choices, actor=actor)


@transaction.atomic
def contact_merge(*, survivor, others, field_choices: dict | None = None, actor) -> MergeRecord:
    """Merge contacts (like `lead_merge`; keys: CONTACT_MERGE_FIELDS). Their activities, opportunities
    and the leads converted into them move to the survivor."""
    return _merge(CONTACT_SPEC, survivor=survivor, others=others, field_choices=field_choices, actor=actor)


@transaction.atomic
def merge_undo(*, merge: MergeRecord, actor) -> MergeRecord:
    """Undo a merge (see the module docstring for what is refused and what is kept)."""
    require_sales(actor)
    merge = MergeRecord.objects.select_for_update().get(pk=merge.pk)
    spec = SPECS[merge.kind]
    merged_ids = [int(pk) for pk in merge.merged_ids]
    all_ids = [merge.survivor_id, *merged_ids]
    visible = set(spec.model.objects.restrict(actor).filter(pk__in=all_ids).values_list("pk", flat=True))
    if any(pk not in visible for pk in all_ids):
        raise NotFound(_("No merge with id %(id)s.") % {"id": merge.pk})
    if merge.undone_at is not None:
        raise Conflict(_("This merge was already undone on %(when)s.")
                       % {"when": timezone.localtime(merge.undone_at).strftime("%Y-%m-%d %H:%M")}, code="merge_undone")
    locked = {r.pk: r for r in spec.model.objects.select_for_update().filter(pk__in=all_ids).order_by("pk")}
    if len(locked) != len(all_ids):
        missing = next(pk for pk in all_ids if pk not in locked)
        raise Conflict(_("%(record)s no longer exists; the merge cannot be undone.") % {"record": spec.name(missing)},
                       code="record_deleted")
    survivor = locked[merge.survivor_id]
    if survivor.merged_into_id is not None:
        raise Conflict(_("The survivor was merged into #%(id)s since; undo that merge first.")
                       % {"id": survivor.merged_into_id}, code="survivor_merged")
    for pk in merged_ids:
        if locked[pk].merged_into_id != survivor.pk:
            raise Conflict(_("%(record)s is no longer merged into the survivor; the merge cannot be undone.")
                           % {"record": spec.name(pk)}, code="merge_superseded")
    snap = merge.snapshot or {}
    before, after = snap.get("survivor_before", {}), snap.get("survivor_after", {})
    if spec.kind == MergeRecord.Kind.LEAD and survivor.status == LeadStatus.CONVERTED and _converted_since(survivor, merge):
        raise Conflict(_("The survivor has been converted since the merge; a converted lead is final, so the "
                         "merge cannot be undone."), code="lead_converted")
    current = audit.snapshot(survivor, list(after))
    restore, kept = {}, []
    for name, merged_value in after.items():
        if current.get(name) != merged_value:
            kept.append(name)  # edited after the merge: the newer value wins
            continue
        restore[spec.model._meta.get_field(name).attname] = _to_python(spec.model, name, before.get(name))
    spec.write(survivor=survivor, values=restore, merged_ids=merged_ids, merged_into_id=None)
    not_returned = _move_back(snap.get("moved", {}), survivor.pk)
    merge.undone_at = timezone.now()
    merge.undone_by = actor if actor else None
    merge.snapshot = {**snap, "undo": {"kept_fields": kept, "rows_not_returned": not_returned}}
    merge.save(update_fields=["undone_at", "undone_by", "snapshot"])
    object_type = audit.object_type_of(spec.model)
    restored = {name: [after[name], before.get(name)] for name in after if name not in kept}
    pending = [audit.PendingEvent(
        action=audit.Action.UPDATE, object_type=object_type, object_id=str(survivor.pk), object_repr=str(survivor),
        changes={**restored, "merge_undone": [merge.pk, None], "unmerged": [merged_ids, None],
                 **({"kept_after_merge": [None, kept]} if kept else {})},
    )]
    for pk in merged_ids:
        pending.append(audit.PendingEvent(
            action=audit.Action.UPDATE, object_type=object_type, object_id=str(pk), object_repr=str(locked[pk]),
            changes={"merged_into": [survivor.pk, None], "merge_undone": [merge.pk, None]},
        ))
    audit.record_many(pending, actor=actor)
    events.publish(f"{spec.event_prefix}.merge_undone", {"merge_id": merge.pk, "survivor_id": survivor.pk,
                                                         "merged_ids": merged_ids,
                                                         "actor_id": getattr(actor, "pk", None)})
    return merge


def _converted_since(lead: Lead, merge: MergeRecord) -> bool:
    return lead.converted_at is not None and lead.converted_at >= merge.merged_at


def _move_back(moved: dict, survivor_id: int) -> dict[str, int]:
    """Move exactly the recorded rows back to the record they came from; {relation: rows left} for rows
    deleted or re-pointed since."""
    left: dict[str, int] = {}
    for key, by_source in moved.items():
        app_label, model_name, field_name = key.split(".")
        try:
            model = apps.get_model(app_label, model_name)
            attname = model._meta.get_field(field_name).attname
        except LookupError:
            left[key] = sum(len(ids) for ids in by_source.values())
            continue
        for source, ids in by_source.items():
            done = 0
            for start in range(0, len(ids), UPDATE_BATCH):
                done += model._base_manager.filter(pk__in=ids[start:start + UPDATE_BATCH],
                                                   **{attname: survivor_id}).update(**{attname: int(source)})
            changes.announce(model, ids)
            if done != len(ids):
                left[key] = left.get(key, 0) + len(ids) - done
    return left


# --- duplicate scans ---------------------------------------------------------------------------------

@transaction.atomic
def duplicate_scan_request(*, actor, threshold: int = matching.DEFAULT_THRESHOLD) -> DuplicateScan:
    """Queue a scan of every lead and contact (the task runs after commit). A scan already queued or
    running is returned instead of starting a second one."""
    require_sales(actor)
    try:
        threshold = int(threshold)
    except (TypeError, ValueError):
        threshold = -1
    if not 50 <= threshold <= 100:
        raise ValidationFailed.single("threshold", _("The similarity threshold is a whole number from 50 to 100."),
                                      "invalid_threshold")
    active = DuplicateScan.objects.select_for_update().filter(
        status__in=[DuplicateScan.Status.QUEUED, DuplicateScan.Status.RUNNING]).order_by("-id")
    for scan in active:
        if scan.requested_at >= timezone.now() - STALE_SCAN:
            return scan
        scan.status = DuplicateScan.Status.FAILED
        scan.error = _("no worker finished this scan in time")
        scan.finished_at = timezone.now()
        scan.save(update_fields=["status", "error", "finished_at"])
    scan = DuplicateScan.objects.create(threshold=threshold, requested_by=actor)
    audit.record(actor=actor, action=audit.Action.CREATE, instance=scan)
    from .tasks import find_duplicates

    transaction.on_commit(lambda: find_duplicates.delay(scan.pk))
    return scan


def duplicate_scan_run(*, scan_id: int | None = None) -> DuplicateScan:
    """Run a scan (the Celery task calls this). Without `scan_id` (the nightly schedule) a new scan is
    created. Safe to run twice: a finished scan is returned as it is. The new groups replace the
    previous scan's in one transaction, so the list never shows half a scan."""
    from .selectors import load_candidates

    if scan_id is None:
        scan = DuplicateScan.objects.create(threshold=matching.DEFAULT_THRESHOLD)
    else:
        with transaction.atomic():
            scan = DuplicateScan.objects.select_for_update().get(pk=scan_id)
            if scan.status != DuplicateScan.Status.QUEUED:
                return scan
            scan.status = DuplicateScan.Status.RUNNING
            scan.started_at = timezone.now()
            scan.save(update_fields=["status", "started_at"])
    if scan.started_at is None:
        DuplicateScan.objects.filter(pk=scan.pk).update(status=DuplicateScan.Status.RUNNING, started_at=timezone.now())
    try:
        candidates = load_candidates()
        groups = matching.find_groups(candidates, threshold=scan.threshold)
        with transaction.atomic():
            store_groups(scan=scan, groups=groups)
            DuplicateScan.objects.filter(pk=scan.pk).update(
                status=DuplicateScan.Status.DONE, finished_at=timezone.now(), records_compared=len(candidates),
                pairs_found=sum(len(g.pairs) for g in groups), groups_found=len(groups))
    except Exception as exc:
        DuplicateScan.objects.filter(pk=scan.pk).update(status=DuplicateScan.Status.FAILED, finished_at=timezone.now(),
                                                        error=f"{type(exc).__name__}: {exc}"[:2000])
        raise
    scan.refresh_from_db()
    return scan


def store_groups(*, scan: DuplicateScan, groups: list[matching.Group]) -> None:
    """Replace every stored group by `groups` (called inside the scan's transaction)."""
    DuplicatePair.objects.all().delete()
    DuplicateMember.objects.all().delete()
    DuplicateGroup.objects.all().delete()
    batch = 2000
    for start in range(0, len(groups), batch):
        chunk = groups[start:start + batch]
        rows = DuplicateGroup.objects.bulk_create([
            DuplicateGroup(scan=scan, kind=g.kind, size=len(g.members), score=g.score) for g in chunk])
        if any(row.pk is None for row in rows):  # backends without RETURNING
            rows = list(DuplicateGroup.objects.filter(scan=scan).order_by("-id")[: len(chunk)])[::-1]
        members, pairs = [], []
        for row, group in zip(rows, chunk, strict=True):
            for kind, pk in group.members:
                members.append(DuplicateMember(group=row, lead_id=pk if kind == matching.LEAD else None,
                                               contact_id=pk if kind == matching.CONTACT else None))
            for p in group.pairs:
                pairs.append(DuplicatePair(group=row, a_kind=p.a[0], a_id=p.a[1], b_kind=p.b[0], b_id=p.b[1],
                                           score=p.score, reasons=p.reasons))
        DuplicateMember.objects.bulk_create(members, batch_size=batch)
        DuplicatePair.objects.bulk_create(pairs, batch_size=batch)
