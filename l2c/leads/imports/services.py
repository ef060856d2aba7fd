"""Writes for lead import jobs: upload, mapping, start, cancel, and the run a worker carries out.

Life of a job: `import_job_create` stores the upload and sniffs it (pending, mapping step);
`import_job_update_mapping` / `import_job_resniff` adjust it while pending; `import_job_start`
queues it (pending, `queued_at` set) and sends the Celery task after commit; the task calls
`import_job_run`, which marks it running, runs the engine and stores the result (succeeded, failed
or cancelled). `import_job_cancel` stops a pending job at once and asks a running one to stop.
"""
from __future__ import annotations

import codecs
import logging
import os
import time
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from l2c.core import audit
from l2c.core.errors import FieldError, InvalidTransition, PermissionDenied, ValidationFailed
from l2c.core.validation import check_owner, is_country_code, raise_if_errors

from ..choices import ImportMode, ImportStatus, LeadSource, OnDuplicate
from ..models import Campaign, ImportJob
from . import jobstate

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 512 * 1024 * 1024
# How often the worker writes progress and looks for a cancel request (seconds).
PROGRESS_INTERVAL = 0.5
CANCEL_CHECK_INTERVAL = 0.5
DELIMITERS = {",": gettext_lazy("comma"), ";": gettext_lazy("semicolon"), "\t": gettext_lazy("tab"),
              "|": gettext_lazy("vertical bar")}
OPTION_NAMES = ("dry_run", "on_duplicate", "mode", "default_region", "default_owner", "default_campaign",
                "default_source")


def max_upload_bytes() -> int:
    return int(getattr(settings, "L2C_IMPORT_MAX_BYTES", DEFAULT_MAX_BYTES))


def _megabytes(n: int) -> str:
    return f"{n / (1024 * 1024):.1f}".rstrip("0").rstrip(".")


def require_importer(actor) -> None:
    """Admins, managers and reps import leads; finance does not work with leads."""
    if actor is None or not getattr(actor, "is_sales", False):
        raise PermissionDenied(_("Your role cannot import leads."))


def importable_fields() -> dict[str, str]:
    """Lead fields a column can be mapped to: {field: label}, in the engine's order."""
    from .mapping import IMPORT_FIELDS

    return {name: str(label) for name, label in IMPORT_FIELDS.items()}


# --- options --------------------------------------------------------------------------------------

def _clean_encoding(value, errors: list[FieldError]) -> str:
    value = (value or "").strip()
    if not value:
        return ""
    try:
        return codecs.lookup(value).name
    except LookupError:
        errors.append(FieldError("encoding", _("Unknown encoding %(value)r; use e.g. utf-8, gb18030 or latin-1.")
                                 % {"value": value[:40]}, "invalid_encoding"))
        return ""


def _clean_delimiter(value, errors: list[FieldError]) -> str:
    value = value or ""
    if value in ("", "auto"):
        return ""
    if value in ("\\t", "tab"):
        return "\t"
    if value not in DELIMITERS:
        errors.append(FieldError("delimiter", _("Choose a comma, semicolon, tab or vertical bar."), "invalid_delimiter"))
        return ""
    return value


