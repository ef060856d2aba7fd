"""Reading an uploaded table: CSV (UTF-8, UTF-8 with BOM, GBK/GB18030; comma, semicolon or tab) or
XLSX (first sheet), streamed row by row so a file of any allowed size needs little memory.

Every problem with the file as a whole raises `ImportFileError` with a code and a message that says
what is wrong, where, and what to do about it.
"""
from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.utils.translation import gettext as _

from l2c.core.errors import DomainError

DEFAULT_MAX_BYTES = 512 * 1024 * 1024
DEFAULT_MAX_COLUMNS = 500
# One physical line longer than this is refused before the CSV parser sees it (a 100 MB line with
# no line break would otherwise be held in memory whole).
DEFAULT_MAX_LINE_CHARS = 1024 * 1024
BLOCK = 4 * 1024 * 1024
DELIMITERS = (",", ";", "\t")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}

# Magic numbers of common non-table files people upload by mistake.
_MAGIC = (
    (b"\x89PNG", "a PNG image"),
    (b"GIF8", "a GIF image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"%PDF", "a PDF document"),
    (b"\xd0\xcf\x11\xe0", "an old Excel (.xls) or Word (.doc) file"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"),
)


class ImportFileError(DomainError):
    """The file as a whole cannot be imported (the message says what, where and why)."""

    status = 422
    code = "bad_file"
    title = "The file cannot be imported"


def max_bytes() -> int:
    return int(getattr(settings, "L2C_IMPORT_MAX_BYTES", DEFAULT_MAX_BYTES))


def max_columns() -> int:
    return int(getattr(settings, "L2C_IMPORT_MAX_COLUMNS", DEFAULT_MAX_COLUMNS))


def max_line_chars() -> int:
    return int(getattr(settings, "L2C_IMPORT_MAX_LINE_CHARS", DEFAULT_MAX_LINE_CHARS))


def _size_text(n: int) -> str:
    return f"{n / (1024 * 1024):,.1f} MB" if n >= 1024 * 1024 else f"{n:,} bytes"


@dataclass
class Table:
    """An opened file: its format, how it is read, its header, and its data rows (streamed)."""

    path: Path
    file_format: str  # "csv" | "xlsx"
    encoding: str = ""
    delimiter: str = ""
    headers: list[str] = field(default_factory=list)
    rows_estimate: int | None = None
    _rows: Iterator[tuple[int, list[str]]] | None = None
    _closers: list = field(default_factory=list)

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """(row number as a spreadsheet shows it — the header is row 1 —, cells) for each data row."""
        assert self._rows is not None
        return self._rows

    def close(self) -> None:
        for close in self._closers:
            try:
                close()
            except Exception:  # closing a reader must not hide the import's own outcome
                pass
        self._closers.clear()

    def __enter__(self) -> Table:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --- format and encoding ------------------------------------------------------------------------

def detect_format(path: Path) -> str:
    """"csv" or "xlsx"; refuses empty files, oversized files and binary junk."""
    size = path.stat().st_size
    if size == 0:
        raise ImportFileError(_("The file is empty."), code="empty_file")
    limit = max_bytes()
    if size > limit:
        raise ImportFileError(
            _("The file is %(size)s; the largest file that can be imported is %(limit)s. Split it into "
              "smaller files.") % {"size": _size_text(size), "limit": _size_text(limit)}, code="file_too_large")
    with path.open("rb") as fh:
        head = fh.read(8192)
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        try:
            with zipfile.ZipFile(path) as archive:
                names = set(archive.namelist())
        except zipfile.BadZipFile as exc:
            raise ImportFileError(_("The file looks like a ZIP archive or an XLSX workbook but is damaged."),
                                  code="not_a_table") from exc
        if "xl/workbook.xml" in names:
            return "xlsx"
        raise ImportFileError(
            _("The file is a ZIP archive, not a spreadsheet. Upload a CSV file or an Excel workbook (.xlsx)."),
            code="not_a_table")
    for magic, what in _MAGIC:
        if head.startswith(magic):
            raise ImportFileError(
                _("The file is %(what)s, not a table. Upload a CSV file or an Excel workbook (.xlsx).")
                % {"what": what}, code="not_a_table")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ImportFileError(
            _("The file is in UTF-16, which cannot be imported. Save it as \"CSV UTF-8\" and try again."),
            code="bad_encoding")
    if b"\x00" in head:
        offset = head.index(b"\x00")
        raise ImportFileError(
            _("The file contains binary data (a NUL byte at offset %(offset)d), not text. Upload a CSV file or "
              "an Excel workbook (.xlsx).") % {"offset": offset}, code="not_a_table")
    controls = sum(1 for b in head if b < 0x20 and b not in (0x09, 0x0A, 0x0D, 0x0C))
    if controls > max(8, len(head) // 20):
        raise ImportFileError(
            _("The file contains binary data, not text. Upload a CSV file or an Excel workbook (.xlsx)."),
            code="not_a_table")
    return "csv"


def _first_bad_byte(path: Path, encoding: str) -> tuple[int, int, int]:
    """(byte offset, line number, byte value) of the first byte that does not decode in `encoding`.

    Only called on the error path. Lines are split on b"\\n", which is never part of a multi-byte
    character in UTF-8 or GB18030.
    """
    offset = 0
    with path.open("rb") as fh:
        for number, line in enumerate(fh, start=1):
            start = 3 if number == 1 and line.startswith(codecs.BOM_UTF8) and encoding == "utf-8" else 0
            try:
                line[start:].decode(encoding)
            except UnicodeDecodeError as exc:
                position = offset + start + exc.start
                return position, number, line[start + exc.start]
            offset += len(line)
    return offset, 0, 0


def _decodes(path: Path, encoding: str) -> tuple[bool, int]:
    """Whether the whole file decodes strictly in `encoding`, and its number of line breaks."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    newlines = 0
    with path.open("rb") as fh:
        while True:
            block = fh.read(BLOCK)
            if not block:
                break
            if b"\x00" in block:
                offset = fh.tell() - len(block) + block.index(b"\x00")
                raise ImportFileError(
                    _("The file contains binary data (a NUL byte at offset %(offset)d), not text.")
                    % {"offset": offset}, code="not_a_table")
            newlines += block.count(b"\n")
            try:
                decoder.decode(block)
            except UnicodeDecodeError:
                return False, newlines
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return False, newlines
    return True, newlines


def detect_encoding(path: Path) -> tuple[str, int]:
    """("utf-8-sig" | "gb18030", line breaks): UTF-8 (with or without BOM) first, then GBK/GB18030,
    each decoded strictly over the whole file (a fast streaming pass)."""
    ok, newlines = _decodes(path, "utf-8-sig")
    if ok:
        return "utf-8-sig", newlines
    ok, newlines = _decodes(path, "gb18030")
    if ok:
        return "gb18030", newlines
    offset, line, value = _first_bad_byte(path, "utf-8")
    raise ImportFileError(
        _("The file is neither UTF-8 nor GBK/GB18030: byte 0x%(byte)02X at offset %(offset)d (line %(line)d) is "
          "not valid UTF-8. Save the file as \"CSV UTF-8\" and try again.")
        % {"byte": value, "offset": offset, "line": line}, code="bad_encoding")


def normalise_encoding(encoding: str) -> str:
    """A user's encoding name as Python's codec name; "utf-8" reads an optional BOM too."""
    try:
        name = codecs.lookup(encoding.strip()).name
    except LookupError as exc:
        raise ImportFileError(_("Unknown encoding %(value)r (use utf-8 or gb18030).") % {"value": encoding},
                              code="bad_encoding") from exc
    if name in ("utf-8", "utf-8-sig"):
        return "utf-8-sig"
    if name in ("gbk", "gb2312", "gb18030"):
        return "gb18030"  # a superset of GBK and GB2312
    return name


def check_encoding(path: Path, encoding: str) -> int:
    """The file decodes in the given encoding; its number of line breaks."""
    ok, newlines = _decodes(path, encoding)
    if not ok:
        offset, line, value = _first_bad_byte(path, encoding)
        raise ImportFileError(
            _("The file is not %(encoding)s: byte 0x%(byte)02X at offset %(offset)d (line %(line)d) cannot be "
              "read in it.") % {"encoding": encoding, "byte": value, "offset": offset, "line": line},
            code="bad_encoding")
    return newlines


def normalise_delimiter(delimiter: str) -> str:
    names = {"comma": ",", "semicolon": ";", "tab": "\t", "\\t": "\t", "pipe": "|"}
    value = names.get(delimiter.strip().lower(), delimiter) if delimiter.strip() else delimiter
    if len(value) != 1 or value in "\"\r\n" or value.isalnum():
        raise ImportFileError(_("The delimiter must be one character such as , ; or tab (got %(value)r).")
                              % {"value": delimiter}, code="bad_delimiter")
    return value


def sniff_delimiter(sample: str) -> str:
    """The delimiter among , ; and tab that splits the first lines into the most, equally long, rows."""
    lines = sample.splitlines(keepends=True)
    if len(lines) > 1 and not sample.endswith(("\n", "\r")):
        lines = lines[:-1]  # the sample may have cut the last line
    text = "".join(lines[:50])
    best, best_score = ",", None
    for delimiter in DELIMITERS:
        try:
            rows = [r for r in csv.reader(io.StringIO(text), delimiter=delimiter) if r]
        except csv.Error:
            continue
        if not rows:
            continue
        width = len(rows[0])
        consistent = sum(1 for r in rows if len(r) == width) / len(rows)
        score = (width > 1, consistent >= 0.9, width if consistent >= 0.9 else 0, consistent, width)
        if best_score is None or score > best_score:
            best, best_score = delimiter, score
    return best


# --- CSV ------------------------------------------------------------------------------------------

def _limited_lines(fh, limit: int) -> Iterator[str]:
    """The file's lines, refusing one longer than `limit` characters without reading it whole."""
    line_number = 0
    readline = fh.readline
    while True:
        line = readline(limit)
        if not line:
            return
        line_number += 1
        if len(line) >= limit and not line.endswith("\n"):
            raise ImportFileError(
                _("Line %(line)d is longer than %(limit)s characters; this is not a table of leads (or a cell "
                  "holds a whole document).") % {"line": line_number, "limit": f"{limit:,}"},
                code="line_too_long")
        yield line


def _too_many_columns(row_number: int, count: int, limit: int) -> ImportFileError:
    return ImportFileError(
        _("Row %(row)d has %(count)s columns; at most %(limit)d columns can be imported. Remove the extra "
          "columns (or check the delimiter).") % {"row": row_number, "count": f"{count:,}", "limit": limit},
        code="too_many_columns")


def _csv_rows(reader, limit: int) -> Iterator[tuple[int, list[str]]]:
    row_number = 1
    try:
        for cells in reader:
            row_number += 1
            if len(cells) > limit:
                raise _too_many_columns(row_number, len(cells), limit)
            yield row_number, cells
    except csv.Error as exc:
        raise ImportFileError(
            _("The CSV file cannot be read at line %(line)d: %(reason)s.") % {"line": reader.line_num, "reason": exc},
            code="bad_csv") from exc


def open_csv(path: Path, *, encoding: str | None, delimiter: str | None) -> Table:
    if encoding:
        encoding = normalise_encoding(encoding)
        newlines = check_encoding(path, encoding)
    else:
        encoding, newlines = detect_encoding(path)
    fh = path.open("r", encoding=encoding, newline="")
    table = Table(path=path, file_format="csv", encoding=encoding)
    table._closers.append(fh.close)
    try:
        sample = fh.read(64 * 1024)
        if not sample.strip():
            raise ImportFileError(_("The file is empty (it holds only blank lines)."), code="empty_file")
        table.delimiter = normalise_delimiter(delimiter) if delimiter else sniff_delimiter(sample)
        fh.seek(0)
        csv.field_size_limit(max_line_chars())
        reader = csv.reader(_limited_lines(fh, max_line_chars()), delimiter=table.delimiter)
        limit = max_columns()
        try:
            header = next(reader, None)
            while header is not None and not any(c.strip() for c in header):
                header = next(reader, None)  # leading blank lines
        except csv.Error as exc:
            raise ImportFileError(_("The header row cannot be read: %(reason)s.") % {"reason": exc},
                                  code="bad_csv") from exc
        if header is None:
            raise ImportFileError(_("The file is empty (it holds only blank lines)."), code="empty_file")
        if len(header) > limit:
            raise _too_many_columns(1, len(header), limit)
        table.headers = [h.strip() for h in header]
        table.rows_estimate = max(newlines - 1, 0) if newlines else 0
        table._rows = _csv_rows(reader, limit)
    except BaseException:
        table.close()
        raise
    return table


# --- XLSX -----------------------------------------------------------------------------------------

def cell_text(value) -> str:
    """An Excel cell as the text a person sees: integers without ".0" or exponent (phone numbers
    typed as numbers stay 13812345678), dates as ISO dates, times without microseconds."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return ""
        if value.is_integer() and abs(value) < 1e17:
            return str(int(value))
        if abs(value) < 1e15:
            text = f"{value:.10f}".rstrip("0").rstrip(".")
            return text if float(text) == round(value, 10) else repr(value)
        return repr(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0, 0):
            return value.date().isoformat()
        return value.replace(microsecond=0).isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.replace(microsecond=0).isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    return str(value)


def _xlsx_rows(rows, limit: int) -> Iterator[tuple[int, list[str]]]:
    for row_number, values in rows:
        if len(values) > limit:
            # read-only rows stop at the last cell written; trailing empty cells do not count
            trimmed = list(values)
            while trimmed and trimmed[-1] is None:
                trimmed.pop()
            if len(trimmed) > limit:
                raise _too_many_columns(row_number, len(trimmed), limit)
            values = trimmed
        yield row_number, [cell_text(v) for v in values]


def open_xlsx(path: Path) -> Table:
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise ImportFileError(_("The Excel workbook cannot be opened (%(reason)s). Save it again in Excel as "
                                ".xlsx, or as CSV UTF-8.") % {"reason": exc}, code="not_a_table") from exc
    table = Table(path=path, file_format="xlsx")
    table._closers.append(workbook.close)
    try:
        if not workbook.worksheets:
            raise ImportFileError(_("The workbook has no sheets."), code="empty_file")
        sheet = workbook.worksheets[0]
        limit = max_columns()
        numbered = ((n, values) for n, values in enumerate(sheet.iter_rows(values_only=True), start=1))
        header = None
        for number, values in numbered:
            if any(v not in (None, "") for v in values):
                header = (number, values)
                break
        if header is None:
            raise ImportFileError(_("The first sheet of the workbook is empty."), code="empty_file")
        header_number, header_values = header
        values = list(header_values)
        while values and values[-1] in (None, ""):
            values.pop()
        if len(values) > limit:
            raise _too_many_columns(header_number, len(values), limit)
        table.headers = [cell_text(v).strip() for v in values]
        try:
            max_row = sheet.max_row
        except Exception:
            max_row = None
        table.rows_estimate = max(max_row - header_number, 0) if max_row else None
        table._rows = _xlsx_rows(numbered, limit)
    except BaseException:
        table.close()
        raise
    return table


def open_table(path: str | Path, *, encoding: str | None = None, delimiter: str | None = None) -> Table:
    path = Path(path)
    if not path.is_file():
        raise ImportFileError(_("The file %(name)s does not exist.") % {"name": os.fspath(path)}, code="no_file")
    file_format = detect_format(path)
    if file_format == "xlsx":
        return open_xlsx(path)
    return open_csv(path, encoding=encoding, delimiter=delimiter)
