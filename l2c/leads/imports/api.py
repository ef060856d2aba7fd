"""API routes for lead imports: upload a CSV/XLSX file, adjust its mapping, start, follow, cancel,
and download the error report.

    POST   /imports                 multipart: file + options → 201, the job with its columns, suggested
                                    mapping and first rows (start=true: queued at once)
    GET    /imports                 my imports (a manager: the team's; an admin: all)
    GET    /imports/fields          the lead fields a column can be mapped to
    GET    /imports/{id}            status, progress, counts
    PATCH  /imports/{id}            mapping and options, while the job has not been started
    POST   /imports/{id}/start      queue the job → 202
    POST   /imports/{id}/cancel     cancel (pending: at once; running: it stops and writes nothing)
    GET    /imports/{id}/errors     the error report (CSV)
"""

import datetime as dt
import json

from django.http import FileResponse
from django.utils.translation import gettext as _
from ninja import Field, File, Form, Query, Router, Schema, Status
from ninja.files import UploadedFile
from ninja.pagination import paginate

from l2c.core.api_types import LimitOffsetPagination, RecordId
from l2c.core.errors import FieldError, ValidationFailed
from l2c.customers.api import StrictSchema, UserRef, resolve_user

from ..choices import ImportStatus
from . import selectors, services

router = Router(tags=["leads: imports"])
CSV_RESPONSE = {"responses": {200: {"description": "The error report (CSV, UTF-8 with BOM)",
                                    "content": {"text/csv": {"schema": {"type": "string"}}}}}}


class ImportJobOut(Schema):
    id: int
    status: str = Field(..., description="pending, running, succeeded, failed or cancelled")
    queued: bool = Field(..., description="Started and waiting for a worker (status stays pending until it runs)")
    original_name: str
    size: int
    file_format: str
    encoding: str
    delimiter: str
    headers: list[str] = Field(..., description="The file's column names, in order")
    mapping: dict[str, str] = Field(..., description='Column name → lead field ("": ignored). On upload: the '
                                    "suggested mapping")
    preview: list[list] = Field(..., description="The first data rows, as read")
    dry_run: bool
    on_duplicate: str
    mode: str
    default_region: str
    defaults: dict = Field(..., description="Values every imported lead gets: owner, campaign (ids), source")
    rows_total: int = Field(..., description="Rows in the file (an estimate until the job has run)")
    rows_processed: int
    progress_percent: int | None
    created_count: int
    updated_count: int
    skipped_count: int
    suppressed_count: int = Field(0, description="Imported rows whose e-mail is on the suppression list: imported, "
                                  "never e-mailed")
    rejected_count: int
    error_message: str
    cancel_requested: bool
    has_error_report: bool
    created_by: UserRef | None
    created_at: dt.datetime
    queued_at: dt.datetime | None
    started_at: dt.datetime | None
    finished_at: dt.datetime | None

    @staticmethod
    def resolve_queued(obj) -> bool:
        return obj.status == ImportStatus.PENDING and obj.queued_at is not None

    @staticmethod
    def resolve_progress_percent(obj) -> int | None:
        return selectors.progress_percent(obj)

    @staticmethod
    def resolve_has_error_report(obj) -> bool:
        return bool(obj.error_report)


class ImportCreateIn(Schema):
    on_duplicate: str = Field("skip", max_length=10, description="skip, update or create")
    mode: str = Field("valid_rows", max_length=20, description="valid_rows or all_or_nothing")
    dry_run: bool = False
    default_region: str = Field("", max_length=2, description="ISO country for phone numbers without +prefix")
    default_owner: RecordId | None = Field(None, description="User id owning the new leads")
    default_campaign: RecordId | None = Field(None, description="Campaign id of the new leads")
    default_source: str = Field("", max_length=20, description='Lead source (default "import")')
    encoding: str = Field("", max_length=40, description="Empty: detected")
    delimiter: str = Field("", max_length=4, description="Empty: detected")
    mapping: str = Field("", max_length=100_000, description="Optional JSON object column → lead field; columns "
                         "left out keep the suggested field")
    start: bool = Field(False, description="Start at once (with the suggested or given mapping)")


class ImportPatch(StrictSchema):
    mapping: dict[str, str | None] | None = Field(None, description='Column name → lead field; "" or null ignores '
                                                  "the column. Columns left out keep their field.")
    on_duplicate: str | None = Field(None, max_length=10)
    mode: str | None = Field(None, max_length=20)
    dry_run: bool | None = None
    default_region: str | None = Field(None, max_length=2)
    default_owner: RecordId | None = None
    default_campaign: RecordId | None = None
    default_source: str | None = Field(None, max_length=20)
    encoding: str | None = Field(None, max_length=40, description="Read the file again with this encoding")
    delimiter: str | None = Field(None, max_length=4, description="Read the file again with this delimiter")


class ImportFilters(Schema):
    status: str | None = Field(None, max_length=20)


class ImportFieldOut(Schema):
    name: str
    label: str


def _actor(request):
    services.require_importer(request.auth)
    return request.auth


