"""Import jobs: upload, mapping, start, the worker's run with progress and cancel, the result."""
from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from l2c.core.errors import InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from l2c.core.models import AuditEvent
from l2c.leads.choices import ImportMode, ImportStatus
from l2c.leads.imports import jobstate, selectors, services
from l2c.leads.models import ImportJob, Lead

CSV_TEXT = (
    "Name,Email,Phone,Company,Title\n"
    "Alice Smith,alice@example.com,+1 415 555 0100,Acme,CEO\n"
    "Bob Jones,not-an-email,,Beta Ltd,CTO\n"
    "王小明,xiaoming@example.cn,+86 138 0013 8000,华为,工程师\n"
    "Carol White,carol@example.com,,=cmd|' /C calc'!A0,Buyer\n"
)


def upload(text: str = CSV_TEXT, name: str = "leads.csv", encoding: str = "utf-8") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(encoding), content_type="text/csv")


def _word(i: int, salt: str) -> str:
    digest = hashlib.sha256(f"{salt}{i}".encode()).hexdigest()
    return "".join(chr(ord("a") + int(ch, 16)) for ch in digest[:9]).capitalize()


def big_csv(rows: int) -> str:
    """`rows` distinct people (random-looking names and companies, so no two are fuzzy duplicates)."""
    lines = ["Name,Email,Company"]
    lines += [f"{_word(i, 'f')} {_word(i, 'l')},p{i}@{_word(i, 'd').lower()}.example,{_word(i, 'c')} GmbH"
              for i in range(rows)]
    return "\n".join(lines) + "\n"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def stored_files(media) -> list[Path]:
    root = Path(media) / "imports"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


