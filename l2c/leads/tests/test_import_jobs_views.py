"""Import pages: upload → mapping with preview → progress → result, error report, permissions."""
from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from l2c.leads.choices import ImportStatus
from l2c.leads.imports import jobstate, services
from l2c.leads.models import ImportJob, Lead
from l2c.leads.tests.test_import_jobs import stored_files, upload

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def options(**extra) -> dict:
    return {"on_duplicate": "skip", "mode": "valid_rows", "default_source": "import", **extra}


def test_upload_map_start_result(rep, django_capture_on_commit_callbacks):
    client = client_for(rep)
    # the lead list links to the import
    assert reverse("leads:import-create") in client.get(reverse("leads:lead-list")).content.decode()
    # upload
    response = client.post(reverse("leads:import-create"), {"file": upload(), **options()})
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("leads:import-detail", args=[job.pk])
    # mapping step: every column with a select pre-filled from the suggestion, the first rows, encoding
    page = client.get(response["Location"]).content.decode()
    assert 'name="col_0"' in page and 'name="col_4"' in page
    assert '<option value="full_name" selected>' in page
    assert "Alice Smith" in page and "王小明" in page
    assert "utf" in page.lower()
    assert "Start import" in page
    # change the mapping (ignore Title) and start
    form = {"col_0": "full_name", "col_1": "email", "col_2": "phone", "col_3": "company", "col_4": "",
            **options(), "start": "1"}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("leads:import-mapping", args=[job.pk]), form)
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == ImportStatus.SUCCEEDED, job.error_message
    assert job.mapping["Title"] == ""
    # result page: counts, the first errors, the report link
    page = client.get(reverse("leads:import-detail", args=[job.pk])).content.decode()
    assert "Skipped as duplicate" in page and "Rejected" in page
    assert "not-an-email" in page
    assert reverse("leads:import-errors", args=[job.pk]) in page
    assert 'hx-trigger="every 1s"' not in page
    # the imported leads are in the list; the job is in "my imports"
    leads_page = client.get(reverse("leads:lead-list")).content.decode()
    assert "Alice Smith" in leads_page and "alice@example.com" in leads_page
    assert Lead.objects.get(email="alice@example.com").title == ""
    imports_page = client.get(reverse("leads:import-list")).content.decode()
    assert "leads.csv" in imports_page


def test_mapping_errors_are_shown_beside_the_column(rep):
    job = services.import_job_create(actor=rep, uploaded_file=upload())
    client = client_for(rep)
    form = {"col_0": "email", "col_1": "email", "col_2": "", "col_3": "", "col_4": "", **options(), "start": "1"}
    response = client.post(reverse("leads:import-mapping", args=[job.pk]), form)
    assert response.status_code == 422
    assert "already filled from column" in response.content.decode()
    job.refresh_from_db()
    assert job.queued_at is None and job.mapping["Name"] == "full_name"


def test_bad_file_is_shown_on_the_file_field(rep, media):
    response = client_for(rep).post(reverse("leads:import-create"),
                                    {"file": SimpleUploadedFile("x.csv", b"\x89PNG\r\n\x1a\n" + bytes(300)),
                                     **options()})
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="id_file_errors"' in page
    assert not ImportJob.objects.exists() and stored_files(media) == []


def test_too_big_upload_is_refused(rep, media, settings):
    settings.L2C_IMPORT_MAX_BYTES = 40
    response = client_for(rep).post(reverse("leads:import-create"), {"file": upload(), **options()})
    assert "larger than" in response.content.decode()
    assert not ImportJob.objects.exists() and stored_files(media) == []


def test_resniff_from_the_mapping_step(rep):
    text = "姓名,公司\n张伟,腾讯\n"
    job = services.import_job_create(actor=rep, uploaded_file=upload(text, encoding="gb18030"))
    client = client_for(rep)
    client.post(reverse("leads:import-resniff", args=[job.pk]), {"encoding": "gb18030", "delimiter": ";"})
    job.refresh_from_db()
    assert job.delimiter == ";" and job.headers == ["姓名,公司"]