def _parse_mapping(text: str) -> dict | None:
    if not text.strip():
        return None
    try:
        mapping = json.loads(text)
    except ValueError as exc:
        raise ValidationFailed.single("mapping", _("Not valid JSON: %(error)s") % {"error": exc}, "invalid_json") from exc
    if not isinstance(mapping, dict):
        raise ValidationFailed.single("mapping", _("The mapping must be a JSON object of column → lead field."))
    return mapping


def _options(values: dict) -> dict:
    options = {k: values[k] for k in ("on_duplicate", "mode", "dry_run", "default_region", "default_source")
               if k in values}
    if "default_owner" in values:
        options["default_owner"] = resolve_user(values["default_owner"], "default_owner")
    if "default_campaign" in values:
        options["default_campaign"] = values["default_campaign"]
    return options


@router.post("/imports", response={201: ImportJobOut})
def create_import(request, file: File[UploadedFile], data: Form[ImportCreateIn]):
    """Upload a CSV (UTF-8, UTF-8 with BOM, GBK/GB18030; comma, semicolon or tab) or XLSX file of leads."""
    actor = _actor(request)
    values = data.dict()
    mapping = _parse_mapping(values.pop("mapping"))
    start = values.pop("start")
    encoding, delimiter = values.pop("encoding"), values.pop("delimiter")
    job = services.import_job_create(actor=actor, uploaded_file=file, original_name=file.name, encoding=encoding,
                                     delimiter=delimiter, mapping=mapping, start=start, **_options(values))
    return Status(201, selectors.import_job_get(user=actor, pk=job.pk))


@router.get("/imports", response=list[ImportJobOut])
@paginate(LimitOffsetPagination)
def list_imports(request, filters: Query[ImportFilters]):
    return selectors.import_job_list(user=_actor(request), status=filters.status)


@router.get("/imports/fields", response=list[ImportFieldOut])
def import_fields(request):
    """The lead fields a column can be mapped to. Every lead needs a name: map a column to `last_name` or
    to `full_name` (split into family and given names)."""
    _actor(request)
    return [{"name": name, "label": label} for name, label in services.importable_fields().items()]


@router.get("/imports/{int:job_id}", response=ImportJobOut)
def get_import(request, job_id: int):
    return selectors.import_job_get(user=_actor(request), pk=job_id)


@router.patch("/imports/{int:job_id}", response=ImportJobOut)
def update_import(request, job_id: int, data: ImportPatch):
    """Change the mapping and options (and re-read the file with another encoding or delimiter) while the
    job has not been started."""
    actor = _actor(request)
    job = selectors.import_job_get(user=actor, pk=job_id)
    values = data.dict(exclude_unset=True)
    encoding, delimiter = values.pop("encoding", None), values.pop("delimiter", None)
    if encoding is not None or delimiter is not None:
        job = services.import_job_resniff(job=job, actor=actor, encoding=encoding or "", delimiter=delimiter or "")
    mapping = values.pop("mapping", None)
    if mapping is not None:
        mapping = {k: (v or "") for k, v in mapping.items()}
    options = _options(values)
    if mapping is not None or options:
        bad = [k for k in ("on_duplicate", "mode", "dry_run") if k in options and options[k] is None]
        if bad:
            raise ValidationFailed([FieldError(k, _("This field may not be null."), "null") for k in bad])
        services.import_job_update_mapping(job=job, actor=actor, mapping=mapping, **options)
    return selectors.import_job_get(user=actor, pk=job_id)


@router.post("/imports/{int:job_id}/start", response={202: ImportJobOut})
def start_import(request, job_id: int):
    """Queue the job with its current mapping; follow it with GET /imports/{id}."""
    actor = _actor(request)
    job = selectors.import_job_get(user=actor, pk=job_id)
    services.import_job_start(job=job, actor=actor)
    return Status(202, selectors.import_job_get(user=actor, pk=job_id))


@router.post("/imports/{int:job_id}/cancel", response=ImportJobOut)
def cancel_import(request, job_id: int):
    """A job not yet running is cancelled at once; a running one stops within a second or so, writing nothing
    (`cancel_requested` is true until then)."""
    actor = _actor(request)
    job = selectors.import_job_get(user=actor, pk=job_id)
    services.import_job_cancel(job=job, actor=actor)
    return selectors.import_job_get(user=actor, pk=job_id)


@router.get("/imports/{int:job_id}/errors", openapi_extra=CSV_RESPONSE)
def import_errors(request, job_id: int):
    """The error report: one line per problem with row number, column, value and reason (CSV, UTF-8 with BOM;
    cells that a spreadsheet would run as a formula are neutralised)."""
    actor = _actor(request)
    job = selectors.import_job_get(user=actor, pk=job_id)
    fh = selectors.import_job_error_report(job=job)
    stem = job.original_name.rsplit(".", 1)[0] or "import"
    return FileResponse(fh, as_attachment=True, filename=f"{stem}-errors.csv", content_type="text/csv; charset=utf-8")