def _clean_options(actor, values: dict, errors: list[FieldError]) -> dict:
    """Options as model fields. Accepts default_owner (user or None), default_campaign (campaign, id or
    None) and default_source; unknown names are refused."""
    unknown = sorted(set(values) - set(OPTION_NAMES))
    for name in unknown:
        errors.append(FieldError(name, _("This option does not exist."), "unknown_field"))
    out: dict = {}
    if "dry_run" in values:
        out["dry_run"] = bool(values["dry_run"])
    if "on_duplicate" in values:
        if values["on_duplicate"] not in OnDuplicate.values:
            errors.append(FieldError("on_duplicate", _("Choose one of: %(allowed)s.")
                                     % {"allowed": ", ".join(OnDuplicate.values)}, "invalid_choice"))
        else:
            out["on_duplicate"] = values["on_duplicate"]
    if "mode" in values:
        if values["mode"] not in ImportMode.values:
            errors.append(FieldError("mode", _("Choose one of: %(allowed)s.")
                                     % {"allowed": ", ".join(ImportMode.values)}, "invalid_choice"))
        else:
            out["mode"] = values["mode"]
    if "default_region" in values:
        region = (values["default_region"] or "").strip().upper()
        if region and not is_country_code(region):
            errors.append(FieldError("default_region", _("Not an ISO 3166 country code (e.g. CN, DE, US)."),
                                     "invalid_country"))
        else:
            out["default_region"] = region
    defaults = {}
    if values.get("default_owner") is not None:
        owner = values["default_owner"]
        owner_errors = check_owner(owner, actor, "default_owner")
        errors += owner_errors
        if not owner_errors:
            defaults["owner"] = owner.pk
    if values.get("default_campaign") not in (None, ""):
        campaign = values["default_campaign"]
        campaign_id = campaign.pk if isinstance(campaign, Campaign) else campaign
        if not Campaign.objects.restrict(actor).filter(pk=campaign_id).exists():
            errors.append(FieldError("default_campaign", _("No campaign with id %(id)s.") % {"id": campaign_id},
                                     "not_found"))
        else:
            defaults["campaign"] = int(campaign_id)
    if values.get("default_source") not in (None, ""):
        if values["default_source"] not in LeadSource.values:
            errors.append(FieldError("default_source", _("Choose one of: %(allowed)s.")
                                     % {"allowed": ", ".join(LeadSource.values)}, "invalid_choice"))
        else:
            defaults["source"] = values["default_source"]
    if any(name in values for name in ("default_owner", "default_campaign", "default_source")):
        out["defaults"] = defaults
    return out


def _clean_mapping(mapping, headers: list[str], errors: list[FieldError]) -> dict[str, str]:
    """{column header: lead field}; an empty field ignores the column. Every header must be one of
    the file's, every field importable and mapped from one column only."""
    if not isinstance(mapping, dict):
        errors.append(FieldError("mapping", _("The mapping must be an object of column → lead field."), "invalid"))
        return {}
    from .mapping import IGNORE

    allowed = importable_fields()
    known = set(headers)
    clean: dict[str, str] = {}
    used: dict[str, str] = {}
    for header, field in mapping.items():
        field = (field or "").strip() if isinstance(field, str) else field
        if isinstance(field, str) and field.lower() in IGNORE:
            field = ""
        if header not in known:
            errors.append(FieldError(f"mapping.{header}", _("The file has no column %(column)r.")
                                     % {"column": str(header)[:100]}, "unknown_column"))
            continue
        if field in (None, ""):
            clean[header] = ""
            continue
        if not isinstance(field, str) or field not in allowed:
            errors.append(FieldError(f"mapping.{header}", _("%(field)r is not a lead field that can be imported.")
                                     % {"field": str(field)[:100]}, "unknown_field"))
            continue
        if field in used:
            errors.append(FieldError(f"mapping.{header}", _("“%(field)s” is already filled from column %(column)r.")
                                     % {"field": allowed[field], "column": used[field]}, "duplicate_target"))
            continue
        used[field] = header
        clean[header] = field
    return clean


# --- upload ---------------------------------------------------------------------------------------

def _safe_name(name: str) -> str:
    base = os.path.basename((name or "").replace("\\", "/")).strip() or "upload"
    base = "".join(ch for ch in base if ch.isprintable() and ch not in '<>:"|?*')[:200]
    return base or "upload"


def _store_upload(uploaded_file, original_name: str) -> tuple[str, int]:
    """Stream the upload into MEDIA_ROOT in chunks, refusing it once it passes the size limit.
    Returns (storage name, size)."""
    limit = max_upload_bytes()
    declared = getattr(uploaded_file, "size", None)
    too_big = ValidationFailed.single(
        "file", _("The file is larger than %(limit)s MB, the most an import accepts. Split it into smaller files.")
        % {"limit": _megabytes(limit)}, "file_too_large")
    if declared is not None and declared > limit:
        raise too_big
    name = ImportJob._meta.get_field("file").generate_filename(None, _safe_name(original_name))
    name = default_storage.get_available_name(name)
    path = Path(default_storage.path(name))
    path.parent.mkdir(parents=True, exist_ok=True)
    size = 0
    chunks = uploaded_file.chunks() if hasattr(uploaded_file, "chunks") else iter(lambda: uploaded_file.read(1 << 20), b"")
    try:
        with open(path, "xb") as out:
            for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise too_big
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return name, size


def _delete_stored(name: str) -> None:
    if name:
        try:
            default_storage.delete(name)
        except OSError:
            log.warning("could not delete import file %s", name, exc_info=True)


