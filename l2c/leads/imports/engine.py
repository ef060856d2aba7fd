"""The lead import engine: `sniff` a file (format, encoding, delimiter, header, preview, suggested
mapping), then `run_import` it — validate every row, find duplicates in the file and against the
existing leads and contacts, and write the result in bulk in ONE transaction.

How a run goes:
1. The file is opened and streamed (parsing.py); file-level problems raise ImportFileError before
   anything is written.
2. Every existing lead and contact is indexed by its dedupe keys (matching.py).
3. Rows are validated one by one (validation.py) and collected in chunks of CHUNK_ROWS; each chunk
   is written with COPY (PostgreSQL) or executemany (SQLite) (writer.py). Between chunks `progress`
   is called and `should_cancel` is asked.
4. The audit events (one per chunk of created leads, one per updated lead) are appended to the
   chain at the end, just before the commit, so the chain head is locked for milliseconds rather
   than for the whole import.

Nothing is half-written: the whole run is one transaction. A cancellation, a failure, or a rejected
row in "all or nothing" mode rolls everything back. A dry run does all the work but writes nothing.

Counts: every data row (blank rows aside) is exactly one of created, updated, skipped (a duplicate
that was not written) or rejected (invalid), so created + updated + skipped + rejected = rows_total.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from l2c.core import audit
from l2c.core.contact_policy import suppression_lookup
from l2c.core.validation import as_id, check_owner, is_country_code

from ..choices import ImportMode, LeadSource, LeadStatus, OnDuplicate
from ..models import Campaign
from ..services import require_sales
from .mapping import resolve_mapping, suggest_mapping
from .parsing import ImportFileError, open_table
from .report import write_error_report
from .validation import RowError, RowValidator
from .writer import LeadWriter, created_event

__all__ = ["ImportFileError", "ImportOptions", "ImportResult", "RowError", "Sniff", "run_import", "sniff",
           "write_error_report"]

CHUNK_ROWS = 10_000
PREVIEW_ROWS = 10


@dataclass
class Sniff:
    file_format: str
    encoding: str
    delimiter: str
    headers: list[str]
    preview: list[list[str]]  # the first data rows
    suggested_mapping: dict[str, str]  # header → lead field
    rows_estimate: int | None


def sniff(path: str | Path, *, encoding: str | None = None, delimiter: str | None = None) -> Sniff:
    """What the file is and how it would be mapped, for the mapping step. Raises ImportFileError."""
    with open_table(path, encoding=encoding, delimiter=delimiter) as table:
        preview: list[list[str]] = []
        for _number, cells in table.rows():
            if any(c.strip() for c in cells):
                preview.append(cells)
                if len(preview) >= PREVIEW_ROWS:
                    break
        if not preview:
            raise _no_rows()
        return Sniff(file_format=table.file_format, encoding=table.encoding, delimiter=table.delimiter,
                     headers=table.headers, preview=preview, suggested_mapping=suggest_mapping(table.headers),
                     rows_estimate=table.rows_estimate)


def _no_rows() -> ImportFileError:
    return ImportFileError(_("The file has a header row but no data rows."), code="no_rows")


@dataclass
class ImportOptions:
    mapping: dict[str, str] | None = None  # header → lead field; None: the suggested mapping
    dry_run: bool = False
    on_duplicate: str = OnDuplicate.SKIP
    mode: str = ImportMode.VALID_ROWS  # all_or_nothing writes nothing if any row is rejected
    default_region: str = ""  # phone region for numbers without +; "": settings.L2C_DEFAULT_PHONE_REGION
    defaults: dict = field(default_factory=dict)  # {"owner": user id, "campaign": id, "source": ..., "status": ...}
    encoding: str | None = None
    delimiter: str | None = None
    touch_new_leads: bool = True  # also record an "import" touch on every created lead


@dataclass
class ImportResult:
    rows_total: int
    created: int
    updated: int
    skipped: int
    rejected: int
    errors: list[RowError]
    cancelled: bool = False
    dry_run: bool = False
    # added: what was read and how, and why rows were skipped
    rolled_back: bool = False  # nothing was written (all_or_nothing with rejected rows, or cancelled)
    duplicates: list[RowError] = field(default_factory=list)  # skipped rows: row, column, value, which record
    file_format: str = ""
    encoding: str = ""
    delimiter: str = ""
    mapping: dict[str, str] = field(default_factory=dict)
    touches: int = 0
    seconds: float = 0.0
    # imported (created or updated) rows whose address is on the suppression list: kept off every mailing
    suppressed: list[RowError] = field(default_factory=list)


class _Stop(Exception):
    """Leaves the transaction so that it rolls back."""


@dataclass
class _Defaults:
    owner_id: int | None
    campaign_id: int | None
    source: str
    status: str


def _resolve_defaults(defaults: dict, actor) -> _Defaults:
    from django.contrib.auth import get_user_model

    defaults = dict(defaults or {})
    unknown = set(defaults) - {"owner", "campaign", "source", "status"}
    if unknown:
        raise ImportFileError(_("Unknown import defaults: %(names)s.") % {"names": ", ".join(sorted(unknown))},
                              code="bad_options")
    owner = actor
    if "owner" in defaults:
        raw = defaults["owner"]
        owner = None
        if raw not in (None, ""):
            owner_id = as_id(raw)
            owner = get_user_model().objects.filter(pk=owner_id).first() if owner_id else None
            if owner is None:
                raise ImportFileError(_("The owner %(value)r does not exist.") % {"value": raw}, code="bad_options",
                                      field="owner")
    errors = check_owner(owner, actor)
    if errors:
        raise ImportFileError(errors[0].message, code="bad_options", field="owner")
    campaign_id = None
    if defaults.get("campaign") not in (None, ""):
        campaign_id = as_id(defaults["campaign"])
        if campaign_id is None or not Campaign.objects.filter(pk=campaign_id).exists():
            raise ImportFileError(_("The campaign %(value)r does not exist.") % {"value": defaults["campaign"]},
                                  code="bad_options", field="campaign")
    source = defaults.get("source") or LeadSource.IMPORT
    if source not in LeadSource.values:
        raise ImportFileError(_("Unknown source %(value)r; choose one of %(allowed)s.")
                              % {"value": source, "allowed": ", ".join(LeadSource.values)}, code="bad_options",
                              field="source")
    status = defaults.get("status") or LeadStatus.NEW
    if status not in LeadStatus.values or status == LeadStatus.CONVERTED:
        raise ImportFileError(_("Imported leads cannot start in status %(value)r.") % {"value": status},
                              code="bad_options", field="status")
    return _Defaults(owner_id=getattr(owner, "pk", None), campaign_id=campaign_id, source=source, status=status)


def _check_options(options: ImportOptions) -> str:
    if options.on_duplicate not in OnDuplicate.values:
        raise ImportFileError(_("on_duplicate must be one of %(allowed)s.") % {"allowed": ", ".join(OnDuplicate.values)},
                              code="bad_options", field="on_duplicate")
    if options.mode not in ImportMode.values:
        raise ImportFileError(_("mode must be one of %(allowed)s.") % {"allowed": ", ".join(ImportMode.values)},
                              code="bad_options", field="mode")
    region = (options.default_region or settings.L2C_DEFAULT_PHONE_REGION or "").strip().upper()
    if region and not is_country_code(region):
        raise ImportFileError(_("%(value)r is not a country code for phone numbers (e.g. CN, US, GB).")
                              % {"value": region}, code="bad_options", field="default_region")
    return region


class _Run:
    """One import: the row loop, the chunk buffers and the counters."""

    def __init__(self, table, options: ImportOptions, *, region: str, defaults: _Defaults, job, progress,
                 should_cancel, file_name: str):
        self.table = table
        self.options = options
        self.columns = resolve_mapping(table.headers, options.mapping)
        self.validator = RowValidator(self.columns, default_region=region, default_source=defaults.source)
        self.defaults = defaults
        self.job_id = getattr(job, "pk", None)
        self.progress = progress
        self.should_cancel = should_cancel
        self.file_name = file_name
        self.now = timezone.now()
        self.result = ImportResult(rows_total=0, created=0, updated=0, skipped=0, rejected=0, errors=[],
                                   dry_run=options.dry_run, file_format=table.file_format, encoding=table.encoding,
                                   delimiter=table.delimiter,
                                   mapping={header: target for _i, header, target in self.columns})
        self.writing = not options.dry_run
        self.writer = LeadWriter(now=self.now, job_id=self.job_id, write=self.writing)
        self.events: list[audit.PendingEvent] = []
        self.pending: dict[int, tuple[int, dict]] = {}  # new lead id → (row, values), this chunk
        self.touches: list[tuple[int, int, dict]] = []  # (lead id, row, values or None), this chunk
        self.updates: dict[int, dict] = {}  # existing lead id → values to write, this chunk
        self.header_of = {target: header for _i, header, target in self.columns}
        self.fixed = {"owner_id": defaults.owner_id, "campaign_id": defaults.campaign_id,
                      "source": defaults.source, "status": defaults.status}
        self.first_row = 0
        self.suppressed_reason = suppression_lookup()

    def _note_suppressed(self, row: int, values: dict) -> None:
        """The suppression list wins over anything the file says (consent included): the lead is imported,
        the address stays on the list and is never e-mailed; the result says which rows."""
        reason = self.suppressed_reason(values.get("email", ""))
        if reason:
            self.result.suppressed.append(RowError(row, self.header_of.get("email", ""), values["email"], _(
                "This address is on the suppression list (%(reason)s): the lead is imported but will not be "
                "e-mailed.") % {"reason": reason}))

    def _duplicate_reason(self, ref: int, how: str) -> str:
        what = {"email": _("same e-mail"), "phone": _("same phone"), "name": _("similar name and company")}[how]
        if ref < 0:
            return _("Duplicate of contact #%(id)d (%(what)s); contacts are not changed by a lead import.") % {
                "id": -ref, "what": what}
        if ref in self.index.converted:
            return _("Duplicate of lead #%(id)d (%(what)s), which is converted and is not changed.") % {
                "id": ref, "what": what}
        return _("Duplicate of lead #%(id)d (%(what)s).") % {"id": ref, "what": what}

    def execute(self) -> None:
        from .matching import DedupeIndex

        self.index = index = DedupeIndex()
        if self.options.on_duplicate != OnDuplicate.CREATE:
            index.load_existing()
        keys = index.keys
        result = self.result
        errors = result.errors
        validate = self.validator.validate
        on_duplicate = self.options.on_duplicate
        all_or_nothing = self.options.mode == ImportMode.ALL_OR_NOTHING
        width = len(self.table.headers)
        in_chunk = 0
        last_row = 0
        estimate = self.table.rows_estimate or 0
        if self._cancelled():
            return
        for row, cells in self.table.rows():
            if in_chunk == 0:
                self.first_row = row
            last_row = row
            if len(cells) > width and any(c.strip() for c in cells[width:]):
                if not any(c.strip() for c in cells):
                    continue
                result.rows_total += 1
                result.rejected += 1
                extra = next(c for c in cells[width:] if c.strip())
                errors.append(RowError(row, "", extra, _(
                    "This row has %(count)d cells but the header has %(width)d columns (check the delimiter and "
                    "the quotes).") % {"count": len(cells), "width": width}))
            else:
                values, row_errors = validate(row, cells)
                if row_errors:
                    if not values and not any(c.strip() for c in cells):
                        continue  # a blank row
                    result.rows_total += 1
                    result.rejected += 1
                    errors.extend(row_errors)
                else:
                    result.rows_total += 1
                    self._accept(row, values, keys, index, on_duplicate)
            if all_or_nothing and result.rejected and self.writing:
                self.writing = self.writer.write = False  # keep validating, to report every error
            in_chunk += 1
            if in_chunk >= CHUNK_ROWS:
                self._flush(row)
                in_chunk = 0
                if self.progress:
                    self.progress(result.rows_total, max(estimate, result.rows_total))
                if self._cancelled():
                    return
        self._flush(last_row)
        if self.progress:
            self.progress(result.rows_total, result.rows_total)
        self._cancelled()

    def _cancelled(self) -> bool:
        if self.should_cancel is not None and self.should_cancel():
            self.result.cancelled = True
        return self.result.cancelled

    def _accept(self, row: int, values: dict, keys, index, on_duplicate: str) -> None:
        result = self.result
        email_key = keys.email(values.get("email", ""))
        phone_key = keys.phone(values.get("phone", ""))
        person_key, block = keys.person(values.get("first_name", ""), values["last_name"], values.get("company", ""))
        ref, how = (None, "") if on_duplicate == OnDuplicate.CREATE else index.match(
            email_key, phone_key, person_key, block)
        if ref is None or on_duplicate == OnDuplicate.CREATE:
            lead_id = self.writer.next_id(self.table.rows_estimate or CHUNK_ROWS)
            self.pending[lead_id] = (row, values)
            if on_duplicate != OnDuplicate.CREATE:
                index.add(lead_id, email_key, phone_key, person_key, block)
            result.created += 1
            self._note_suppressed(row, values)
            if self.options.touch_new_leads:
                self.touches.append((lead_id, row, None))
            return
        column = {"email": "email", "phone": "phone", "name": "last_name"}[how]
        header = self.header_of.get(column) or self.header_of.get("full_name", "")
        if on_duplicate == OnDuplicate.SKIP or ref < 0 or ref in index.converted:
            result.skipped += 1
            result.duplicates.append(RowError(row, header, values.get(column, ""), self._duplicate_reason(ref, how)))
        else:  # update: the row's non-empty values overwrite the lead's
            result.updated += 1
            self._note_suppressed(row, values)
            if ref in self.pending:
                self.pending[ref][1].update(values)
            else:
                self.updates.setdefault(ref, {}).update(values)
            index.add(ref, email_key, phone_key, person_key, block)
        if ref > 0:
            self.touches.append((ref, row, values))

    def _flush(self, last_row: int) -> None:
        if not self.writing:
            self.pending.clear()
            self.touches.clear()
            self.updates.clear()
            return
        writer = self.writer
        fixed = self.fixed
        lead_rows = [writer.lead_row(lead_id, values, fixed) for lead_id, (_row, values) in self.pending.items()]
        writer.insert_leads(lead_rows)
        touch_rows = [
            writer.touch_row(lead_id, source=self.defaults.source, campaign_id=self.defaults.campaign_id,
                             data={"row": row, "values": values} if values is not None else row)
            for lead_id, row, values in self.touches
        ]
        writer.insert_touches(touch_rows)
        self.result.touches += len(touch_rows)
        if self.pending:
            self.events.append(created_event(ids=list(self.pending), rows=(self.first_row, last_row),
                                             job_id=self.job_id, file_name=self.file_name,
                                             touches=len(touch_rows)))
        self.events.extend(writer.apply_updates(self.updates))
        self.pending.clear()
        self.touches.clear()
        self.updates.clear()


def run_import(path, options: ImportOptions, *, actor, job=None,
               progress: Callable[[int, int], None] | None = None,
               should_cancel: Callable[[], bool] | None = None) -> ImportResult:
    """Import leads from a CSV or XLSX file. Raises ImportFileError for a problem with the file as a
    whole (nothing written); row problems are in `result.errors`."""
    started = time.perf_counter()
    require_sales(actor)
    region = _check_options(options)
    defaults = _resolve_defaults(options.defaults, actor)
    file_name = getattr(job, "original_name", "") or Path(path).name
    with open_table(path, encoding=options.encoding, delimiter=options.delimiter) as table:
        run = _Run(table, options, region=region, defaults=defaults, job=job, progress=progress,
                   should_cancel=should_cancel, file_name=file_name)
        if options.dry_run:
            run.execute()
        else:
            try:
                with transaction.atomic():
                    run.execute()
                    if run.result.cancelled or (options.mode == ImportMode.ALL_OR_NOTHING and run.result.rejected):
                        raise _Stop
                    audit.record_many(run.events, actor=actor)
            except _Stop:
                run.result.rolled_back = True
        result = run.result
    if result.rows_total == 0 and not result.cancelled:
        raise _no_rows()
    if result.rolled_back:
        result.created = result.updated = result.touches = 0
    result.seconds = time.perf_counter() - started
    return result
