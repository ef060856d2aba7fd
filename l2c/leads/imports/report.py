"""The downloadable error report of an import: one line per problem (row, column, value, reason), as
CSV in UTF-8 with a BOM (so Excel reads Chinese correctly), with formula injection neutralised: a
cell that starts with = + - @ (or a tab / carriage return) gets a leading apostrophe, so a
spreadsheet shows `=cmd|...` as text instead of running it."""
from __future__ import annotations

import csv
import io

from django.utils.translation import gettext as _

from l2c.core.exports import BOM, FORMULA_TRIGGERS


def neutralise(text: str) -> str:
    text = "" if text is None else str(text)
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def write_error_report(errors, fh) -> None:
    """Write `errors` (RowError-like: row, column, value, reason) to `fh`, a text or binary file."""
    binary = not isinstance(fh, io.TextIOBase) and "b" in getattr(fh, "mode", "b")
    out = io.StringIO() if binary else fh
    out.write(BOM)
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([_("Row"), _("Column"), _("Value"), _("Reason")])
    for count, error in enumerate(errors, start=1):
        writer.writerow([error.row, neutralise(error.column), neutralise(error.value), neutralise(error.reason)])
        if binary and count % 10_000 == 0:
            fh.write(out.getvalue().encode("utf-8"))
            out.seek(0)
            out.truncate()
    if binary:
        fh.write(out.getvalue().encode("utf-8"))