def _sniff(name: str, *, encoding: str = "", delimiter: str = ""):
    from .engine import ImportFileError, sniff

    try:
        return sniff(default_storage.path(name), encoding=encoding or None, delimiter=delimiter or None)
    except ImportFileError as exc:
        raise ValidationFailed.single("file", str(exc), getattr(exc, "code", None) or "invalid_file") from exc


def _merge_mapping(old: dict, suggested: dict, headers: list[str]) -> dict:
    """After a re-sniff: the user's choices for columns that still exist, the suggestion for the rest."""
    mapping = {h: suggested.get(h, "") for h in headers}
    for header, field in old.items():
        if header in mapping:
            mapping[header] = field
    return mapping


@transaction.atomic
def import_job_create(*, actor, uploaded_file, original_name: str | None = None, encoding: str = "",
                      delimiter: str = "", mapping: dict | None = None, start: bool = False,
                      **options) -> ImportJob:
    """Store an uploaded CSV/XLSX file and read its columns: a pending job at the mapping step, its
    mapping the suggested one (`mapping` given: those columns as given, the rest as suggested).

    options: dry_run, on_duplicate, mode, default_region, default_owner, default_campaign, default_source.
    `start`: queue it at once (a mapping that cannot start refuses the whole upload).
    A file the engine cannot read is a field error on "file" and leaves nothing behind.
    """
    require_importer(actor)
    original_name = _safe_name(original_name or getattr(uploaded_file, "name", "") or "upload")
    errors: list[FieldError] = []
    encoding = _clean_encoding(encoding, errors)
    delimiter = _clean_delimiter(delimiter, errors)
    values = _clean_options(actor, options, errors)
    raise_if_errors(errors)
    name, size = _store_upload(uploaded_file, original_name)
    try:
        found = _sniff(name, encoding=encoding, delimiter=delimiter)
        job = ImportJob.objects.create(
            created_by=actor, status=ImportStatus.PENDING, file=name, original_name=original_name, size=size,
            file_format=found.file_format, encoding=found.encoding or "", delimiter=found.delimiter or "",
            headers=list(found.headers), preview=[list(r) for r in found.preview],
            mapping={h: found.suggested_mapping.get(h, "") for h in found.headers},
            rows_total=found.rows_estimate or 0, **values,
        )
        if mapping is not None:
            errors = []
            job.mapping.update(_clean_mapping(mapping, job.headers, errors))
            raise_if_errors(errors)
            job.save(update_fields=["mapping"])
        audit.record(actor=actor, action=audit.Action.CREATE, instance=job)
        if start:
            job = import_job_start(job=job, actor=actor)
    except BaseException:
        _delete_stored(name)
        raise
    return job


def _lock_pending(job: ImportJob) -> ImportJob:
    job = ImportJob.objects.select_for_update().get(pk=job.pk)
    if job.status != ImportStatus.PENDING or job.queued_at is not None:
        raise InvalidTransition(_("This import has already been started; its mapping and options can no "
                                  "longer change."), code="import_started")
    return job


@transaction.atomic
def import_job_update_mapping(*, job: ImportJob, actor, mapping: dict | None = None, **options) -> ImportJob:
    """Change the column mapping (the columns given; "" ignores one) and/or the options of a job that has
    not been started."""
    require_importer(actor)
    job = _lock_pending(job)
    errors: list[FieldError] = []
    values = _clean_options(actor, options, errors)
    if mapping is not None:
        # columns left out keep their field
        values["mapping"] = {**{h: job.mapping.get(h, "") for h in job.headers},
                             **_clean_mapping(mapping, job.headers, errors)}
    raise_if_errors(errors)
    before = audit.snapshot(job)
    for name, value in values.items():
        setattr(job, name, value)
    job.save()
    audit.record(actor=actor, action=audit.Action.UPDATE, instance=job, before=before)
    return job


