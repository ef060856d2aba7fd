"""Reading bank statement files into plain values: ISO 20022 camt.053 XML and CSV/XLSX tables with a column
mapping. Nothing here touches the database; every problem raises `StatementFileError` naming the line or
element and what to do about it.

XML is parsed with the standard library only after a first pass with expat that refuses any DOCTYPE or entity
declaration (no entity expansion, no external resources: the defusedxml rules).
"""
from __future__ import annotations

import datetime as dt
import re
import tempfile
import xml.etree.ElementTree as ET
import xml.parsers.expat
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.utils.translation import gettext as _

from l2c.core.errors import DomainError
from l2c.core.money import round_money
from l2c.core.validation import is_iso_currency as is_currency_code

MAX_FILE_BYTES = 20 * 1024 * 1024
CAMT053_NS = re.compile(r"^urn:iso:std:iso:20022:tech:xsd:camt\.053\.001\.\d{2}$")


class StatementFileError(DomainError):
    """The file cannot be imported as a bank statement (the message says where and why)."""

    status = 422
    code = "bad_file"
    title = "The bank statement cannot be imported"


@dataclass
class ParsedLine:
    booking_date: dt.date
    amount: Decimal  # + in, − out
    currency: str
    value_date: dt.date | None = None
    counterparty_name: str = ""
    counterparty_account: str = ""
    reference: str = ""
    end_to_end_id: str = ""
    bank_reference: str = ""


@dataclass
class ParsedStatement:
    file_format: str  # "csv" | "camt053"
    currency: str
    account_name: str = ""
    iban: str = ""
    statement_id: str = ""
    period_start: dt.date | None = None
    period_end: dt.date | None = None
    opening_balance: Decimal | None = None
    closing_balance: Decimal | None = None
    lines: list[ParsedLine] = field(default_factory=list)


def looks_like_xml(data: bytes) -> bool:
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"<")


def _clip(text: str, limit: int) -> str:
    return " ".join((text or "").split())[:limit]


# --- camt.053 -------------------------------------------------------------------------------------

def _refuse_dtd(data: bytes) -> None:
    """Parse once with expat, refusing DOCTYPE and entity declarations; report where XML is broken."""
    parser = xml.parsers.expat.ParserCreate()

    def doctype(*_args):
        raise StatementFileError(_("The XML file declares a DOCTYPE (line %(line)d); bank statements never need "
                                   "one and it is refused for safety.") % {"line": parser.CurrentLineNumber},
                                 code="xml_dtd_refused")

    def entity(*_args):
        raise StatementFileError(_("The XML file declares an entity (line %(line)d); this is refused for safety.")
                                 % {"line": parser.CurrentLineNumber}, code="xml_dtd_refused")

    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = entity
    parser.UnparsedEntityDeclHandler = entity
    parser.ExternalEntityRefHandler = entity
    try:
        parser.Parse(data, True)
    except xml.parsers.expat.ExpatError as exc:
        raise StatementFileError(_("The file is not well-formed XML: %(reason)s (line %(line)d, column %(column)d).")
                                 % {"reason": xml.parsers.expat.ErrorString(exc.code), "line": exc.lineno,
                                    "column": exc.offset + 1}, code="bad_xml") from exc


class _Camt:
    def __init__(self, ns: str):
        self.ns = {"c": ns}

    def find(self, node, path: str):
        return node.find(self._path(path), self.ns)

    def findall(self, node, path: str):
        return node.findall(self._path(path), self.ns)

    def text(self, node, path: str) -> str:
        found = self.find(node, path)
        return (found.text or "").strip() if found is not None and found.text else ""

    @staticmethod
    def _path(path: str) -> str:
        return "/".join(part if part in (".", "..") else f"c:{part}" for part in path.split("/"))


