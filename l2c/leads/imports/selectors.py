"""Reads of lead import jobs, limited to who may see them: the person who imported, their team's
manager, admins. A running job's progress is read live from the worker (see jobstate)."""
from __future__ import annotations

import csv
import io

from django.core.files.storage import default_storage
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from l2c.core.errors import NotFound, ValidationFailed
from l2c.core.validation import as_id

from ..choices import ImportStatus
from ..models import ImportJob
from . import jobstate

ERRORS_SHOWN = 50
FINISHED = (ImportStatus.SUCCEEDED, ImportStatus.FAILED, ImportStatus.CANCELLED)


def with_live_progress(job: ImportJob) -> ImportJob:
    """While the job runs, its rows_processed/rows_total as the worker last reported them."""
    if job.status == ImportStatus.RUNNING:
        live = jobstate.read_progress(job.pk)
        if live is not None:
            job.rows_processed = live["rows_processed"]
            if live["rows_total"]:
                job.rows_total = live["rows_total"]
    return job


def progress_percent(job: ImportJob) -> int | None:
    """0-100, or None while the number of rows is unknown."""
    if job.status in FINISHED and job.status != ImportStatus.CANCELLED:
        return 100
    if not job.rows_total:
        return None
    return max(0, min(100, int(job.rows_processed * 100 / job.rows_total)))


def import_job_list(*, user, status: str | None = None) -> QuerySet:
    """Jobs `user` may see, newest first; `status` filters."""
    qs = ImportJob.objects.restrict(user).select_related("created_by")
    if status:
        if status not in ImportStatus.values:
            raise ValidationFailed.single("status", _("Choose one of: %(allowed)s.")
                                          % {"allowed": ", ".join(ImportStatus.values)}, "invalid_choice")
        qs = qs.filter(status=status)
    return qs.order_by("-created_at", "-id")


def import_job_get(*, user, pk) -> ImportJob:
    job = (ImportJob.objects.restrict(user).select_related("created_by").filter(pk=pk).first()
           if as_id(pk) is not None else None)
    if job is None:
        raise NotFound(_("No import with id %(id)s.") % {"id": pk})
    return with_live_progress(job)


def import_job_errors(*, job: ImportJob, limit: int = ERRORS_SHOWN) -> list[dict]:
    """The first `limit` rows of the job's error report: {"row", "column", "value", "reason"}."""
    if not job.error_report:
        return []
    try:
        with default_storage.open(job.error_report.name, "rb") as fh:
            text = io.TextIOWrapper(fh, encoding="utf-8-sig", newline="")
            reader = csv.reader(text)
            next(reader, None)  # header
            rows = []
            for record in reader:
                if len(rows) >= limit:
                    break
                record = (record + ["", "", "", ""])[:4]
                rows.append({"row": record[0], "column": record[1], "value": record[2], "reason": record[3]})
            return rows
    except (OSError, csv.Error, UnicodeDecodeError):
        return []


def import_job_error_report(*, job: ImportJob):
    """An open binary file of the job's error report, or NotFound when it has none."""
    if not job.error_report or not default_storage.exists(job.error_report.name):
        raise NotFound(_("This import has no error report."), code="no_error_report")
    return default_storage.open(job.error_report.name, "rb")