@transaction.atomic
def import_job_resniff(*, job: ImportJob, actor, encoding: str = "", delimiter: str = "") -> ImportJob:
    """Read the file again with another encoding and/or delimiter ("" detects it)."""
    require_importer(actor)
    job = _lock_pending(job)
    errors: list[FieldError] = []
    encoding = _clean_encoding(encoding, errors)
    delimiter = _clean_delimiter(delimiter, errors)
    raise_if_errors(errors)
    found = _sniff(job.file.name, encoding=encoding, delimiter=delimiter)
    before = audit.snapshot(job)
    job.encoding = found.encoding or ""
    job.delimiter = found.delimiter or ""
    job.mapping = _merge_mapping(job.mapping if list(found.headers) == job.headers else {},
                                 found.suggested_mapping, list(found.headers))
    job.headers = list(found.headers)
    job.preview = [list(r) for r in found.preview]
    job.rows_total = found.rows_estimate or 0
    job.save()
    audit.record(actor=actor, action=audit.Action.UPDATE, instance=job, before=before)
    return job


def _check_ready(job: ImportJob) -> None:
    """The mapping can run: the engine's own check (a name column, no field filled twice, ...)."""
    from .engine import ImportFileError
    from .mapping import resolve_mapping

    try:
        resolve_mapping(job.headers, {h: f for h, f in job.mapping.items() if f})
    except ImportFileError as exc:
        raise ValidationFailed.single("mapping", exc.message, exc.code or "bad_mapping") from exc


@transaction.atomic
def import_job_start(*, job: ImportJob, actor) -> ImportJob:
    """Queue the job: the worker runs it with its current mapping and options."""
    require_importer(actor)
    job = _lock_pending(job)
    _check_ready(job)
    job.queued_at = timezone.now()
    job.save(update_fields=["queued_at", "updated_at"])
    audit.record(actor=actor, action=audit.Action.TRANSITION, instance=job,
                 changes={"queued_at": [None, audit._normalise(job.queued_at)]})
    job_id = job.pk
    transaction.on_commit(lambda: _send(job_id))
    return job


def _send(job_id: int) -> None:
    from .tasks import run_import_job

    run_import_job.delay(job_id)


def import_job_cancel(*, job: ImportJob, actor) -> ImportJob:
    """Cancel a pending job at once; ask a running one to stop (it rolls back and ends as cancelled).

    The stop request is dropped as a file first, outside any transaction: on SQLite the running
    import holds the write lock, and the worker sees the file within half a second, rolls back and
    so lets the database update below through.
    """
    require_importer(actor)
    if job.status == ImportStatus.RUNNING:
        jobstate.request_cancel(job.pk)
    return _cancel_in_db(job=job, actor=actor)


@transaction.atomic
def _cancel_in_db(*, job: ImportJob, actor) -> ImportJob:
    job = ImportJob.objects.select_for_update().get(pk=job.pk)
    if job.status == ImportStatus.PENDING:
        before = job.status
        job.status = ImportStatus.CANCELLED
        job.cancel_requested = True
        job.finished_at = timezone.now()
        job.save(update_fields=["status", "cancel_requested", "finished_at", "updated_at"])
        audit.record(actor=actor, action=audit.Action.TRANSITION, instance=job,
                     changes={"status": [before, job.status]})
        jobstate.clear(job.pk)
        return job
    if job.status == ImportStatus.RUNNING:
        if not job.cancel_requested:
            job.cancel_requested = True
            job.save(update_fields=["cancel_requested", "updated_at"])
            audit.record(actor=actor, action=audit.Action.UPDATE, instance=job,
                         changes={"cancel_requested": [False, True]})
        return job
    raise InvalidTransition(_("This import has already ended (%(status)s); there is nothing to cancel.")
                            % {"status": job.get_status_display()}, code="import_finished")


# --- the run (called by the Celery task) ----------------------------------------------------------

def _claim(job_id: int) -> ImportJob | None:
    """pending+queued → running, atomically, so a second delivery of the task does nothing."""
    with transaction.atomic():
        now = timezone.now()
        claimed = ImportJob.objects.filter(pk=job_id, status=ImportStatus.PENDING, queued_at__isnull=False).update(
            status=ImportStatus.RUNNING, started_at=now, rows_processed=0, updated_at=now)
        if not claimed:
            return None
        job = ImportJob.objects.select_related("created_by").get(pk=job_id)
        audit.record(actor=job.created_by, action=audit.Action.TRANSITION, instance=job,
                     changes={"status": [ImportStatus.PENDING, ImportStatus.RUNNING]})
    jobstate.clear(job_id)
    jobstate.write_progress(job_id, 0, job.rows_total)
    return job


