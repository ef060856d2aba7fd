"""The lead import engine: formats, encodings, mapping, validation, dedupe, modes, atomicity, audit."""
import csv
import io

import openpyxl
import pytest
from django.urls import reverse

from l2c.core import audit
from l2c.core.models import AuditEvent
from l2c.customers.models import Account, Contact
from l2c.leads.choices import LeadStatus
from l2c.leads.imports import engine, writer
from l2c.leads.imports.engine import ImportFileError, ImportOptions, run_import, sniff, write_error_report
from l2c.leads.imports.mapping import resolve_mapping, split_full_name, suggest_mapping
from l2c.leads.models import Lead, Touch

from .factories import CampaignFactory, LeadFactory

pytestmark = pytest.mark.django_db

HEADER = ["Name", "Email", "Phone", "Company", "Title"]
ROWS = [
    ["Ada Lovelace", "ada@analytical.example", "+44 20 7946 0018", "Analytical Engines Ltd", "CTO"],
    ["王小明", "xiaoming@huawei.example", "138 1234 5678", "华为", "经理"],
    ["Grace Hopper", "grace@navy.example", "(415) 555-2671", "US Navy", "Rear Admiral"],
]


def write_csv(path, rows, *, encoding="utf-8", delimiter=","):
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def imported(path, actor, **options):
    options.setdefault("default_region", "CN")
    return run_import(path, ImportOptions(**options), actor=actor)


# --- formats, encodings, delimiters -------------------------------------------------------------

@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "gbk"])
@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_csv_encodings_and_delimiters_are_detected(tmp_path, admin_user, encoding, delimiter):
    path = write_csv(tmp_path / "leads.csv", [HEADER, *ROWS], encoding=encoding, delimiter=delimiter)

    found = sniff(path)
    result = imported(path, admin_user)

    assert found.encoding == ("gb18030" if encoding in ("gb18030", "gbk") else "utf-8-sig")
    assert found.delimiter == delimiter
    assert found.headers == HEADER  # the BOM is not part of the first header
    assert found.preview[1][0] == "王小明"
    assert (result.created, result.rejected) == (3, 0)
    lead = Lead.objects.get(email="xiaoming@huawei.example")
    assert (lead.last_name, lead.first_name, lead.phone, lead.company) == ("王", "小明", "+8613812345678", "华为")


def test_xlsx_first_sheet_numbers_and_dates_read_as_text(tmp_path, admin_user):
    import datetime as dt

    path = tmp_path / "leads.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["姓名", "手机", "邮箱", "备注", "公司规模"])
    sheet.append(["李雷", 13812345678, "lilei@example.cn", dt.datetime(2025, 3, 1), 50.0])
    sheet.append(["韩梅梅", 8613912345678.0, "han@example.cn", 1.5, None])
    book.create_sheet("Other").append(["ignored"])
    book.save(path)

    found = sniff(path)
    result = imported(path, admin_user)

    assert found.file_format == "xlsx"
    assert found.preview[0][1] == "13812345678"  # not 1.38e+10
    assert found.preview[1][1] == "8613912345678"
    assert found.preview[0][3] == "2025-03-01"
    assert found.suggested_mapping == {"姓名": "full_name", "手机": "phone", "邮箱": "email", "备注": "description",
                                       "公司规模": "company_size"}
    assert result.created == 1 and result.rejected == 1  # "50" is not a company size band
    assert result.errors[0].row == 2 and result.errors[0].column == "公司规模"
    lead = Lead.objects.get()
    assert (lead.last_name, lead.phone, lead.description) == ("韩", "+8613912345678", "1.5")


# --- bad files ------------------------------------------------------------------------------------

def file_error(path, **kwargs) -> ImportFileError:
    with pytest.raises(ImportFileError) as caught:
        sniff(path, **kwargs)
    return caught.value


