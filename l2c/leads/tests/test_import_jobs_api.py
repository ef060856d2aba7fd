"""API /api/v1/imports: upload (multipart), mapping, start, progress, cancel, error report, roles,
Idempotency-Key on a multipart upload."""
from __future__ import annotations

import pytest

from l2c.leads.choices import ImportStatus
from l2c.leads.imports import jobstate, services
from l2c.leads.models import ImportJob, Lead
from l2c.leads.tests.test_import_jobs import CSV_TEXT, stored_files, upload

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def post_file(api, data: dict, headers: dict | None = None, path: str = "/api/v1/imports"):
    return api.client.post(path, data, **api._headers(headers))


def multipart_body(fields: dict, filename: str, content: bytes, boundary: str) -> bytes:
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
                 f"Content-Type: text/csv\r\n\r\n".encode() + content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts)


def test_upload_patch_start_result(api_for, rep, django_capture_on_commit_callbacks):
    api = api_for(rep)
    # upload
    response = post_file(api, {"file": upload(), "on_duplicate": "skip", "default_region": "us"})
    assert response.status_code == 201, response.content
    job = response.json()
    assert job["status"] == "pending" and job["queued"] is False
    assert job["headers"] == ["Name", "Email", "Phone", "Company", "Title"]
    assert job["mapping"]["Email"] == "email" and job["mapping"]["Name"] == "full_name"
    assert job["preview"][0][0] == "Alice Smith" and len(job["preview"]) == 4
    assert job["default_region"] == "US" and job["created_by"]["id"] == rep.pk
    # adjust the mapping
    response = api.patch(f"/api/v1/imports/{job['id']}", {"mapping": {"Title": None}, "on_duplicate": "update"})
    assert response.status_code == 200, response.content
    assert response.json()["mapping"]["Title"] == "" and response.json()["mapping"]["Email"] == "email"
    assert response.json()["on_duplicate"] == "update"
    # start
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"/api/v1/imports/{job['id']}/start")
    assert response.status_code == 202, response.content
    # result
    result = api.get(f"/api/v1/imports/{job['id']}").json()
    assert result["status"] == "succeeded", result["error_message"]
    assert (result["created_count"], result["rejected_count"], result["skipped_count"]) == (3, 1, 0)
    assert result["rows_processed"] == result["rows_total"] == 4 and result["progress_percent"] == 100
    assert result["has_error_report"] is True
    # the imported leads are in the API's lead list
    emails = {lead["email"] for lead in api.get("/api/v1/leads").json()["items"]}
    assert {"alice@example.com", "carol@example.com", "xiaoming@example.cn"} <= emails
    # error report
    report = api.get(f"/api/v1/imports/{job['id']}/errors")
    assert report.status_code == 200 and report["Content-Type"].startswith("text/csv")
    assert "not-an-email" in b"".join(report.streaming_content).decode("utf-8-sig")
    # a finished job can no longer change
    response = api.patch(f"/api/v1/imports/{job['id']}", {"mapping": {"Title": "title"}})
    assert response.status_code == 409 and response.json()["code"] == "import_started"


def test_upload_and_start_at_once(api_for, rep, django_capture_on_commit_callbacks):
    api = api_for(rep)
    with django_capture_on_commit_callbacks(execute=True):
        response = post_file(api, {"file": upload(), "start": "true", "mapping": '{"Title": ""}'})
    assert response.status_code == 201, response.content
    job = ImportJob.objects.get()
    assert job.status == ImportStatus.SUCCEEDED and job.created_count == 3
    assert job.mapping["Title"] == ""


def test_start_true_with_an_unusable_mapping_keeps_nothing(api_for, rep, media):
    response = post_file(api_for(rep), {"file": upload("Email,Company\na@example.com,Acme\n"), "start": "true"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "mapping"
    assert not ImportJob.objects.exists() and stored_files(media) == []


def test_bad_file_is_a_problem_on_the_file_field(api_for, rep, media):
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = post_file(api_for(rep), {"file": SimpleUploadedFile("x.xlsx", b"PK\x03\x04 not really a zip")})
    assert response.status_code == 422
    body = response.json()
    assert response["Content-Type"] == "application/problem+json"
    assert body["errors"][0]["field"] == "file" and body["errors"][0]["message"]
    assert not ImportJob.objects.exists() and stored_files(media) == []


def test_missing_file_is_422(api_for, rep):
    response = api_for(rep).client.post("/api/v1/imports", {"on_duplicate": "skip"}, **api_for(rep)._headers(None))
    assert response.status_code == 422
    assert any(e["field"] == "file" for e in response.json()["errors"])


def test_size_limit(api_for, rep, settings, media):
    settings.L2C_IMPORT_MAX_BYTES = 64
    response = post_file(api_for(rep), {"file": upload()})
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "file_too_large"
    assert not ImportJob.objects.exists() and stored_files(media) == []


def test_patch_errors_name_the_column(api_for, rep):
    api = api_for(rep)
    job = services.import_job_create(actor=rep, uploaded_file=upload())
    response = api.patch(f"/api/v1/imports/{job.pk}", {"mapping": {"Nope": "email", "Title": "salary"}})
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"mapping.Nope", "mapping.Title"}
    response = api.patch(f"/api/v1/imports/{job.pk}", {"mode": "sometimes"})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "mode"
    response = api.patch(f"/api/v1/imports/{job.pk}", {"colour": "red"})
    assert response.status_code == 422
    response = api.patch(f"/api/v1/imports/{job.pk}", {"delimiter": ";"})
    assert response.status_code == 200 and response.json()["delimiter"] == ";"


def test_progress_fields_while_running(api_for, rep):
    api = api_for(rep)
    job = services.import_job_create(actor=rep, uploaded_file=upload())
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.RUNNING, queued_at=job.created_at,
                                               started_at=job.created_at)
    jobstate.write_progress(job.pk, 100, 400)
    first = api.get(f"/api/v1/imports/{job.pk}").json()
    jobstate.write_progress(job.pk, 300, 400)
    second = api.get(f"/api/v1/imports/{job.pk}").json()
    assert (first["rows_processed"], first["rows_total"], first["progress_percent"]) == (100, 400, 25)
    assert (second["rows_processed"], second["progress_percent"]) == (300, 75)