def _progress_writer(job_id: int):
    last = [0.0]

    def progress(rows_processed: int, rows_total: int = 0) -> None:
        now = time.monotonic()
        if now - last[0] < PROGRESS_INTERVAL:
            return
        last[0] = now
        try:
            jobstate.write_progress(job_id, rows_processed, rows_total or 0)
        except OSError:  # progress is a courtesy; the import goes on without it
            log.warning("import %s: could not write progress", job_id, exc_info=True)

    return progress


def _cancel_checker(job_id: int):
    state = {"last": 0.0, "cancel": False}

    def should_cancel() -> bool:
        if state["cancel"]:
            return True
        now = time.monotonic()
        if now - state["last"] < CANCEL_CHECK_INTERVAL:
            return False
        state["last"] = now
        # the marker file works on every database; the column is read too (PostgreSQL sees a committed
        # cancel even inside the import's transaction) in case the marker was written elsewhere
        state["cancel"] = jobstate.cancel_marked(job_id) or ImportJob.objects.filter(
            pk=job_id, cancel_requested=True).exists()
        return state["cancel"]

    return should_cancel


def _options(job: ImportJob):
    from .engine import ImportOptions

    return ImportOptions(mapping={h: f for h, f in job.mapping.items() if f}, dry_run=job.dry_run,
                         on_duplicate=job.on_duplicate, mode=job.mode, default_region=job.default_region or None,
                         defaults=dict(job.defaults or {}), encoding=job.encoding or None,
                         delimiter=job.delimiter or None)


def _write_report(job: ImportJob, result) -> str:
    """The rows that were not imported, in file order: the rejected ones and the duplicates skipped."""
    from .engine import write_error_report

    rows = list(result.errors) + list(getattr(result, "duplicates", None) or [])
    if not rows:
        return ""
    rows.sort(key=lambda e: e.row)
    name = ImportJob._meta.get_field("error_report").generate_filename(None, f"import-{job.pk}-errors.csv")
    name = default_storage.get_available_name(name)
    path = Path(default_storage.path(name))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as fh:  # the report starts with its own BOM
        write_error_report(rows, fh)
    return name


def _finish(job_id: int, **values) -> ImportJob:
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job_id)
        before = audit.snapshot(job)
        for name, value in values.items():
            setattr(job, name, value)
        job.finished_at = timezone.now()
        job.save()
        audit.record(actor=job.created_by, action=audit.Action.TRANSITION, instance=job, before=before)
    jobstate.clear(job_id)
    return job


def import_job_run(*, job_id: int) -> ImportJob | None:
    """Run a queued job (the Celery task's body). A job that is not pending and queued is left alone.

    Not one transaction: the engine keeps the rows it writes in its own transaction; the state
    changes around it (running, then the result) are short transactions of their own, each audited.
    """
    from .engine import ImportFileError, run_import

    job = _claim(job_id)
    if job is None:
        log.info("import %s: not waiting to run, ignored", job_id)
        return None
    try:
        result = run_import(default_storage.path(job.file.name), _options(job), actor=job.created_by, job=job,
                            progress=_progress_writer(job_id), should_cancel=_cancel_checker(job_id))
    except ImportFileError as exc:
        return _finish(job_id, status=ImportStatus.FAILED, error_message=str(exc))
    except Exception:
        log.exception("import %s failed", job_id)
        return _finish(job_id, status=ImportStatus.FAILED,
                       error_message=_("The import stopped on an unexpected error; nothing was written. "
                                       "The details are in the server log."))
    report = ""
    try:
        report = _write_report(job, result)
    except OSError:
        log.exception("import %s: could not write the error report", job_id)
    status, message, extra = ImportStatus.SUCCEEDED, "", {}
    if result.cancelled:
        status, extra = ImportStatus.CANCELLED, {"cancel_requested": True}
    elif job.mode == ImportMode.ALL_OR_NOTHING and result.rejected and not result.dry_run:
        status = ImportStatus.FAILED
        message = _("%(n)s rows were rejected, so nothing was imported (all or nothing). Fix them using the "
                    "error report and upload the file again.") % {"n": result.rejected}
    processed = result.created + result.updated + result.skipped + result.rejected
    return _finish(job_id, status=status, error_message=message, rows_total=result.rows_total,
                   rows_processed=result.rows_total if not result.cancelled else min(processed, result.rows_total),
                   created_count=result.created, updated_count=result.updated, skipped_count=result.skipped,
                   rejected_count=result.rejected,
                   suppressed_count=len(result.suppressed), error_report=report, **extra)