def test_empty_file_and_blank_lines(tmp_path):
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "blank.csv").write_bytes(b"\r\n  \r\n")
    assert file_error(tmp_path / "empty.csv").code == "empty_file"
    assert file_error(tmp_path / "blank.csv").code == "empty_file"


def test_header_only_has_no_rows(tmp_path, admin_user):
    path = write_csv(tmp_path / "header.csv", [HEADER])
    assert file_error(path).code == "no_rows"
    with pytest.raises(ImportFileError) as caught:
        imported(path, admin_user)
    assert "no data rows" in caught.value.message


def test_wrong_encoding_names_the_byte_and_line(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes(b"Name,City\nA,B\nJos\xe9\xff,X\n")
    error = file_error(path)
    assert error.code == "bad_encoding"
    assert "0xE9" in error.message and "offset 17" in error.message and "line 3" in error.message


def test_utf16_is_refused_with_advice(tmp_path):
    path = tmp_path / "u16.csv"
    path.write_bytes("Name\nAda\n".encode("utf-16"))
    assert file_error(path).code == "bad_encoding"


@pytest.mark.parametrize("content, code", [
    (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "not_a_table"),
    (b"Name,Email\nAda,\x00\x01\x02\x03 binary\n", "not_a_table"),
    (bytes(range(1, 32)) * 50, "not_a_table"),
])
def test_binary_junk_is_not_a_table(tmp_path, content, code):
    path = tmp_path / "junk.csv"
    path.write_bytes(content)
    assert file_error(path).code == code


def test_zip_that_is_not_a_workbook(tmp_path):
    import zipfile

    path = tmp_path / "archive.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    error = file_error(path)
    assert error.code == "not_a_table" and "ZIP" in error.message


def test_big_file_refused_over_the_configured_limit(tmp_path, settings, admin_user):
    settings.L2C_IMPORT_MAX_BYTES = 200
    path = write_csv(tmp_path / "big.csv", [HEADER, *ROWS * 10])
    with pytest.raises(ImportFileError) as caught:
        imported(path, admin_user)
    assert caught.value.code == "file_too_large" and "Split it" in caught.value.message
    assert not Lead.objects.exists()


def test_a_row_with_10000_columns_is_refused_and_nothing_written(tmp_path, admin_user):
    path = write_csv(tmp_path / "wide.csv", [HEADER, ROWS[0], ROWS[1] + ["x"] * 10_000])
    with pytest.raises(ImportFileError) as caught:
        imported(path, admin_user)
    assert caught.value.code == "too_many_columns" and "Row 3" in caught.value.message
    assert not Lead.objects.exists()
    wide_header = write_csv(tmp_path / "wide_header.csv", [[f"c{i}" for i in range(10_000)], ["a"]])
    assert file_error(wide_header).code == "too_many_columns"


def test_a_huge_line_is_refused_without_reading_it_whole(tmp_path, settings):
    settings.L2C_IMPORT_MAX_LINE_CHARS = 1000
    path = tmp_path / "line.csv"
    path.write_text("Name,Notes\nAda," + "x" * 5000 + "\n")
    with pytest.raises(ImportFileError) as caught:
        with engine.open_table(path) as table:
            list(table.rows())
    assert caught.value.code == "line_too_long"


# --- mapping --------------------------------------------------------------------------------------

def test_synonyms_in_english_and_chinese_ignore_case_spaces_and_punctuation():
    headers = ["E-Mail Address", " MOBILE ", "Company_Name", "Job Title", "名", "姓氏", "电子邮件", "Unrelated"]
    assert suggest_mapping(headers) == {
        "E-Mail Address": "email", " MOBILE ": "phone", "Company_Name": "company", "Job Title": "title",
        "名": "first_name", "姓氏": "last_name",
    }
    zh = ["姓名", "邮箱", "电话", "单位", "职务", "来源", "国家", "城市", "行业", "网站", "备注"]
    assert list(suggest_mapping(zh).values()) == ["full_name", "email", "phone", "company", "title", "source",
                                                  "country", "city", "industry", "website", "description"]


def test_explicit_mapping_overrides_and_unknown_targets_are_refused(tmp_path, admin_user):
    path = write_csv(tmp_path / "m.csv", [["Who", "Where", "Email"], ["Lovelace", "Analytical", "ada@x.example"]])
    result = imported(path, admin_user, mapping={"Who": "last_name", "Where": "company"})
    assert result.created == 1
    lead = Lead.objects.get()
    assert (lead.last_name, lead.company, lead.email) == ("Lovelace", "Analytical", "")  # Email not mapped

    for mapping, words in [({"Who": "salary"}, "'salary' is not a lead field"),
                           ({"Nope": "last_name"}, "'Nope' is not in the file"),
                           ({"Who": "last_name", "Where": "last_name"}, "both fill"),
                           ({"Where": "company"}, "no column gives the last name")]:
        with pytest.raises(ImportFileError) as caught:
            imported(path, admin_user, mapping=mapping)
        assert caught.value.code == "bad_mapping" and words in caught.value.message


@pytest.mark.parametrize("full, expected", [
    ("王小明", ("王", "小明")), ("欧阳娜娜", ("欧阳", "娜娜")), ("司马光", ("司马", "光")), ("李", ("李", "")),
    ("王 小明", ("王", "小明")), ("Ada Lovelace", ("Lovelace", "Ada")), ("Lovelace, Ada", ("Lovelace", "Ada")),
    ("Ludwig van Beethoven", ("van Beethoven", "Ludwig")), ("Cher", ("Cher", "")),
    ("Mary Ann  Evans", ("Evans", "Mary Ann")),
])
def test_full_names_are_split(full, expected):
    assert split_full_name(full) == expected


def test_resolve_mapping_ignores_unmapped_columns():
    assert resolve_mapping(["Name", "x", "Email"], None) == [(0, "Name", "full_name"), (2, "Email", "email")]


# --- row validation -------------------------------------------------------------------------------

def test_each_row_rule_reports_row_column_value_and_reason(tmp_path, admin_user):
    rows = [
        ["Last", "Email", "Phone", "Source", "Country", "Title"],
        ["", "a@b.example", "", "", "", ""],  # row 2: no last name
        ["Bad mail", "not an email", "", "", "", ""],
        ["Bad phone", "", "12", "", "", ""],
        ["Bad source", "", "", "carrier pigeon", "", ""],
        ["Bad country", "", "", "", "Atlantis", ""],
        ["Long title", "", "", "", "", "x" * 151],
        ["Good", "OK@Example.COM", "+1 415 555 2671", "展会", "美国", "Boss"],
        ["Good2", "", "010 6552 9988", "Referral", "chn", ""],
    ]
    path = write_csv(tmp_path / "rules.csv", rows)

    result = imported(path, admin_user)

    by_row = {e.row: e for e in result.errors}
    assert sorted(by_row) == [2, 3, 4, 5, 6, 7]
    assert (by_row[2].column, by_row[2].reason) == ("Last", "A last name (or a full name) is required.")
    assert (by_row[3].column, by_row[3].value) == ("Email", "not an email")
    assert by_row[4].column == "Phone" and "phone number" in by_row[4].reason
    assert by_row[5].column == "Source" and "web_form" in by_row[5].reason
    assert by_row[6].column == "Country" and "Atlantis" in by_row[6].reason
    assert by_row[7].column == "Title" and "150" in by_row[7].reason
    assert (result.created, result.rejected, result.rows_total) == (2, 6, 8)
    good = Lead.objects.get(last_name="Good")
    assert (good.email, good.phone, good.source, good.country) == ("OK@example.com", "+14155552671", "event", "US")
    good2 = Lead.objects.get(last_name="Good2")
    assert (good2.phone, good2.source, good2.country) == ("+861065529988", "referral", "CN")


def test_fast_email_check_agrees_with_django_on_a_corpus():
    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from l2c.leads.imports.validation import FAST_EMAIL, is_valid_email

    def django_ok(value):
        try:
            validate_email(value)
            return True
        except ValidationError:
            return False

    corpus = ["a@b.co", "a.b@c.de", "a..b@c.de", ".a@b.cd", "a.@b.cd", "a@b", "a@-b.cd", "a@b-.cd", "a@b.c",
              "a@b.c1", "a@b.xn--p1ai", "a@localhost", "a@[127.0.0.1]", '"a b"@c.de', "a@b..cd", "a b@c.de",
              "a@b.cd\n", "ä@b.cd", "a@bü.cd", "a+tag@gmail.com", "o'brien@x.ie", "a@" + "b" * 64 + ".cd",
              "a@" + "b" * 63 + ".cd", "x" * 310 + "@b.cd", "a@b.-cd", "a@b.cd-", "a@1.2.3.4", "a@b.c-d",
              "a@b_c.de", "A@B.CD", "a@b.cd.", "\u212a@b.cd"]
    for value in corpus:
        assert is_valid_email(value) == django_ok(value), value
        if FAST_EMAIL.fullmatch(value) and value.isascii():
            assert django_ok(value), value

    alphabet = st.sampled_from(list("ab.-_+@'\"[]1:") + ["xn--", "ü", " "])

    @settings(max_examples=3000, deadline=None)
    @given(st.lists(alphabet, min_size=1, max_size=20).map("".join))
    def agree(value):
        assert is_valid_email(value) == django_ok(value)

    agree()


def test_fast_phone_path_agrees_with_libphonenumber():
    import phonenumbers

    from l2c.core.validation import PhoneInvalid, normalise_phone
    from l2c.leads.imports.validation import fast_e164

    checked = 0
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            for fmt in (phonenumbers.PhoneNumberFormat.E164, phonenumbers.PhoneNumberFormat.NATIONAL,
                        phonenumbers.PhoneNumberFormat.INTERNATIONAL):
                text = phonenumbers.format_number(example, fmt)
                for variant in (text, text[:-1] + str((int(text[-1]) + 3) % 10), text + "1"):
                    for default in (region, "US", "CN"):
                        fast = fast_e164(variant, default)
                        if fast is None:
                            continue
                        checked += 1
                        try:
                            slow = normalise_phone(variant, default)
                        except PhoneInvalid:
                            slow = None
                        assert fast == slow, (variant, default)
    assert checked > 1000


def test_html_and_formulas_are_stored_verbatim_and_escaped_on_the_lead_page(tmp_path, admin_user, client):
    rows = [["Name", "Company", "Notes"],
            ["<script>alert(1)</script> Smith", "<b>Evil</b> Corp", "=cmd|' /C calc'!A0"]]
    path = write_csv(tmp_path / "html.csv", rows)

    imported(path, admin_user)

    lead = Lead.objects.get()
    assert lead.last_name == "Smith" and lead.first_name == "<script>alert(1)</script>"
    assert lead.company == "<b>Evil</b> Corp" and lead.description == "=cmd|' /C calc'!A0"
    client.force_login(admin_user)
    page = client.get(reverse("leads:lead-detail", args=[lead.pk])).content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page
    assert "&lt;b&gt;Evil&lt;/b&gt; Corp" in page


def test_error_report_is_utf8_with_bom_and_neutralises_formulas(tmp_path, admin_user):
    rows = [["Name", "Email"], ["=cmd|' /C calc'!A0", "=HYPERLINK(\"http://evil\")"], ["王伟", "@SUM(1)"],
            ["", "+1 bad"], ["-2", "-x"]]
    path = write_csv(tmp_path / "formula.csv", rows)
    result = imported(path, admin_user)

    out = io.BytesIO()
    write_error_report(result.errors, out)
    data = out.getvalue()
    assert data.startswith("\ufeff".encode())
    lines = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert lines[0] == ["Row", "Column", "Value", "Reason"]
    values = [line[2] for line in lines[1:]]
    assert "'=HYPERLINK(\"http://evil\")" in values and "'@SUM(1)" in values and "'-x" in values
    assert all(not v.startswith(("=", "+", "-", "@")) for line in lines[1:] for v in line)
    text = io.StringIO()
    write_error_report(result.errors, text)
    assert text.getvalue().startswith("\ufeffRow,Column,Value,Reason")


# --- dedupe ---------------------------------------------------------------------------------------

def test_duplicates_within_the_file_by_email_and_phone(tmp_path, admin_user):
    rows = [HEADER, ROWS[0], ["Ada L.", "ADA@analytical.example", "", "", ""],
            ["Ada King", "other@x.example", "+442079460018", "", ""], ROWS[1]]
    path = write_csv(tmp_path / "dups.csv", rows)

    result = imported(path, admin_user)

    assert (result.created, result.skipped) == (2, 2)
    assert [d.row for d in result.duplicates] == [3, 4]
    assert "same e-mail" in result.duplicates[0].reason and "same phone" in result.duplicates[1].reason
    ada = Lead.objects.get(email="ada@analytical.example")
    assert sorted(Touch.objects.filter(lead=ada).values_list("data__row", flat=True)) == [2, 3, 4]


def test_duplicates_against_existing_leads_and_contacts(tmp_path, admin_user):
    lead = LeadFactory(email="Ada.Lovelace@gmail.com", phone="+1 415 555 0100")
    account = Account.objects.create(name="Navy")
    contact = Contact.objects.create(account=account, last_name="Hopper", mobile="+14155552671")
    rows = [HEADER, ["Ada", "adalovelace+crm@googlemail.com", "", "", ""],
            ["Grace", "", "(415) 555-2671", "", ""], ["New Person", "", "+14155550100", "", ""]]
    path = write_csv(tmp_path / "existing.csv", rows)

    result = imported(path, admin_user, default_region="US")

    assert (result.created, result.skipped) == (0, 3)
    reasons = [d.reason for d in result.duplicates]
    assert f"lead #{lead.pk}" in reasons[0] and f"contact #{contact.pk}" in reasons[1]
    assert f"lead #{lead.pk} (same phone)" in reasons[2]
    assert Touch.objects.filter(lead=lead).count() == 2


def test_fuzzy_company_and_name_match(tmp_path, admin_user):
    existing = LeadFactory(first_name="Jonathan", last_name="Smith", company="Acme Corporation", email="", phone="")
    LeadFactory(first_name="伟", last_name="王", company="华腾信息技术有限公司", email="", phone="")
    rows = [["First", "Last", "Company"], ["Jonathon", "Smith", "ACME, Inc."], ["Smith", "Jonathan", "Acme"],
            ["Jane", "Smith", "Acme"], ["Jonathan", "Smith", "Globex"], ["芳", "王", "华腾信息技术有限公司"],
            ["伟", "王", "华腾信息技术"]]
    path = write_csv(tmp_path / "fuzzy.csv", rows)

    result = imported(path, admin_user)

    assert [d.row for d in result.duplicates] == [2, 3, 7]
    assert all(f"lead #{existing.pk} (similar name and company)" in d.reason for d in result.duplicates[:2])
    assert result.created == 3  # Jane Smith, Jonathan Smith at Globex, and 王芳 (not 王伟) are new


def test_on_duplicate_update_overwrites_mapped_fields_and_audits(tmp_path, admin_user):
    lead = LeadFactory(email="ada@analytical.example", title="Analyst", company="Old Co", phone="")
    converted = LeadFactory(email="grace@navy.example", status=LeadStatus.CONVERTED)
    path = write_csv(tmp_path / "upd.csv", [HEADER, ROWS[0], ROWS[2], ["Grace Again", "", "", "", "Captain"]])

    result = imported(path, admin_user, on_duplicate="update", default_region="US")

    lead.refresh_from_db()
    assert (lead.title, lead.company, lead.phone) == ("CTO", "Analytical Engines Ltd", "+442079460018")
    assert (lead.first_name, lead.last_name) == ("Ada", "Lovelace")
    assert (result.updated, result.skipped, result.created) == (1, 1, 1)
    assert "converted" in result.duplicates[0].reason
    converted.refresh_from_db()
    assert converted.title != "Rear Admiral"
    event = audit.history_for(lead).first()
    assert event.action == "update" and event.changes["title"] == ["Analyst", "CTO"]


def test_on_duplicate_create_creates_anyway(tmp_path, admin_user):
    LeadFactory(email="ada@analytical.example")
    path = write_csv(tmp_path / "c.csv", [HEADER, ROWS[0], ROWS[0]])
    result = imported(path, admin_user, on_duplicate="create")
    assert (result.created, result.skipped) == (2, 0)
    assert Lead.objects.filter(email="ada@analytical.example").count() == 3


# --- modes, atomicity, audit ------------------------------------------------------------------------

def test_all_or_nothing_writes_nothing_when_a_row_is_rejected(tmp_path, admin_user):
    path = write_csv(tmp_path / "aon.csv", [HEADER, *ROWS, ["", "bad", "", "", ""]])
    result = imported(path, admin_user, mode="all_or_nothing")
    assert result.rolled_back and result.rejected == 1 and result.created == 0
    assert not Lead.objects.exists() and not Touch.objects.exists() and not AuditEvent.objects.exists()

    result = imported(path, admin_user, mode="valid_rows")
    assert (result.created, result.rejected) == (3, 1) and Lead.objects.count() == 3


def test_dry_run_counts_the_same_and_writes_nothing(tmp_path, admin_user):
    LeadFactory(email="ada@analytical.example")
    rows = [HEADER, *ROWS, ROWS[1], ["", "", "", "", ""], ["No mail", "bad", "", "", ""]]
    path = write_csv(tmp_path / "dry.csv", rows)
    before = (Lead.objects.count(), Touch.objects.count(), AuditEvent.objects.count())

    dry = imported(path, admin_user, dry_run=True)

    assert (Lead.objects.count(), Touch.objects.count(), AuditEvent.objects.count()) == before
    real = imported(path, admin_user)
    assert dry.dry_run and not real.dry_run
    assert (dry.rows_total, dry.created, dry.skipped, dry.rejected) == (5, 2, 2, 1)
    assert (real.rows_total, real.created, real.skipped, real.rejected) == (5, 2, 2, 1)


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(engine, "CHUNK_ROWS", 2)


def many_rows(n):
    return [HEADER] + [[f"Person {i}", f"p{i}@example.com", "", f"Company {i}", ""] for i in range(n)]


def test_cancel_between_chunks_writes_nothing(tmp_path, admin_user, small_chunks):
    path = write_csv(tmp_path / "cancel.csv", many_rows(7))
    seen = []

    result = run_import(path, ImportOptions(), actor=admin_user, progress=lambda done, total: seen.append(done),
                        should_cancel=lambda: len(seen) >= 2)

    assert result.cancelled and result.rolled_back and result.created == 0
    assert seen == [2, 4]
    assert not Lead.objects.exists() and not Touch.objects.exists()


def test_failure_midway_leaves_nothing(tmp_path, admin_user, small_chunks, monkeypatch):
    path = write_csv(tmp_path / "fail.csv", many_rows(7))
    original = writer.LeadWriter.insert_leads
    calls = []

    def failing(self, rows):
        calls.append(len(rows))
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return original(self, rows)

    monkeypatch.setattr(writer.LeadWriter, "insert_leads", failing)
    with pytest.raises(RuntimeError):
        run_import(path, ImportOptions(), actor=admin_user)
    assert calls == [2, 2]
    assert not Lead.objects.exists() and not Touch.objects.exists() and not AuditEvent.objects.exists()


def test_chunks_ids_touches_audit_and_the_sequence(tmp_path, admin_user, small_chunks):
    from l2c.leads.models import ImportJob

    campaign = CampaignFactory()
    job = ImportJob.objects.create(created_by=admin_user, original_name="fair.csv", file="imports/fair.csv")
    LeadFactory()  # an existing lead before the import
    path = write_csv(tmp_path / "seq.csv", many_rows(5))

    result = run_import(path, ImportOptions(defaults={"owner": admin_user.pk, "campaign": campaign.pk}),
                        actor=admin_user, job=job)

    assert result.created == 5 and result.touches == 5
    leads = Lead.objects.filter(source="import")
    assert leads.count() == 5 and set(leads.values_list("owner", "campaign", "status").distinct()) == {
        (admin_user.pk, campaign.pk, "new")}
    assert Touch.objects.filter(import_job=job, kind="import").count() == 5
    events = AuditEvent.objects.filter(object_id__startswith="import:")
    assert events.count() == 3 and sum(e.changes["created"] for e in events) == 5
    assert all(e.changes["import_job"] == job.pk for e in events)
    assert audit.verify_chain()[1] is None
    after = LeadFactory()  # the id sequence continues after the imported ids
    assert after.pk > max(leads.values_list("pk", flat=True))


def test_defaults_are_checked(tmp_path, rep, rep2):
    path = write_csv(tmp_path / "d.csv", [HEADER, ROWS[0]])
    for defaults, fieldname in [({"owner": rep2.pk}, "owner"), ({"campaign": 999999}, "campaign"),
                                ({"source": "telepathy"}, "source"), ({"status": "converted"}, "status")]:
        with pytest.raises(ImportFileError) as caught:
            run_import(path, ImportOptions(defaults=defaults), actor=rep)
        assert caught.value.field == fieldname
    result = run_import(path, ImportOptions(), actor=rep)  # a rep's import is theirs
    assert result.created == 1 and Lead.objects.get().owner == rep


def test_finance_cannot_import(tmp_path, finance):
    from l2c.core.errors import PermissionDenied

    path = write_csv(tmp_path / "f.csv", [HEADER, ROWS[0]])
    with pytest.raises(PermissionDenied):
        run_import(path, ImportOptions(), actor=finance)


# --- the suppression list ------------------------------------------------------------------------

def test_suppressed_addresses_are_imported_but_named_and_stay_suppressed(tmp_path, admin_user):
    from l2c.nurture.models import Suppression
    from l2c.nurture.selectors import can_email

    Suppression.objects.create(email="grace@navy.example", reason="unsubscribed")
    rows = [HEADER, *[list(row) for row in ROWS]]
    rows[3][1] = "  Grace@Navy.example "  # another case and spaces: still the same address
    path = write_csv(tmp_path / "leads.csv", rows)

    result = imported(path, admin_user)

    assert result.created == 3
    assert [(e.row, e.column, e.value) for e in result.suppressed] == [(4, "Email", "Grace@navy.example")]
    assert "suppression list (unsubscribed)" in result.suppressed[0].reason
    grace = Lead.objects.get(email__iexact="grace@navy.example")
    assert Suppression.objects.filter(email="grace@navy.example").exists()  # an import never takes it off
    assert can_email(grace)[0] is False


def test_updating_a_suppressed_lead_is_named_too(tmp_path, admin_user):
    from l2c.nurture.models import Suppression

    LeadFactory(email="ada@analytical.example", last_name="Lovelace", first_name="Ada")
    Suppression.objects.create(email="ada@analytical.example", reason="bounced")
    path = write_csv(tmp_path / "leads.csv", [HEADER, *ROWS])

    result = imported(path, admin_user, on_duplicate="update")

    assert (result.created, result.updated) == (2, 1)
    assert [e.row for e in result.suppressed] == [2]