def test_progress_panel_polls_while_running_and_refreshes_when_done(rep):
    job = services.import_job_create(actor=rep, uploaded_file=upload())
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.RUNNING, queued_at=job.created_at,
                                               started_at=job.created_at)
    jobstate.write_progress(job.pk, 250, 1000)
    client = client_for(rep)
    page = client.get(reverse("leads:import-detail", args=[job.pk])).content.decode()
    assert 'hx-trigger="every 1s"' in page and 'value="25"' in page and "Cancel import" in page
    panel = client.get(reverse("leads:import-progress", args=[job.pk]))
    assert panel.status_code == 200 and 'value="25"' in panel.content.decode()
    jobstate.write_progress(job.pk, 500, 1000)
    assert 'value="50"' in client.get(reverse("leads:import-progress", args=[job.pk])).content.decode()
    # cancel from the page: the run is asked to stop
    client.post(reverse("leads:import-cancel", args=[job.pk]))
    job.refresh_from_db()
    assert job.cancel_requested and jobstate.cancel_marked(job.pk)
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.CANCELLED)
    done = client.get(reverse("leads:import-progress", args=[job.pk]))
    assert done.status_code == 204 and done["HX-Refresh"] == "true"


def test_error_report_download_and_permissions(rep, rep2, manager, outsider, finance,
                                               django_capture_on_commit_callbacks):
    job = services.import_job_create(actor=rep, uploaded_file=upload())
    with django_capture_on_commit_callbacks(execute=True):
        services.import_job_start(job=job, actor=rep)
    url = reverse("leads:import-errors", args=[job.pk])
    response = client_for(rep).get(url)
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    assert "not-an-email" in body and "Email" in body
    assert client_for(manager).get(url).status_code == 200
    for user in (rep2, outsider):
        assert client_for(user).get(url).status_code == 404
        assert client_for(user).get(reverse("leads:import-detail", args=[job.pk])).status_code == 404
        assert client_for(user).post(reverse("leads:import-cancel", args=[job.pk])).status_code == 404
    assert client_for(finance).get(url).status_code == 403


def test_no_error_report_is_404(rep, django_capture_on_commit_callbacks):
    job = services.import_job_create(actor=rep, uploaded_file=upload("Name,Email\nAl Bo,al@example.com\n"))
    with django_capture_on_commit_callbacks(execute=True):
        services.import_job_start(job=job, actor=rep)
    job.refresh_from_db()
    assert job.status == ImportStatus.SUCCEEDED and not job.error_report
    assert client_for(rep).get(reverse("leads:import-errors", args=[job.pk])).status_code == 404


def test_finance_may_not_import(finance):
    client = client_for(finance)
    for name in ("leads:import-list", "leads:import-create"):
        assert client.get(reverse(name)).status_code == 403
    assert client.post(reverse("leads:import-create"), {"file": upload(), **options()}).status_code == 403
    assert not ImportJob.objects.exists()


def test_anonymous_is_sent_to_login():
    response = Client().get(reverse("leads:import-list"))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_list_shows_only_visible_jobs(rep, outsider, manager):
    mine = services.import_job_create(actor=rep, uploaded_file=upload(), original_name="mine.csv")
    services.import_job_create(actor=outsider, uploaded_file=upload(), original_name="theirs.csv")
    page = client_for(rep).get(reverse("leads:import-list")).content.decode()
    assert "mine.csv" in page and "theirs.csv" not in page
    page = client_for(manager).get(reverse("leads:import-list")).content.decode()
    assert "mine.csv" in page and "theirs.csv" not in page
    assert reverse("leads:import-detail", args=[mine.pk]) in page


def test_html_in_file_is_escaped(rep):
    job = services.import_job_create(actor=rep, uploaded_file=upload(
        "Name,<b>Company</b>\n<script>alert(1)</script>,<img src=x onerror=alert(2)>\n"))
    page = client_for(rep).get(reverse("leads:import-detail", args=[job.pk])).content.decode()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert "<img src=x" not in page and "<b>Company</b>" not in page