def _xml_date(value: str, where: str) -> dt.date:
    text = value.strip()
    try:
        if "T" in text:
            return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).date()
        return dt.date.fromisoformat(text[:10]) if len(text) >= 10 else dt.date.fromisoformat(text)
    except ValueError as exc:
        raise StatementFileError(_("%(where)s: %(value)r is not a date (YYYY-MM-DD).")
                                 % {"where": where, "value": value}, code="bad_date") from exc


def _amount_of(camt: _Camt, node, where: str) -> tuple[Decimal, str]:
    """(unsigned amount, currency) of the node's <Amt Ccy="…">."""
    amt = camt.find(node, "Amt")
    if amt is None or not (amt.text or "").strip():
        raise StatementFileError(_("%(where)s: the amount (Amt) is missing.") % {"where": where},
                                 code="missing_amount")
    currency = (amt.get("Ccy") or "").strip().upper()
    if not is_currency_code(currency):
        raise StatementFileError(_("%(where)s/Amt: the currency attribute Ccy %(value)r is not an ISO 4217 code.")
                                 % {"where": where, "value": amt.get("Ccy") or ""}, code="bad_currency")
    try:
        value = Decimal(amt.text.strip())
    except InvalidOperation as exc:
        raise StatementFileError(_("%(where)s/Amt: %(value)r is not an amount.")
                                 % {"where": where, "value": amt.text.strip()}, code="bad_amount") from exc
    if not value.is_finite() or value < 0 or round_money(value, currency) != value:
        raise StatementFileError(_("%(where)s/Amt: %(value)r is not a valid %(currency)s amount.")
                                 % {"where": where, "value": amt.text.strip(), "currency": currency},
                                 code="bad_amount")
    return value, currency


def _sign(camt: _Camt, node, where: str) -> int:
    indicator = camt.text(node, "CdtDbtInd")
    if indicator == "CRDT":
        return 1
    if indicator == "DBIT":
        return -1
    raise StatementFileError(_("%(where)s/CdtDbtInd: expected CRDT or DBIT, found %(value)r.")
                             % {"where": where, "value": indicator}, code="bad_indicator")


def _party_name(camt: _Camt, tx, role: str) -> str:
    # camt.053.001.02: RltdPties/Dbtr/Nm; .001.08 and later: RltdPties/Dbtr/Pty/Nm
    return camt.text(tx, f"RltdPties/{role}/Nm") or camt.text(tx, f"RltdPties/{role}/Pty/Nm")


def _party_account(camt: _Camt, tx, role: str) -> str:
    return camt.text(tx, f"RltdPties/{role}Acct/Id/IBAN") or camt.text(tx, f"RltdPties/{role}Acct/Id/Othr/Id")


def _references(camt: _Camt, tx) -> str:
    parts = [u.text.strip() for u in camt.findall(tx, "RmtInf/Ustrd") if u.text and u.text.strip()]
    parts += [r.text.strip() for r in camt.findall(tx, "RmtInf/Strd/CdtrRefInf/Ref") if r.text and r.text.strip()]
    return _clip(" ".join(parts), 500)


