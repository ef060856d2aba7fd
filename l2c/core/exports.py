"""Exports of list pages as CSV or Excel, for the UI and the API alike.

An export is given a queryset that the app's list selector has already restricted to what the user
may see, searched, filtered and ordered — so an export holds exactly the rows of the list, never more —
and a list of `Column`s (a translatable header and a value getter). `export_response` counts the rows,
records who exported what in the audit trail, and returns the file:

- CSV: UTF-8 with a byte-order mark (so Excel shows Chinese text instead of mojibake), streamed row by
  row (`StreamingHttpResponse`), read from the database in chunks: memory stays flat at any size.
- XLSX: openpyxl in write-only mode into a temporary file, then streamed. Excel holds at most
  1,048,576 rows per sheet; a bigger export is refused with a message that suggests CSV.

Values: dates and times ISO 8601 (times in the current time zone), decimals exact, choices as their
labels, people as their names. Text that a spreadsheet would run as a formula (starting with = + - @,
tab or carriage return) is neutralised: in CSV it gets a leading apostrophe (OWASP's advice); in XLSX
it is stored as a typed text cell, which Excel never evaluates, with Excel's "quote prefix" flag, so the
value stays exactly as entered (a phone number +86 … keeps its plus).
"""
from __future__ import annotations

import csv
import datetime as dt
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from itertools import islice
from typing import Any, Literal

from django.db.models import Model, QuerySet
from django.http import FileResponse, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone, translation
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _

from . import audit
from .errors import FieldError, ValidationFailed

