"""Bulk writes of an import, inside the import's one transaction: no Django model instance per new
row, no query per row.

- PostgreSQL: lead ids come from the table's own sequence (`nextval` in blocks, so concurrent
  inserts elsewhere never collide and the sequence needs no repair), then rows go in with `COPY ...
  FROM STDIN` (psycopg 3 `cursor.copy()`).
- SQLite: the transaction holds the write lock from its start (transaction_mode IMMEDIATE; an explicit
  write makes sure of it), ids continue after max(id) and the AUTOINCREMENT counter, and rows go in
  with `executemany` on the raw connection.
- Updates of existing leads (on_duplicate=update) use the ORM (`bulk_update`), because each one is
  audited with its before/after values; they are few next to the created rows.
"""
from __future__ import annotations

import json
from collections.abc import Iterable

from django.db import connection
from django.utils.translation import gettext as _

from l2c.core import audit, changes

from ..choices import TouchKind
from ..models import Lead, Touch

ID_BLOCK = 10_000


def _template(model, now, skip: Iterable[str] = ()) -> tuple[list[str], list, dict[str, int]]:
    """(column names, default value per column as the database takes it, field name → position)."""
    skip = set(skip)
    columns, values, positions = [], [], {}
    for field in model._meta.concrete_fields:
        if field.name in skip:
            continue
        if field.name in ("created_at", "updated_at", "status_changed_at", "occurred_at"):
            value = now
        elif field.has_default():
            value = field.get_default()
        elif field.null:
            value = None
        else:
            value = "" if field.get_internal_type() in ("CharField", "TextField", "EmailField") else None
        if field.get_internal_type() == "JSONField" and value is not None:
            value = json.dumps(value)
        elif value is not None:
            value = field.get_db_prep_save(value, connection)
        positions[field.attname] = len(columns)
        positions.setdefault(field.name, len(columns))
        columns.append(field.column)
        values.append(value)
    return columns, values, positions