def parse_camt053(data: bytes) -> ParsedStatement:
    _refuse_dtd(data)
    root = ET.fromstring(data)
    ns = root.tag[1:].split("}", 1)[0] if root.tag.startswith("{") else ""
    local = root.tag.rsplit("}", 1)[-1]
    if local != "Document" or not CAMT053_NS.match(ns):
        raise StatementFileError(
            _("This XML is not an ISO 20022 camt.053 statement: the root element is %(tag)s in namespace %(ns)r; "
              "expected Document in urn:iso:std:iso:20022:tech:xsd:camt.053.001.xx.")
            % {"tag": local, "ns": ns}, code="wrong_namespace")
    camt = _Camt(ns)
    statements = camt.findall(root, "BkToCstmrStmt/Stmt")
    if len(statements) != 1:
        raise StatementFileError(
            _("The file holds %(n)d statements (BkToCstmrStmt/Stmt); import files with exactly one statement.")
            % {"n": len(statements)}, code="statement_count")
    stmt = statements[0]
    result = ParsedStatement(file_format="camt053", currency="")
    result.statement_id = _clip(camt.text(stmt, "Id"), 100)
    result.iban = _clip(camt.text(stmt, "Acct/Id/IBAN") or camt.text(stmt, "Acct/Id/Othr/Id"), 64)
    result.account_name = _clip(camt.text(stmt, "Acct/Nm") or camt.text(stmt, "Acct/Ownr/Nm"), 200)
    currency = camt.text(stmt, "Acct/Ccy").upper()
    if currency and not is_currency_code(currency):
        raise StatementFileError(_("Stmt/Acct/Ccy: %(value)r is not an ISO 4217 currency code.") % {"value": currency},
                                 code="bad_currency")
    start, end = camt.text(stmt, "FrToDt/FrDtTm"), camt.text(stmt, "FrToDt/ToDtTm")
    result.period_start = _xml_date(start, "Stmt/FrToDt/FrDtTm") if start else None
    result.period_end = _xml_date(end, "Stmt/FrToDt/ToDtTm") if end else None
    for index, bal in enumerate(camt.findall(stmt, "Bal"), start=1):
        code = camt.text(bal, "Tp/CdOrPrtry/Cd")
        if code not in ("OPBD", "CLBD"):
            continue
        where = f"Stmt/Bal[{index}]"
        value, bal_currency = _amount_of(camt, bal, where)
        currency = currency or bal_currency
        signed = value * _sign(camt, bal, where)
        if code == "OPBD":
            result.opening_balance = signed
        else:
            result.closing_balance = signed
    for index, entry in enumerate(camt.findall(stmt, "Ntry"), start=1):
        where = f"Ntry[{index}]"
        status = camt.text(entry, "Sts") or camt.text(entry, "Sts/Cd")
        if status and status not in ("BOOK",):
            continue  # pending or information-only entries are not booked movements
        value, entry_currency = _amount_of(camt, entry, where)
        sign = _sign(camt, entry, where)
        booked = camt.text(entry, "BookgDt/Dt") or camt.text(entry, "BookgDt/DtTm")
        valued = camt.text(entry, "ValDt/Dt") or camt.text(entry, "ValDt/DtTm")
        if not booked and not valued:
            raise StatementFileError(_("%(where)s: the booking date (BookgDt) is missing.") % {"where": where},
                                     code="missing_date")
        booking_date = _xml_date(booked or valued, f"{where}/BookgDt")
        value_date = _xml_date(valued, f"{where}/ValDt") if valued else None
        bank_reference = _clip(camt.text(entry, "AcctSvcrRef"), 100)
        transactions = camt.findall(entry, "NtryDtls/TxDtls")
        split = len(transactions) > 1 and all(
            camt.find(tx, "AmtDtls/TxAmt/Amt") is not None or camt.find(tx, "Amt") is not None for tx in transactions)
        parts = []
        if split:  # a batch booking: one line per transaction
            for tx_index, tx in enumerate(transactions, start=1):
                tx_where = f"{where}/NtryDtls/TxDtls[{tx_index}]"
                holder = camt.find(tx, "AmtDtls/TxAmt")
                tx_value, tx_currency = _amount_of(camt, holder if holder is not None else tx, tx_where)
                parts.append((tx, tx_value, tx_currency))
        else:
            parts.append((transactions[0] if transactions else None, value, entry_currency))
        role = "Dbtr" if sign > 0 else "Cdtr"
        for tx, amount, line_currency in parts:
            if amount == 0:
                continue
            line = ParsedLine(booking_date=booking_date, value_date=value_date, amount=amount * sign,
                              currency=line_currency, bank_reference=bank_reference)
            if tx is not None:
                line.counterparty_name = _clip(_party_name(camt, tx, role), 200)
                line.counterparty_account = _clip(_party_account(camt, tx, role), 64)
                line.reference = _references(camt, tx)
                e2e = camt.text(tx, "Refs/EndToEndId")
                line.end_to_end_id = "" if e2e.upper() == "NOTPROVIDED" else _clip(e2e, 100)
            if not line.reference:
                line.reference = _clip(camt.text(entry, "AddtlNtryInf"), 500)
            result.lines.append(line)
        currency = currency or entry_currency
    if not currency:
        raise StatementFileError(_("Stmt/Acct/Ccy: the statement's currency is missing and it has no entries."),
                                 code="bad_currency")
    result.currency = currency
    return result