CSV = "csv"
XLSX = "xlsx"
FORMATS = (CSV, XLSX)
ExportFormat = Literal["csv", "xlsx"]  # the API's `format` query parameter
CONTENT_TYPES = {
    CSV: "text/csv; charset=utf-8",
    XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
# Excel's sheet holds 1,048,576 rows; one is the header.
XLSX_MAX_ROWS = 1_048_575
CHUNK_SIZE = 2000
BOM = "\ufeff"
# Characters that make a spreadsheet read a cell as a formula (OWASP "CSV injection").
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
# Control characters that XML (and so XLSX) cannot hold and no business text needs; \t \n \r are kept.
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
# Decimals with more significant digits than an Excel number (a double) keeps are written as text.
_EXCEL_DIGITS = 15

# The API documents an export's response as a file in either format.
OPENAPI_FILE_RESPONSE = {
    "responses": {
        200: {
            "description": "The file: CSV (UTF-8 with BOM) or XLSX, as `format` asks",
            "content": {
                CONTENT_TYPES[CSV]: {"schema": {"type": "string"}},
                CONTENT_TYPES[XLSX]: {"schema": {"type": "string", "format": "binary"}},
            },
        },
    },
}


@dataclass(frozen=True)
class Column:
    """One column of an export: its header (translatable) and how to read its value from a row."""

    header: str
    value: Callable[[Any], Any]


def _follow(obj, path: str):
    for name in path.split("."):
        if obj is None:
            return None
        obj = getattr(obj, name)
    return obj


def field(header, path: str) -> Column:
    """A plain value, following relations with dots: field(_("Account"), "account.name")."""
    return Column(header, lambda obj: _follow(obj, path))


def item(header, key: str) -> Column:
    """A value of a dict row (the reports' rows): item(_("Leads"), "leads")."""
    return Column(header, lambda row: row[key])


class Rows(list):
    """Rows computed in Python (a report's table) exported like a queryset: the exports read count() and
    iterator()."""

    def count(self) -> int:
        return len(self)

    def iterator(self, chunk_size=None):
        return iter(self)


def choice(header, name: str) -> Column:
    """A choice field shown as its label in the user's language, not its stored value."""
    # The labels are looked up once per model and language, not per row: get_FOO_display() rebuilds
    # the choices dict on every call, which dominated the time of a large export.
    labels_by_language: dict = {}

    def value(obj):
        key = (type(obj), translation.get_language())
        labels = labels_by_language.get(key)
        if labels is None:
            field = type(obj)._meta.get_field(name)
            labels = labels_by_language[key] = {k: str(v) for k, v in field.flatchoices}
        stored = getattr(obj, name)
        return labels.get(stored, stored)

    return Column(header, value)


def person(header, path: str) -> Column:
    """A user (or contact) shown by name; empty when there is none."""
    def value(obj):
        who = _follow(obj, path)
        return str(who) if who is not None else None

    return Column(header, value)


def parse_format(value: str | None) -> str:
    """The requested format; csv when none is given, a field error for anything else."""
    text = (value or CSV).strip().lower()
    if text not in FORMATS:
        raise ValidationFailed.single(
            "format", _("Unknown export format %(value)r; use csv or xlsx.") % {"value": value}, "invalid_format")
    return text


# --- values ---------------------------------------------------------------------------------------

def _is_formula(text: str) -> bool:
    return text.startswith(FORMULA_TRIGGERS)


def csv_value(value, tz) -> str:
    """A cell of the CSV: text, with formulas neutralised by a leading apostrophe."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if isinstance(value, dt.datetime):
        if timezone.is_aware(value):
            value = timezone.localtime(value, tz)
        return value.replace(microsecond=0).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal | int):
        return str(value)
    text = _CONTROL_CHARACTERS.sub("", str(value))
    return "'" + text if _is_formula(text) else text


def _xlsx_value(value, tz):
    """A cell of the sheet: a native number, date or text; (value, needs a text cell)."""
    if value is None:
        return None, False
    if isinstance(value, bool):
        return (_("Yes") if value else _("No")), False
    if isinstance(value, dt.datetime):
        if timezone.is_aware(value):
            value = timezone.make_naive(value, tz)  # Excel has no time zones: local time, as in the UI
        return value.replace(microsecond=0), False
    if isinstance(value, dt.date | int):
        return value, False
    if isinstance(value, Decimal):
        if value.is_finite() and len(value.as_tuple().digits) <= _EXCEL_DIGITS:
            return value, False
        return str(value), True  # a double would round it: keep every digit as text
    text = _CONTROL_CHARACTERS.sub("", str(value))
    from openpyxl.cell.cell import ERROR_CODES

    return text, _is_formula(text) or text in ERROR_CODES


# --- files ----------------------------------------------------------------------------------------

class _Echo:
    """A file-like object whose write returns the line, so csv.writer can feed a generator."""

    def write(self, value: str) -> str:
        return value


def _rows(queryset: QuerySet) -> Iterator[Model]:
    return queryset.iterator(chunk_size=CHUNK_SIZE)


def csv_lines(queryset: QuerySet, columns: list[Column], *, language: str | None, tz,
              lines_per_chunk: int = 200) -> Iterator[str]:
    """The CSV file in pieces: BOM + header, then the rows, `lines_per_chunk` lines at a time."""
    writer = csv.writer(_Echo())
    with translation.override(language):
        yield BOM + writer.writerow([str(c.header) for c in columns])
    rows = _rows(queryset)
    while True:
        # The response streams after the view returned: keep the request's language for the labels,
        # but only while a piece is built, never across a yield.
        with translation.override(language):
            lines = [writer.writerow([csv_value(c.value(obj), tz) for c in columns])
                     for obj in islice(rows, lines_per_chunk)]
        if not lines:
            return
        yield "".join(lines)


def write_xlsx(queryset: QuerySet, columns: list[Column], target, *, sheet_title: str, tz) -> None:
    """Write the sheet into `target` (a binary file) with openpyxl's write-only (streaming) workbook."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=sheet_title[:31])
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    header = []
    for column in columns:
        cell = WriteOnlyCell(sheet, value=str(column.header))
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    for obj in _rows(queryset):
        row = []
        for column in columns:
            value, as_text = _xlsx_value(column.value(obj), tz)
            if as_text:
                cell = WriteOnlyCell(sheet, value=value)
                cell.data_type = "s"  # text, never a formula or an error value
                cell.quotePrefix = True  # and stays text when someone edits it in Excel
                value = cell
            row.append(value)
        sheet.append(row)
    workbook.save(target)


def export_filename(stem: str, fmt: str) -> str:
    return f"{stem}-{timezone.localdate().isoformat()}.{fmt}"


def _clean(filters: dict) -> dict:
    return {k: v for k, v in filters.items() if v not in (None, "", [], {})}


def export_response(*, queryset: QuerySet, columns: Iterable[Column], fmt: str, actor, stem: str,
                    object_type: str, filters: dict, sheet_title: str = "") -> HttpResponse:
    """Count, audit and return the export of `queryset` (already restricted to what `actor` may see).

    `filters` (search, filters, ordering as given) go into the audit event with the row count.
    """
    columns = list(columns)
    fmt = parse_format(fmt)
    count = queryset.count()
    if fmt == XLSX and count > XLSX_MAX_ROWS:
        raise ValidationFailed.single(
            "format",
            _("This export has %(count)s rows; an Excel sheet holds at most %(max)s. Export as CSV instead, "
              "or narrow the filters.") % {"count": f"{count:,}", "max": f"{XLSX_MAX_ROWS:,}"},
            "too_many_rows",
        )
    filename = export_filename(stem, fmt)
    audit.record_many([audit.PendingEvent(
        action=audit.Action.ACCESS, object_type=object_type, object_id="export",
        object_repr=f"export {filename}",
        changes={"format": fmt, "rows": count, "filters": _clean(filters)},
    )], actor=actor)
    tz = timezone.get_current_timezone()
    if fmt == CSV:
        response = StreamingHttpResponse(
            csv_lines(queryset, columns, language=translation.get_language(), tz=tz),
            content_type=CONTENT_TYPES[CSV],
        )
    else:
        target = tempfile.TemporaryFile()  # closed by the response once sent
        write_xlsx(queryset, columns, target, sheet_title=sheet_title or stem, tz=tz)
        target.seek(0)
        response = FileResponse(target, content_type=CONTENT_TYPES[XLSX])
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=filename)
    response["Cache-Control"] = "no-store"  # personal data: never kept by a shared cache
    return response


def ui_export(request, build: Callable[[], tuple[QuerySet, dict]], *, columns: Iterable[Column], stem: str,
              object_type: str, sheet_title: str = "", back_url: str = "") -> HttpResponse:
    """The UI's export view body: `build()` parses the list page's filters and calls its selector.

    A bad format or filter answers 400 with the reason, instead of a file with other rows than the list.
    """
    try:
        fmt = parse_format(request.GET.get("format"))
        queryset, filters = build()
        return export_response(queryset=queryset, columns=columns, fmt=fmt, actor=request.user, stem=stem,
                               object_type=object_type, filters=filters, sheet_title=sheet_title)
    except ValidationFailed as exc:
        if back_url:  # back to the list with the same search and filters, to fix them there
            query = request.GET.copy()
            query.pop("format", None)
            back_url = f"{back_url}?{query.urlencode()}" if query else back_url
        return render(request, "core/export_error.html", {"errors": exc.errors, "back_url": back_url}, status=400)



def refuse_invalid_filters(form) -> None:
    """A filter the list page would skip (and flag) must stop an export instead: the file would
    otherwise hold other rows than the user asked for."""
    if form.is_bound and form.errors:
        raise ValidationFailed([FieldError(name, " ".join(str(m) for m in messages), "invalid")
                                for name, messages in form.errors.items()])