def test_cancel(api_for, rep, django_capture_on_commit_callbacks):
    api = api_for(rep)
    job = services.import_job_create(actor=rep, uploaded_file=upload())
    response = api.post(f"/api/v1/imports/{job.pk}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    response = api.post(f"/api/v1/imports/{job.pk}/cancel")
    assert response.status_code == 409 and response.json()["code"] == "import_finished"
    response = api.post(f"/api/v1/imports/{job.pk}/start")
    assert response.status_code == 409
    # running: asked to stop
    other = services.import_job_create(actor=rep, uploaded_file=upload())
    ImportJob.objects.filter(pk=other.pk).update(status=ImportStatus.RUNNING, queued_at=other.created_at)
    response = api.post(f"/api/v1/imports/{other.pk}/cancel")
    assert response.status_code == 200
    assert response.json()["status"] == "running" and response.json()["cancel_requested"] is True
    assert jobstate.cancel_marked(other.pk)


def test_roles_and_visibility(api_for, rep, rep2, manager, outsider, finance, admin_user):
    job = services.import_job_create(actor=rep, uploaded_file=upload())
    services.import_job_create(actor=outsider, uploaded_file=upload(), original_name="west.csv")
    for user in (rep2, outsider):
        api = api_for(user)
        for method, path in (("get", ""), ("patch", ""), ("post", "/start"), ("post", "/cancel"),
                             ("get", "/errors")):
            response = getattr(api, method)(f"/api/v1/imports/{job.pk}{path}")
            assert response.status_code == 404, (user, method, path)
            assert response.json()["code"] == "not_found"
    assert api_for(manager).get(f"/api/v1/imports/{job.pk}").status_code == 200
    assert api_for(admin_user).get("/api/v1/imports").json()["count"] == 2
    listed = api_for(manager).get("/api/v1/imports").json()
    assert [item["id"] for item in listed["items"]] == [job.pk] and listed["count"] == 1
    finance_api = api_for(finance)
    assert finance_api.get("/api/v1/imports").status_code == 403
    assert finance_api.get(f"/api/v1/imports/{job.pk}").status_code == 403
    response = post_file(finance_api, {"file": upload()})
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"
    assert ImportJob.objects.count() == 2
    assert api_for(rep).get("/api/v1/imports/999999").status_code == 404
    assert api_for(rep).client.get("/api/v1/imports").status_code == 401


def test_fields_endpoint(api_for, rep):
    fields = {f["name"]: f["label"] for f in api_for(rep).get("/api/v1/imports/fields").json()}
    assert {"full_name", "last_name", "email", "phone", "company"} <= set(fields)
    assert "owner" not in fields and "status" not in fields


def test_idempotency_key_replays_a_multipart_upload(api_for, rep):
    api = api_for(rep)
    content = CSV_TEXT.encode()
    fields = {"on_duplicate": "skip"}
    first = api.client.post("/api/v1/imports", multipart_body(fields, "leads.csv", content, "aaaaBOUNDARY1"),
                            content_type="multipart/form-data; boundary=aaaaBOUNDARY1",
                            **api._headers({"Idempotency-Key": "upload-1"}))
    assert first.status_code == 201, first.content
    # a retry by a client that picks a new boundary, as every HTTP library does
    again = api.client.post("/api/v1/imports", multipart_body(fields, "leads.csv", content, "zzzzOTHER2"),
                            content_type="multipart/form-data; boundary=zzzzOTHER2",
                            **api._headers({"Idempotency-Key": "upload-1"}))
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert ImportJob.objects.count() == 1
    # the same key with another file is refused
    other = api.client.post("/api/v1/imports", multipart_body(fields, "leads.csv", content + b"Dan Brown,d@example.com,,,\n",
                                                              "aaaaBOUNDARY1"),
                            content_type="multipart/form-data; boundary=aaaaBOUNDARY1",
                            **api._headers({"Idempotency-Key": "upload-1"}))
    assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"
    # and with other options too
    other = post_file(api, {"file": upload(), "on_duplicate": "update"}, headers={"Idempotency-Key": "upload-1"})
    assert other.status_code == 409
    assert ImportJob.objects.count() == 1
    assert not Lead.objects.exists()


def test_upload_larger_than_the_request_memory_limit(api_for, rep, settings):
    """A file bigger than DATA_UPLOAD_MAX_MEMORY_SIZE is streamed, not read into memory (which Django
    would refuse), also with an Idempotency-Key."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    text = "Name,Email\n" + "".join(f"P{i} Q,p{i}@example.com\n" for i in range(200))
    assert len(text) > 2000
    api = api_for(rep)
    response = post_file(api, {"file": upload(text)}, headers={"Idempotency-Key": "big-1"})
    assert response.status_code == 201, response.content
    assert response.json()["rows_total"] == 200