# --- CSV / XLSX with a mapping --------------------------------------------------------------------

MAPPING_COLUMNS = ("date", "value_date", "amount", "credit", "debit", "currency", "counterparty", "reference",
                   "end_to_end_id")
MAPPING_OPTIONS = ("default_currency", "date_format", "decimal", "account_name", "iban", "encoding", "delimiter")

# header words that suggest a mapping (lower case); first match wins
_HINTS = {
    "date": ("booking date", "buchungstag", "date", "datum", "transaction date", "日期", "交易日期"),
    "value_date": ("value date", "valuta", "wertstellung"),
    "amount": ("amount", "betrag", "金额", "交易金额"),
    "credit": ("credit", "paid in", "haben", "收入"),
    "debit": ("debit", "paid out", "soll", "支出"),
    "currency": ("currency", "währung", "ccy", "币种"),
    "counterparty": ("counterparty", "payer", "name", "beguenstigter/zahlungspflichtiger", "对方户名", "对方"),
    "reference": ("reference", "remittance", "description", "verwendungszweck", "purpose", "摘要", "附言"),
    "end_to_end_id": ("end-to-end", "endtoend", "end to end"),
}


def suggest_mapping(headers: list[str]) -> dict[str, str]:
    """A first guess of the mapping from header names (exact words first, then containment)."""
    lowered = [(h, h.strip().lower()) for h in headers]
    taken: set[str] = set()
    result: dict[str, str] = {}
    for key, words in _HINTS.items():
        for exact in (True, False):
            hit = next((h for h, low in lowered if h not in taken and any(
                (low == w) if exact else (w in low) for w in words)), None)
            if hit:
                result[key] = hit
                taken.add(hit)
                break
    if "amount" in result and ("credit" in result or "debit" in result):
        result.pop("credit", None)
        result.pop("debit", None)
    return result


def validate_mapping(mapping, headers: list[str]) -> dict:
    """The mapping checked against the file's header: every error names the mapping key."""
    from l2c.core.errors import FieldError, ValidationFailed

    if not isinstance(mapping, dict):
        raise ValidationFailed.single("mapping", _("The mapping must be a JSON object such as "
                                                   "{\"date\": \"Booking date\", \"amount\": \"Amount\"}."))
    errors = []
    clean: dict = {}
    for key, value in mapping.items():
        if key not in MAPPING_COLUMNS + MAPPING_OPTIONS:
            errors.append(FieldError(f"mapping.{key}", _("Unknown key; use %(keys)s.")
                                     % {"keys": ", ".join(MAPPING_COLUMNS + MAPPING_OPTIONS)}, "unknown_key"))
            continue
        if value in (None, ""):
            continue
        if not isinstance(value, str):
            errors.append(FieldError(f"mapping.{key}", _("Give a text value."), "invalid"))
            continue
        if key in MAPPING_COLUMNS and value not in headers:
            errors.append(FieldError(f"mapping.{key}", _("The file has no column %(col)r (columns: %(cols)s).")
                                     % {"col": value, "cols": ", ".join(headers)}, "unknown_column"))
            continue
        clean[key] = value
    if "date" not in clean and not any(e.field == "mapping.date" for e in errors):
        errors.append(FieldError("mapping.date", _("Choose the column holding the booking date."), "required"))
    has_amount = "amount" in clean
    has_split = "credit" in clean or "debit" in clean
    if not has_amount and not has_split and not any(e.field in ("mapping.amount", "mapping.credit", "mapping.debit")
                                                    for e in errors):
        errors.append(FieldError("mapping.amount", _("Choose the amount column, or the credit and debit columns."),
                                 "required"))
    if has_amount and has_split:
        errors.append(FieldError("mapping.amount", _("Give either one amount column or credit/debit columns, "
                                                     "not both."), "conflict"))
    default = (clean.get("default_currency") or "").upper()
    if default and not is_currency_code(default):
        errors.append(FieldError("mapping.default_currency", _("%(value)r is not an ISO 4217 currency code.")
                                 % {"value": default}, "invalid_currency"))
    if "currency" not in clean and not default:
        errors.append(FieldError("mapping.currency", _("Choose the currency column or give default_currency."),
                                 "required"))
    if clean.get("decimal") not in (None, ".", ","):
        errors.append(FieldError("mapping.decimal", _("Use \".\" or \",\"."), "invalid"))
    if errors:
        raise ValidationFailed(errors)
    if default:
        clean["default_currency"] = default
    return clean