@pytest.fixture
def run_on_commit(django_capture_on_commit_callbacks):
    """Run the on-commit callbacks (the Celery task, eager) of what the block does."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


# --- upload ---------------------------------------------------------------------------------------

def test_create_stores_the_file_and_reads_its_columns(rep, media):
    # when
    job = services.import_job_create(actor=rep, uploaded_file=upload(), original_name="../../etc/leads.csv")
    # then
    job.refresh_from_db()
    assert job.status == ImportStatus.PENDING and job.queued_at is None
    assert job.created_by == rep
    assert job.original_name == "leads.csv"
    assert job.file_format == "csv" and job.delimiter == ","
    assert job.encoding.startswith("utf")
    assert job.headers == ["Name", "Email", "Phone", "Company", "Title"]
    assert job.mapping == {"Name": "full_name", "Email": "email", "Phone": "phone", "Company": "company",
                           "Title": "title"}
    assert job.preview[0][:2] == ["Alice Smith", "alice@example.com"]
    assert len(job.preview) == 4
    assert job.size == len(CSV_TEXT.encode())
    path = Path(job.file.path)
    assert path.is_file() and str(path).startswith(str(media))
    assert path.read_bytes() == CSV_TEXT.encode()
    assert AuditEvent.objects.filter(object_type="leads.importjob", object_id=str(job.pk), action="create").exists()


def test_create_reads_gb18030_and_semicolons(rep):
    text = "姓名;邮箱;电话;公司\n张伟;zhang@example.cn;13800138000;腾讯\n"
    job = services.import_job_create(actor=rep, uploaded_file=upload(text, encoding="gb18030"))
    assert job.delimiter == ";"
    assert job.encoding == "gb18030"
    assert job.mapping == {"姓名": "full_name", "邮箱": "email", "电话": "phone", "公司": "company"}
    assert job.preview == [["张伟", "zhang@example.cn", "13800138000", "腾讯"]]


@pytest.mark.parametrize("content", [
    b"",  # empty
    b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 20,  # an image
    b"\x00\x01\x02\xff\xfe" * 500,  # binary junk
    b"Name,Email\n",  # a header and no rows
])
def test_unreadable_file_is_a_field_error_and_leaves_nothing(rep, media, content):
    with pytest.raises(ValidationFailed) as exc:
        services.import_job_create(actor=rep, uploaded_file=SimpleUploadedFile("junk.csv", content))
    assert [e.field for e in exc.value.errors] == ["file"]
    assert exc.value.errors[0].message
    assert not ImportJob.objects.exists()
    assert stored_files(media) == []


def test_size_limit(rep, media, settings):
    settings.L2C_IMPORT_MAX_BYTES = 50
    with pytest.raises(ValidationFailed) as exc:
        services.import_job_create(actor=rep, uploaded_file=upload())
    error = exc.value.errors[0]
    assert (error.field, error.code) == ("file", "file_too_large")
    assert "MB" in error.message
    assert not ImportJob.objects.exists() and stored_files(media) == []


def test_size_limit_holds_for_a_stream_of_unknown_size(rep, media, settings):
    settings.L2C_IMPORT_MAX_BYTES = 50
    stream = io.BytesIO(CSV_TEXT.encode())  # no .size: counted while it is written
    with pytest.raises(ValidationFailed) as exc:
        services.import_job_create(actor=rep, uploaded_file=stream, original_name="leads.csv")
    assert exc.value.errors[0].code == "file_too_large"
    assert not ImportJob.objects.exists() and stored_files(media) == []


def test_finance_cannot_import(finance, media):
    with pytest.raises(PermissionDenied):
        services.import_job_create(actor=finance, uploaded_file=upload())
    assert stored_files(media) == []


def test_options_are_validated(rep, outsider):
    with pytest.raises(ValidationFailed) as exc:
        services.import_job_create(actor=rep, uploaded_file=upload(), on_duplicate="merge", mode="some",
                                   default_region="XX", default_owner=outsider, default_source="nope",
                                   default_campaign=999999, encoding="klingon", delimiter="x")
    fields = {e.field for e in exc.value.errors}
    assert fields == {"on_duplicate", "mode", "default_region", "default_owner", "default_source",
                      "default_campaign", "encoding", "delimiter"}
    assert not ImportJob.objects.exists()


# --- mapping --------------------------------------------------------------------------------------

def test_update_mapping_checks_columns_and_fields(rep):
    job = services.import_job_create(actor=rep, uploaded_file=upload())
    with pytest.raises(ValidationFailed) as exc:
        services.import_job_update_mapping(job=job, actor=rep, mapping={
            "Nope": "email", "Title": "password", "Company": "email", "Email": "email"})
    by_field = {e.field: e.code for e in exc.value.errors}
    assert by_field["mapping.Nope"] == "unknown_column"
    assert by_field["mapping.Title"] == "unknown_field"
    # Company and Email both fill e-mail: the second one is refused
    assert "duplicate_target" in by_field.values()
    job.refresh_from_db()
    assert job.mapping["Title"] == "title"  # unchanged

    job = services.import_job_update_mapping(job=job, actor=rep, mapping={"Title": "", "Company": "ignore"},
                                             on_duplicate="update", default_region="cn")
    job.refresh_from_db()
    assert job.mapping == {"Name": "full_name", "Email": "email", "Phone": "phone", "Company": "", "Title": ""}
    assert job.on_duplicate == "update" and job.default_region == "CN"


def test_start_needs_a_name_column(rep):
    job = services.import_job_create(actor=rep, uploaded_file=upload())
    services.import_job_update_mapping(job=job, actor=rep, mapping={"Name": ""})
    with pytest.raises(ValidationFailed) as exc:
        services.import_job_start(job=job, actor=rep)
    assert exc.value.errors[0].field == "mapping"
    job.refresh_from_db()
    assert job.queued_at is None


def test_resniff_with_another_encoding(rep):
    text = "姓名,公司\n张伟,腾讯\n"
    job = services.import_job_create(actor=rep, uploaded_file=upload(text, encoding="gb18030"))
    job = services.import_job_resniff(job=job, actor=rep, encoding="latin-1", delimiter="")
    assert job.encoding == "iso8859-1"
    assert job.headers != ["姓名", "公司"]  # read as Latin-1: mojibake, as asked
    job = services.import_job_resniff(job=job, actor=rep, encoding="gb18030", delimiter=";")
    assert job.delimiter == ";" and job.headers == ["姓名,公司"]
    job = services.import_job_resniff(job=job, actor=rep, encoding="", delimiter="")
    assert job.headers == ["姓名", "公司"] and job.mapping == {"姓名": "full_name", "公司": "company"}


# --- run ------------------------------------------------------------------------------------------

def test_job_counts_rows_on_the_suppression_list(rep, run_on_commit, api_for):
    from l2c.nurture.models import Suppression

    Suppression.objects.create(email="carol@example.com", reason="complained")
    job = services.import_job_create(actor=rep, uploaded_file=upload())
    with run_on_commit():
        services.import_job_start(job=job, actor=rep)
    job.refresh_from_db()
    assert (job.created_count, job.suppressed_count) == (3, 1)
    assert api_for(rep).get(f"/api/v1/imports/{job.pk}").json()["suppressed_count"] == 1


def test_start_runs_the_import_and_stores_the_result(rep, run_on_commit):
    job = services.import_job_create(actor=rep, uploaded_file=upload())
    # when
    with run_on_commit():
        services.import_job_start(job=job, actor=rep)
    # then
    job.refresh_from_db()
    assert job.status == ImportStatus.SUCCEEDED, job.error_message
    assert job.queued_at and job.started_at and job.finished_at
    assert (job.rows_total, job.rows_processed) == (4, 4)
    assert (job.created_count, job.updated_count, job.skipped_count, job.rejected_count) == (3, 0, 0, 1)
    leads = Lead.objects.filter(owner=rep)
    assert sorted(leads.values_list("email", flat=True)) == ["alice@example.com", "carol@example.com",
                                                             "xiaoming@example.cn"]
    wang = Lead.objects.get(email="xiaoming@example.cn")
    assert (wang.last_name, wang.first_name, wang.phone) == ("王", "小明", "+8613800138000")
    # the error report names the row, column, value and reason
    rows = selectors.import_job_errors(job=job)
    assert len(rows) == 1
    assert rows[0]["row"] == "3" and rows[0]["column"] == "Email" and rows[0]["value"] == "not-an-email"
    assert rows[0]["reason"]
    assert not jobstate.state_dir(job.pk).exists()  # live state is cleaned up


def test_formula_in_the_error_report_is_neutralised(rep, run_on_commit):
    text = "Name,Email\n=HYPERLINK(\"http://evil\"),=cmd|' /C calc'!A0\n"
    job = services.import_job_create(actor=rep, uploaded_file=upload(text))
    with run_on_commit():
        services.import_job_start(job=job, actor=rep)
    job.refresh_from_db()
    assert job.rejected_count == 1
    with selectors.import_job_error_report(job=job) as fh:
        content = fh.read().decode("utf-8-sig")
    cells = [cell for row in csv.reader(io.StringIO(content)) for cell in row]
    assert any("cmd|" in c for c in cells)
    assert not any(c.startswith(("=", "+", "-", "@")) for c in cells)


def test_dry_run_writes_nothing(rep, run_on_commit):
    job = services.import_job_create(actor=rep, uploaded_file=upload(), dry_run=True)
    with run_on_commit():
        services.import_job_start(job=job, actor=rep)
    job.refresh_from_db()
    assert job.status == ImportStatus.SUCCEEDED
    assert job.created_count == 3 and job.rejected_count == 1
    assert not Lead.objects.exists()


def test_all_or_nothing_with_a_bad_row_fails_and_writes_nothing(rep, run_on_commit):
    job = services.import_job_create(actor=rep, uploaded_file=upload(), mode=ImportMode.ALL_OR_NOTHING)
    with run_on_commit():
        services.import_job_start(job=job, actor=rep)
    job.refresh_from_db()
    assert job.status == ImportStatus.FAILED
    assert "all or nothing" in job.error_message
    assert job.rejected_count == 1 and job.error_report
    assert not Lead.objects.exists()


def test_start_with_defaults(manager, rep, run_on_commit):
    from l2c.leads.tests.factories import CampaignFactory

    campaign = CampaignFactory()
    job = services.import_job_create(actor=manager, uploaded_file=upload(), default_owner=rep,
                                     default_campaign=campaign.pk, default_source="event")
    assert job.defaults == {"owner": rep.pk, "campaign": campaign.pk, "source": "event"}
    with run_on_commit():
        services.import_job_start(job=job, actor=manager)
    job.refresh_from_db()
    assert job.status == ImportStatus.SUCCEEDED, job.error_message
    lead = Lead.objects.get(email="alice@example.com")
    assert (lead.owner, lead.campaign, lead.source) == (rep, campaign, "event")


def test_the_task_is_safe_to_run_twice(rep, run_on_commit):
    from l2c.leads.imports.tasks import run_import_job

    job = services.import_job_create(actor=rep, uploaded_file=upload())
    assert run_import_job(job.pk) == "ignored"  # not started: nothing happens
    with run_on_commit():
        services.import_job_start(job=job, actor=rep)
    assert run_import_job(job.pk) == "ignored"
    job.refresh_from_db()
    assert job.status == ImportStatus.SUCCEEDED
    assert Lead.objects.count() == 3
    with pytest.raises(InvalidTransition):
        services.import_job_start(job=job, actor=rep)
    with pytest.raises(InvalidTransition):
        services.import_job_update_mapping(job=job, actor=rep, mapping={"Title": ""})


def test_progress_is_visible_while_running(rep, run_on_commit, monkeypatch):
    # given: progress written on every call (the engine reports after every chunk of 500 rows), and a
    # reader looking at the job as the UI/API would
    from l2c.leads.imports import engine

    monkeypatch.setattr(engine, "CHUNK_ROWS", 500)
    monkeypatch.setattr(services, "PROGRESS_INTERVAL", 0)
    job = services.import_job_create(actor=rep, uploaded_file=upload(big_csv(3000)))
    seen = []
    real_write = jobstate.write_progress

    def write_and_look(job_id, processed, total):
        real_write(job_id, processed, total)
        live = selectors.import_job_get(user=rep, pk=job_id)
        seen.append((live.status, live.rows_processed, live.rows_total, selectors.progress_percent(live)))

    monkeypatch.setattr(jobstate, "write_progress", write_and_look)
    # when
    with run_on_commit():
        services.import_job_start(job=job, actor=rep)
    # then: the selector saw the job running with a growing count
    assert len(seen) >= 3
    assert all(status == ImportStatus.RUNNING for status, *_ in seen)
    counts = [processed for _s, processed, _t, _p in seen]
    assert counts == sorted(counts) and counts[-1] > counts[0]
    assert any(0 < processed < 3000 for processed in counts)
    assert all(total >= 3000 for _s, _p, total, _pc in seen[1:])
    job.refresh_from_db()
    assert job.status == ImportStatus.SUCCEEDED and job.rows_processed == job.rows_total == 3000
    assert job.created_count == 3000
    assert selectors.progress_percent(job) == 100


def test_cancel_pending(rep, run_on_commit):
    job = services.import_job_create(actor=rep, uploaded_file=upload())
    job = services.import_job_cancel(job=job, actor=rep)
    assert job.status == ImportStatus.CANCELLED and job.finished_at
    with pytest.raises(InvalidTransition):
        services.import_job_start(job=job, actor=rep)
    with pytest.raises(InvalidTransition):
        services.import_job_cancel(job=job, actor=rep)
    assert not Lead.objects.exists()


def test_cancel_a_queued_job_before_the_worker_runs_it(rep, django_capture_on_commit_callbacks):
    from l2c.leads.imports.tasks import run_import_job

    job = services.import_job_create(actor=rep, uploaded_file=upload())
    with django_capture_on_commit_callbacks(execute=False):  # queued; the worker has not picked it up
        services.import_job_start(job=job, actor=rep)
    services.import_job_cancel(job=job, actor=rep)
    assert run_import_job(job.pk) == "ignored"
    job.refresh_from_db()
    assert job.status == ImportStatus.CANCELLED
    assert not Lead.objects.exists()


def test_cancel_while_running_stops_and_writes_nothing(rep, run_on_commit, monkeypatch):
    # given: someone presses Cancel once the worker reports its first progress (after 500 of 3000 rows)
    from l2c.leads.imports import engine

    monkeypatch.setattr(engine, "CHUNK_ROWS", 500)
    monkeypatch.setattr(services, "PROGRESS_INTERVAL", 0)
    monkeypatch.setattr(services, "CANCEL_CHECK_INTERVAL", 0)
    job = services.import_job_create(actor=rep, uploaded_file=upload(big_csv(3000)))
    real_write = jobstate.write_progress
    cancels = []

    def write_then_cancel(job_id, processed, total):
        real_write(job_id, processed, total)
        if processed and not cancels:
            running = selectors.import_job_get(user=rep, pk=job_id)
            assert running.status == ImportStatus.RUNNING
            cancels.append(services.import_job_cancel(job=running, actor=rep))

    monkeypatch.setattr(jobstate, "write_progress", write_then_cancel)
    # when
    with run_on_commit():
        services.import_job_start(job=job, actor=rep)
    # then
    assert cancels and cancels[0].cancel_requested and cancels[0].status == ImportStatus.RUNNING
    job.refresh_from_db()
    assert job.rows_processed < 3000  # stopped early, not at the end
    assert job.status == ImportStatus.CANCELLED
    assert job.cancel_requested and job.finished_at
    assert job.created_count == 0
    assert not Lead.objects.exists()


def test_cancel_marker_alone_stops_the_run(rep, run_on_commit, monkeypatch):
    """The path SQLite relies on: the worker sees the marker file even when the database flag cannot be
    written during the import."""
    monkeypatch.setattr(services, "CANCEL_CHECK_INTERVAL", 0)
    job = services.import_job_create(actor=rep, uploaded_file=upload(big_csv(2000)))
    real_write = jobstate.write_progress

    def write_and_mark(job_id, processed, total):
        real_write(job_id, processed, total)
        if processed:
            jobstate.request_cancel(job_id)

    monkeypatch.setattr(services, "PROGRESS_INTERVAL", 0)
    monkeypatch.setattr(jobstate, "write_progress", write_and_mark)
    with run_on_commit():
        services.import_job_start(job=job, actor=rep)
    job.refresh_from_db()
    assert job.status == ImportStatus.CANCELLED
    assert not Lead.objects.exists()


def test_unexpected_engine_error_fails_the_job(rep, run_on_commit, monkeypatch):
    from l2c.leads.imports import engine

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(engine, "run_import", broken)
    job = services.import_job_create(actor=rep, uploaded_file=upload())
    with run_on_commit():
        services.import_job_start(job=job, actor=rep)
    job.refresh_from_db()
    assert job.status == ImportStatus.FAILED
    assert "unexpected error" in job.error_message and "disk on fire" not in job.error_message
    assert not Lead.objects.exists()


# --- visibility -----------------------------------------------------------------------------------

def test_who_sees_a_job(rep, rep2, manager, outsider, admin_user, finance):
    job = services.import_job_create(actor=rep, uploaded_file=upload())
    assert selectors.import_job_get(user=rep, pk=job.pk) == job
    assert selectors.import_job_get(user=manager, pk=job.pk) == job  # rep's team manager
    assert selectors.import_job_get(user=admin_user, pk=job.pk) == job
    for user in (rep2, outsider, finance):
        with pytest.raises(NotFound):
            selectors.import_job_get(user=user, pk=job.pk)
    assert list(selectors.import_job_list(user=outsider)) == []
    assert list(selectors.import_job_list(user=manager)) == [job]
