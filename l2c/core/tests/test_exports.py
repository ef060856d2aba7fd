"""The shared exporter: values, CSV (BOM, streaming), XLSX (types, formulas, row cap), audit, queries."""
import csv
import datetime as dt
import io
import zoneinfo
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from l2c.core import exports
from l2c.core.errors import ValidationFailed
from l2c.core.models import AuditEvent

from .export_helpers import body_of

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")


def read_csv(response) -> list[list[str]]:
    body = body_of(response)
    assert body.startswith(b"\xef\xbb\xbf"), "CSV must start with a UTF-8 BOM so Excel reads Chinese"
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def read_xlsx(response):
    from openpyxl import load_workbook

    return load_workbook(io.BytesIO(body_of(response))).active


@pytest.fixture
def people(db):
    User = get_user_model()
    return [
        User.objects.create_user(username="li", first_name="娜", last_name="李", password="x"),
        User.objects.create_user(username="evil", first_name="=HYPERLINK(\"http://x\",\"go\")", password="x"),
        User.objects.create_user(username="plain", first_name="Ann", last_name="Lee", password="x"),
    ]


def user_columns():
    return [
        exports.field(_("Username"), "username"),
        exports.Column(_("Name"), lambda u: str(u)),
        exports.field(_("First name"), "first_name"),
        exports.field(_("Active"), "is_active"),
        exports.field(_("Joined"), "date_joined"),
    ]


def _qs():
    return get_user_model().objects.order_by("username")


# --- values -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["=1+1", "+86 138 0013 8000", "-2", "@SUM(A1)", "\tx", "\rx"])
def test_csv_value_neutralises_formula_triggers(text):
    assert exports.csv_value(text, SHANGHAI) == "'" + text


@pytest.mark.parametrize("text", ["Ann", "李娜", "a=b", "1+1", "", "x-y"])
def test_csv_value_keeps_ordinary_text(text):
    assert exports.csv_value(text, SHANGHAI) == text


def test_csv_values_are_iso_dates_exact_decimals_and_empty_for_none():
    moment = dt.datetime(2026, 11, 26, 1, 30, 15, 123456, tzinfo=dt.UTC)
    assert exports.csv_value(moment, SHANGHAI) == "2026-11-26T09:30:15+08:00"
    assert exports.csv_value(dt.date(2026, 2, 3), SHANGHAI) == "2026-02-03"
    assert exports.csv_value(Decimal("1234.50"), SHANGHAI) == "1234.50"
    assert exports.csv_value(Decimal("123456789012345678.99"), SHANGHAI) == "123456789012345678.99"
    assert exports.csv_value(None, SHANGHAI) == ""
    assert exports.csv_value(7, SHANGHAI) == "7"
    assert exports.csv_value("a\x00b\x07c", SHANGHAI) == "abc"  # control characters no text needs


@pytest.mark.parametrize(("value", "expected"), [(None, "csv"), ("", "csv"), ("csv", "csv"), (" XLSX ", "xlsx")])
def test_parse_format_defaults_to_csv(value, expected):
    assert exports.parse_format(value) == expected


@pytest.mark.parametrize("value", ["pdf", "xls", "csv;xlsx"])
def test_parse_format_names_the_field_for_anything_unknown(value):
    with pytest.raises(ValidationFailed) as err:
        exports.parse_format(value)
    assert err.value.errors[0].field == "format"
    assert "csv or xlsx" in err.value.errors[0].message


# --- CSV --------------------------------------------------------------------------------------------

def test_csv_export_streams_bom_header_and_rows_and_round_trips_chinese(people, admin_user):
    response = exports.export_response(queryset=_qs().exclude(pk=admin_user.pk), columns=user_columns(), fmt="csv",
                                       actor=admin_user, stem="people", object_type="identity.user", filters={})
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="people-{timezone.localdate().isoformat()}.csv"'
    assert response["Cache-Control"] == "no-store"
    rows = read_csv(response)
    assert rows[0] == ["Username", "Name", "First name", "Active", "Joined"]
    by_username = {row[0]: row for row in rows[1:]}
    assert by_username["li"][1] == "李娜"
    assert by_username["evil"][2] == "'=HYPERLINK(\"http://x\",\"go\")"
    assert by_username["plain"][3] == "Yes"
    assert [row[0] for row in rows[1:]] == ["evil", "li", "plain"]  # the queryset's order


def test_csv_keeps_the_request_language_while_streaming(people, admin_user):
    with translation.override("zh-hans"):
        response = exports.export_response(queryset=_qs(), columns=[exports.field(_("Status"), "username")],
                                           fmt="csv", actor=admin_user, stem="people", object_type="identity.user",
                                           filters={})
        expected = str(_("Status"))
    assert expected == "状态"
    with translation.override("en"):  # the response body is produced after the view returned
        rows = read_csv(response)
    assert rows[0] == ["状态"]