_DATE_FORMATS = ("%Y-%m-%d", "%d.%m.%Y", "%d/%m/%Y", "%Y/%m/%d", "%Y%m%d", "%d.%m.%y")


def _csv_date(value: str, fmt: str | None, where: str) -> dt.date:
    text = value.strip()
    for candidate in ((fmt,) if fmt else _DATE_FORMATS):
        try:
            return dt.datetime.strptime(text, candidate).date()
        except ValueError:
            continue
    raise StatementFileError(
        _("%(where)s: %(value)r is not a date (expected %(formats)s).")
        % {"where": where, "value": value, "formats": fmt or "YYYY-MM-DD, DD.MM.YYYY, DD/MM/YYYY"}, code="bad_date")


def _csv_amount(value: str, decimal: str | None, where: str) -> Decimal | None:
    text = value.strip().replace("\u00a0", "").replace(" ", "").replace("'", "")
    if not text:
        return None
    negative = text.startswith("(") and text.endswith(")")
    text = text.strip("()")
    if decimal is None:
        if "," in text and "." in text:
            decimal = "," if text.rfind(",") > text.rfind(".") else "."
        elif "," in text:
            decimal = "," if len(text) - text.rfind(",") - 1 in (1, 2) else "."
        else:
            decimal = "."
    text = text.replace(".", "").replace(",", ".") if decimal == "," else text.replace(",", "")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite():
        raise StatementFileError(_("%(where)s: %(value)r is not an amount.") % {"where": where, "value": value},
                                 code="bad_amount")
    return -amount if negative else amount