class LeadWriter:
    """Writes new leads and touches in bulk, applies audited updates; `write=False` only hands out ids."""

    def __init__(self, *, now, job_id: int | None, write: bool):
        self.write = write
        self.vendor = connection.vendor
        self.job_id = job_id
        self.now = now
        self.lead_columns, self.lead_template, self.lead_pos = _template(Lead, now)
        self.touch_columns, self.touch_template, self.touch_pos = _template(Touch, now, skip=("id",))
        self.touch_template[self.touch_pos["kind"]] = TouchKind.IMPORT
        self.touch_template[self.touch_pos["import_job"]] = job_id
        self._ids: list[int] = []
        self._next_local = None
        self._sequence = None
        self.leads_written = 0
        self.touches_written = 0
        self._tuned = False

    # --- ids --------------------------------------------------------------------------------------

    def _max_existing_id(self) -> int:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {Lead._meta.db_table}")
            top = cursor.fetchone()[0]
            if self.vendor == "sqlite":
                cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [Lead._meta.db_table])
                row = cursor.fetchone()
                top = max(top, row[0] if row else 0)
        return top

    def next_id(self, expected: int = ID_BLOCK) -> int:
        if self.write and self.vendor == "postgresql":
            if not self._ids:
                self._fetch_ids(max(100, min(ID_BLOCK, expected)))
            return self._ids.pop()
        if self._next_local is None:
            if self.write and self.vendor == "sqlite":
                with connection.cursor() as cursor:  # take the write lock before reading max(id)
                    cursor.execute(f"UPDATE {Lead._meta.db_table} SET id = id WHERE 0")
            self._next_local = self._max_existing_id() + 1
        value = self._next_local
        self._next_local += 1
        return value

    def _fetch_ids(self, count: int) -> None:
        with connection.cursor() as cursor:
            if self._sequence is None:
                cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [Lead._meta.db_table])
                self._sequence = cursor.fetchone()[0]
            cursor.execute("SELECT nextval(%s) FROM generate_series(1, %s)", [self._sequence, count])
            self._ids = [row[0] for row in cursor.fetchall()]
        self._ids.reverse()

    # --- rows -------------------------------------------------------------------------------------

    def lead_row(self, lead_id: int, values: dict[str, str], fixed: dict[str, object]) -> list:
        row = list(self.lead_template)
        pos = self.lead_pos
        row[pos["id"]] = lead_id
        for name, value in fixed.items():
            row[pos[name]] = value
        for name, value in values.items():
            row[pos[name]] = value
        return row

    def touch_row(self, lead_id: int, *, source: str, campaign_id, data: dict | int) -> list:
        """`data`: the touch's JSON, or just the file row number of a created lead (the common case,
        written without json.dumps)."""
        row = list(self.touch_template)
        pos = self.touch_pos
        row[pos["lead_id"]] = lead_id
        row[pos["source"]] = source
        row[pos["campaign_id"]] = campaign_id
        row[pos["data"]] = f'{{"row": {data}}}' if isinstance(data, int) else json.dumps(data, ensure_ascii=False)
        return row

    def insert(self, model, columns: list[str], rows: list[list]) -> None:
        if not rows or not self.write:
            return
        table = model._meta.db_table
        quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
        if self.vendor == "postgresql":
            with connection.cursor() as cursor:
                if not self._tuned:
                    # GIN (trigram search) indexes queue new entries in a pending list and merge it
                    # when it exceeds this size; merging in big batches is much cheaper than in 4 MB
                    # ones. Only for this transaction; autovacuum merges what is left.
                    cursor.execute("SET LOCAL gin_pending_list_limit = '256MB'")
                    self._tuned = True
                with cursor.cursor.copy(f"COPY {table} ({quoted}) FROM STDIN") as copy:
                    write_row = copy.write_row
                    for row in rows:
                        write_row(row)
        else:
            connection.ensure_connection()
            placeholders = ", ".join("?" for _c in columns)
            connection.connection.executemany(f"INSERT INTO {table} ({quoted}) VALUES ({placeholders})", rows)

    def insert_leads(self, rows: list[list]) -> None:
        self.insert(Lead, self.lead_columns, rows)
        if self.write and rows:
            # one announcement for the chunk (derived figures, e.g. analytics' lead flow, mark the id range)
            ids = [row[self.lead_pos["id"]] for row in rows]
            changes.announce_range(Lead, min(ids), max(ids))
        self.leads_written += len(rows) if self.write else 0

    def insert_touches(self, rows: list[list]) -> None:
        self.insert(Touch, self.touch_columns, rows)
        self.touches_written += len(rows) if self.write else 0

    # --- updates ----------------------------------------------------------------------------------

    def apply_updates(self, updates: dict[int, dict[str, str]]) -> list[audit.PendingEvent]:
        """Overwrite each lead's mapped fields with the row's non-empty values; one audit event per
        lead that changed (converted leads are never passed here)."""
        events: list[audit.PendingEvent] = []
        if not updates or not self.write:
            return events
        ids = list(updates)
        for start in range(0, len(ids), 1000):
            batch = ids[start:start + 1000]
            changed, fields = [], set()
            for lead in Lead.objects.filter(pk__in=batch).select_for_update():
                diff = {}
                for name, value in updates[lead.pk].items():
                    old = getattr(lead, name)
                    if old != value:
                        diff[name] = [old, value]
                        setattr(lead, name, value)
                        fields.add(name)
                if diff:
                    lead.updated_at = self.now
                    changed.append(lead)
                    if self.job_id:
                        diff["import_job"] = [None, self.job_id]
                    events.append(audit.PendingEvent(
                        action=audit.Action.UPDATE, object_type=audit.object_type_of(Lead), object_id=str(lead.pk),
                        object_repr=str(lead)[:200], changes=diff))
            if changed:
                Lead.objects.bulk_update(changed, sorted(fields | {"updated_at"}), batch_size=500)
                changes.announce(Lead, [lead.pk for lead in changed])
        return events


def created_event(*, ids: list[int], rows: tuple[int, int], job_id: int | None, file_name: str,
                  touches: int) -> audit.PendingEvent:
    """One audit event for the leads one chunk of the import created (a million per-lead events
    would double the import's cost and bury the trail): the id ranges, the file rows, the job."""
    ranges: list[list[int]] = []
    for lead_id in sorted(ids):
        if ranges and ranges[-1][1] == lead_id - 1:
            ranges[-1][1] = lead_id
        else:
            ranges.append([lead_id, lead_id])
    label = f"{ranges[0][0]}-{ranges[-1][1]}" if ranges else "-"
    return audit.PendingEvent(
        action=audit.Action.CREATE, object_type=audit.object_type_of(Lead), object_id=f"import:{label}"[:64],
        object_repr=(_("%(count)d leads imported from %(file)s (rows %(first)d–%(last)d)")
                     % {"count": len(ids), "file": file_name, "first": rows[0], "last": rows[1]})[:200],
        changes={"import_job": job_id, "file": file_name, "created": len(ids), "rows": list(rows),
                 "id_ranges": ranges, "touches": touches},
    )