def test_export_records_who_exported_what_and_how_many_rows(people, admin_user):
    response = exports.export_response(queryset=_qs().filter(username__in=["li", "plain"]), columns=user_columns(),
                                       fmt="csv", actor=admin_user, stem="people", object_type="identity.user",
                                       filters={"q": "l", "status": None, "ordering": "username"})
    event = AuditEvent.objects.get(object_type="identity.user", object_id="export")
    assert event.action == AuditEvent.Action.ACCESS
    assert event.actor_id == admin_user.pk
    assert event.changes == {"format": "csv", "rows": 2, "filters": {"q": "l", "ordering": "username"}}
    assert len(read_csv(response)) == 3


def test_csv_export_query_count_does_not_grow_with_rows(people, admin_user):
    User = get_user_model()

    def queries_for_export() -> int:
        with CaptureQueriesContext(connection) as ctx:
            response = exports.export_response(queryset=_qs(), columns=user_columns(), fmt="csv", actor=admin_user,
                                               stem="people", object_type="identity.user", filters={})
            read_csv(response)
        return len(ctx.captured_queries)

    queries_for_export()  # the first audit event creates the chain head: not part of the comparison
    few = queries_for_export()
    User.objects.bulk_create([User(username=f"bulk{i}", first_name=f"B{i}") for i in range(2 * exports.CHUNK_SIZE + 5)])
    many = queries_for_export()
    # Rows come through one cursor in chunks of CHUNK_SIZE: 4,008 rows cost the same queries as 4.
    assert many == few


# --- XLSX -------------------------------------------------------------------------------------------

def test_xlsx_export_has_native_types_chinese_and_neutralised_formulas(people, admin_user, settings):
    settings.TIME_ZONE = "Asia/Shanghai"
    joined = dt.datetime(2026, 11, 26, 1, 30, 15, tzinfo=dt.UTC)
    get_user_model().objects.filter(username="li").update(date_joined=joined)
    columns = user_columns() + [
        exports.Column(_("Amount"), lambda u: Decimal("1234.50")),
        exports.Column(_("Huge"), lambda u: Decimal("123456789012345678.99")),
        exports.Column(_("Day"), lambda u: dt.date(2026, 2, 3)),
        exports.Column(_("Error-looking"), lambda u: "#N/A"),
        exports.Column(_("Empty"), lambda u: None),
    ]
    with timezone.override("Asia/Shanghai"):
        response = exports.export_response(queryset=_qs().exclude(pk=admin_user.pk), columns=columns, fmt="xlsx",
                                           actor=admin_user, stem="people", object_type="identity.user",
                                           filters={}, sheet_title="People")
    assert response["Content-Type"] == exports.CONTENT_TYPES["xlsx"]
    assert response["Content-Disposition"].endswith(f'people-{timezone.localdate().isoformat()}.xlsx"')
    sheet = read_xlsx(response)
    assert sheet.title == "People"
    rows = list(sheet.iter_rows())
    header = [c.value for c in rows[0]]
    assert header[:5] == ["Username", "Name", "First name", "Active", "Joined"]
    assert rows[0][0].font.b
    data = {row[0].value: row for row in rows[1:]}
    assert data["li"][1].value == "李娜"
    assert data["li"][4].value == dt.datetime(2026, 11, 26, 9, 30, 15)  # local time, as in the UI
    formula = data["evil"][2]
    assert formula.data_type == "s" and formula.value == "=HYPERLINK(\"http://x\",\"go\")"
    assert formula.quotePrefix
    assert data["plain"][5].value == Decimal("1234.50") and data["plain"][5].data_type == "n"
    assert data["plain"][6].value == "123456789012345678.99"  # more digits than a double holds: text
    assert data["plain"][7].value == dt.datetime(2026, 2, 3)  # openpyxl reads dates back as datetimes
    assert data["plain"][7].number_format == "yyyy-mm-dd"
    assert data["plain"][8].data_type == "s" and data["plain"][8].value == "#N/A"
    assert data["plain"][9].value is None


def test_xlsx_refuses_more_rows_than_a_sheet_holds_and_suggests_csv(people, admin_user, monkeypatch):
    monkeypatch.setattr(exports, "XLSX_MAX_ROWS", 2)
    with pytest.raises(ValidationFailed) as err:
        exports.export_response(queryset=_qs(), columns=user_columns(), fmt="xlsx", actor=admin_user,
                                stem="people", object_type="identity.user", filters={})
    error = err.value.errors[0]
    assert (error.field, error.code) == ("format", "too_many_rows")
    assert "CSV" in error.message and "4" in error.message  # three people and the admin
    assert not AuditEvent.objects.filter(object_id="export").exists()  # nothing exported, nothing recorded
    # CSV has no such limit
    response = exports.export_response(queryset=_qs(), columns=user_columns(), fmt="csv", actor=admin_user,
                                       stem="people", object_type="identity.user", filters={})
    assert len(read_csv(response)) == 5