def parse_table(data: bytes, mapping: dict, *, file_name: str = "statement.csv") -> ParsedStatement:
    """A CSV (encoding and delimiter detected like lead imports) or XLSX file read with `mapping`."""
    from l2c.leads.imports.parsing import ImportFileError, open_table

    suffix = ".xlsx" if data[:4] == b"PK\x03\x04" else ".csv"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"statement{suffix}"
        path.write_bytes(data)
        try:
            with open_table(path, encoding=mapping.get("encoding") or None,
                            delimiter=mapping.get("delimiter") or None) as table:
                clean = validate_mapping(mapping, table.headers)
                index = {h: i for i, h in enumerate(table.headers)}
                rows = list(table.rows())
        except ImportFileError as exc:
            raise StatementFileError(exc.message, code=exc.code) from exc
    result = ParsedStatement(file_format="csv", currency=clean.get("default_currency", ""),
                             account_name=_clip(clean.get("account_name", ""), 200),
                             iban=_clip(clean.get("iban", ""), 64))
    fmt, decimal = clean.get("date_format"), clean.get("decimal")

    def cell(cells: list[str], key: str) -> str:
        column = clean.get(key)
        if column is None:
            return ""
        position = index[column]
        return cells[position].strip() if position < len(cells) else ""

    for row_number, cells in rows:
        if not any(c.strip() for c in cells):
            continue
        where = _("Line %(n)d") % {"n": row_number}
        raw_date = cell(cells, "date")
        if not raw_date:
            raise StatementFileError(_("%(where)s, column %(col)r: the date is missing.")
                                     % {"where": where, "col": clean["date"]}, code="missing_date")
        booking_date = _csv_date(raw_date, fmt, f"{where}, {clean['date']!r}")
        value_date = None
        if cell(cells, "value_date"):
            value_date = _csv_date(cell(cells, "value_date"), fmt, f"{where}, {clean['value_date']!r}")
        if "amount" in clean:
            amount = _csv_amount(cell(cells, "amount"), decimal, f"{where}, {clean['amount']!r}")
            missing = clean["amount"]
        else:
            credit = _csv_amount(cell(cells, "credit"), decimal, f"{where}, {clean.get('credit')!r}")
            debit = _csv_amount(cell(cells, "debit"), decimal, f"{where}, {clean.get('debit')!r}")
            amount = None if credit is None and debit is None else (credit or 0) - abs(debit or 0)
            missing = " / ".join(c for c in (clean.get("credit"), clean.get("debit")) if c)
        if amount is None:
            raise StatementFileError(_("%(where)s, column %(col)r: the amount is missing.")
                                     % {"where": where, "col": missing}, code="missing_amount")
        currency = (cell(cells, "currency") or clean.get("default_currency", "")).upper()
        if not is_currency_code(currency):
            raise StatementFileError(_("%(where)s, column %(col)r: %(value)r is not an ISO 4217 currency code.")
                                     % {"where": where, "col": clean.get("currency", "default_currency"),
                                        "value": currency}, code="bad_currency")
        if round_money(amount, currency) != amount:
            raise StatementFileError(_("%(where)s: %(value)s has more decimals than %(currency)s allows.")
                                     % {"where": where, "value": amount, "currency": currency}, code="bad_amount")
        if amount == 0:
            continue
        result.lines.append(ParsedLine(
            booking_date=booking_date, value_date=value_date, amount=amount, currency=currency,
            counterparty_name=_clip(cell(cells, "counterparty"), 200), reference=_clip(cell(cells, "reference"), 500),
            end_to_end_id=_clip(cell(cells, "end_to_end_id"), 100)))
    if not result.lines:
        raise StatementFileError(_("The file has no statement lines below its header."), code="no_lines")
    result.currency = result.currency or result.lines[0].currency
    dates = [line.booking_date for line in result.lines]
    result.period_start, result.period_end = min(dates), max(dates)
    return result


def read_headers(data: bytes, *, encoding: str | None = None, delimiter: str | None = None) -> tuple[list[str], list]:
    """(header, first rows) of a table file, for the mapping step."""
    from l2c.leads.imports.parsing import ImportFileError, open_table

    suffix = ".xlsx" if data[:4] == b"PK\x03\x04" else ".csv"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"statement{suffix}"
        path.write_bytes(data)
        try:
            with open_table(path, encoding=encoding or None, delimiter=delimiter or None) as table:
                sample = []
                for _number, cells in table.rows():
                    sample.append(cells)
                    if len(sample) >= 5:
                        break
                return table.headers, sample
        except ImportFileError as exc:
            raise StatementFileError(exc.message, code=exc.code) from exc


def parse_statement(data: bytes, *, file_name: str, mapping: dict | None) -> ParsedStatement:
    """camt.053 when the file is XML, else a table read with `mapping` (required)."""
    from l2c.core.errors import ValidationFailed

    if not data:
        raise StatementFileError(_("The file is empty."), code="empty_file")
    if len(data) > MAX_FILE_BYTES:
        raise StatementFileError(_("The file is larger than %(n)d MB.") % {"n": MAX_FILE_BYTES // (1024 * 1024)},
                                 code="file_too_large")
    if looks_like_xml(data):
        return parse_camt053(data)
    if not mapping:
        raise ValidationFailed.single("mapping", _("A CSV statement needs a column mapping (date, amount or "
                                                   "credit/debit, currency, counterparty, reference)."), "required")
    return parse_table(data, mapping, file_name=file_name)
