"""The quote template editor (versions, preview, restore, syntax errors) and the company profile page."""
from __future__ import annotations

import pytest
from django.test import Client

from l2c.core.errors import PermissionDenied, ValidationFailed
from l2c.core.models import AuditEvent, CompanyProfile
from l2c.quoting import pdf
from l2c.quoting.models import DocumentTemplate

from .test_documents_support import make_quote, pdf_image_sizes, pdf_text, png_bytes

pytestmark = pytest.mark.django_db

EDIT_URL = "/settings/templates/quote/"
GOOD_HTML = "{% load i18n %}<h1>MARKER-{{ quote.number }}</h1><p>{{ totals.gross_total|money:quote.currency }}</p>"


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- the service -------------------------------------------------------------------------------------

def test_saving_keeps_every_version_and_uses_the_newest(admin_user, rep):
    quote = make_quote(rep)

    first = pdf.document_template_save(actor=admin_user, kind="quote", html=GOOD_HTML, css="h1 { color: red; }")
    second = pdf.document_template_save(actor=admin_user, kind="quote", html=GOOD_HTML.replace("MARKER", "SECOND"),
                                        name="With bank details")

    first.refresh_from_db()
    assert (first.version, first.active) == (1, False)
    assert (second.version, second.active, second.name, second.edited_by) == (2, True, "With bank details", admin_user)
    assert pdf.active_template("quote") == second
    text = pdf_text(pdf.render_quote_pdf(quote))
    assert "SECOND-QUO-2026-000042" in text and "17,488.00" in text
    events = AuditEvent.objects.filter(object_type="quoting.documenttemplate")
    assert events.filter(action="create").count() == 2
    assert events.filter(action="transition", object_id=str(first.pk)).exists()


def test_restore_default_deactivates_and_keeps_the_versions(admin_user, rep):
    quote = make_quote(rep)
    pdf.document_template_save(actor=admin_user, kind="quote", html=GOOD_HTML)

    pdf.document_template_restore_default(actor=admin_user, kind="quote")

    assert DocumentTemplate.objects.filter(kind="quote").count() == 1
    assert not DocumentTemplate.objects.filter(active=True).exists()
    assert pdf.active_template("quote").pk is None
    text = pdf_text(pdf.render_quote_pdf(quote))
    assert "MARKER" not in text and "Valid until" in text
    # saving again continues the numbering
    assert pdf.document_template_save(actor=admin_user, kind="quote", html=GOOD_HTML).version == 2


def test_bad_template_is_refused_with_its_line_and_nothing_changes(admin_user):
    pdf.document_template_save(actor=admin_user, kind="quote", html=GOOD_HTML)

    with pytest.raises(ValidationFailed) as caught:
        pdf.document_template_save(actor=admin_user, kind="quote", html="<h1>ok</h1>\n<p>\n{% if quote. %}</p>")

    error = caught.value.errors[0]
    assert error.field == "html" and error.code == "template_syntax" and "Line 3" in error.message
    assert list(DocumentTemplate.objects.values_list("version", "active")) == [(1, True)]


def test_a_template_failing_on_the_sample_quote_is_refused(admin_user):
    with pytest.raises(ValidationFailed) as caught:
        pdf.document_template_save(actor=admin_user, kind="quote", html="{% widthratio 1 2 quote.number %}")
    assert caught.value.errors[0].code == "template_render"
    assert not DocumentTemplate.objects.exists()


def test_only_admins_edit_templates_and_only_known_kinds(rep, manager, finance, admin_user):
    for user in (rep, manager, finance, None):
        with pytest.raises(PermissionDenied):
            pdf.document_template_save(actor=user, kind="quote", html=GOOD_HTML)
        with pytest.raises(PermissionDenied):
            pdf.document_template_restore_default(actor=user, kind="quote")
    from l2c.core.errors import NotFound

    with pytest.raises(NotFound):
        pdf.document_template_save(actor=admin_user, kind="invoice", html=GOOD_HTML)
    assert not DocumentTemplate.objects.exists()


# --- the pages ---------------------------------------------------------------------------------------

def test_template_pages_for_admin(admin_user):
    client = client_for(admin_user)
    listing = client.get("/settings/templates/")
    assert listing.status_code == 200 and "shipped default" in listing.content.decode()
    page = client.get(EDIT_URL)
    assert page.status_code == 200
    assert "{{ quote.number }}" in page.content.decode()  # the shipped template, escaped into the textarea
    assert client.get("/settings/templates/nonsense/").status_code == 404


def test_save_through_the_page_and_load_an_old_version(admin_user):
    client = client_for(admin_user)
    response = client.post(EDIT_URL, {"action": "save", "html": GOOD_HTML, "css": "", "name": "v-one"})
    assert response.status_code == 302
    client.post(EDIT_URL, {"action": "save", "html": "<p>two {{ quote.number }}</p>", "css": ""})
    assert list(DocumentTemplate.objects.order_by("version").values_list("version", "active")) == [(1, False),
                                                                                                    (2, True)]
    old = client.get(EDIT_URL + "?version=1").content.decode()
    assert "MARKER-" in old

    response = client.post(EDIT_URL, {"action": "restore"})
    assert response.status_code == 302
    assert not DocumentTemplate.objects.filter(active=True).exists()


def test_syntax_error_on_the_page_shows_the_line_and_saves_nothing(admin_user):
    response = client_for(admin_user).post(EDIT_URL, {"action": "save", "html": "<p>\n{% for x in %}{% endfor %}"})
    assert response.status_code == 422
    assert "Line 2" in response.content.decode()
    assert not DocumentTemplate.objects.exists()


def test_preview_renders_the_unsaved_text_with_the_sample_or_a_chosen_quote(admin_user, rep):
    client = client_for(admin_user)
    quote = make_quote(rep)

    sample = client.post(EDIT_URL, {"action": "preview", "html": GOOD_HTML, "css": ""})
    chosen = client.post(EDIT_URL, {"action": "preview", "html": GOOD_HTML, "css": "", "preview_quote": quote.pk})
    missing = client.post(EDIT_URL, {"action": "preview", "html": GOOD_HTML, "css": "", "preview_quote": 999999})
    broken = client.post(EDIT_URL, {"action": "preview", "html": "{% if %}", "css": ""})

    assert sample.status_code == 200 and sample["Content-Type"] == "application/pdf"
    assert "MARKER-QUO-SAMPLE-000001" in pdf_text(sample.content)
    assert chosen.status_code == 200 and "MARKER-QUO-2026-000042" in pdf_text(chosen.content)
    assert missing.status_code == 422 and "No quote with id 999999" in missing.content.decode()
    assert broken.status_code == 422
    assert not DocumentTemplate.objects.exists()  # previews save nothing


def test_non_admins_get_403_on_template_and_company_pages(rep, manager, finance):
    for user in (rep, manager, finance):
        client = client_for(user)
        assert client.get("/settings/templates/").status_code == 403
        assert client.get(EDIT_URL).status_code == 403
        assert client.post(EDIT_URL, {"action": "save", "html": GOOD_HTML}).status_code == 403
        assert client.post(EDIT_URL, {"action": "restore"}).status_code == 403
        assert client.get("/settings/company/").status_code == 403
        assert client.post("/settings/company/", {"name": "Hacked", "country": "CN", "currency": "CNY"}).status_code == 403
    assert not DocumentTemplate.objects.exists()
    assert CompanyProfile.get().name != "Hacked"
    assert Client().get("/settings/company/").status_code == 302


# --- company profile ---------------------------------------------------------------------------------

def _company_form(**overrides):
    data = {"name": "Acme", "legal_name": "Acme Shanghai Co., Ltd.", "address": "1 Century Ave\nShanghai",
            "country": "CN", "tax_id": "91310000XYZ", "email": "sales@acme.example", "phone": "+86 21 5555 0000",
            "website": "https://acme.example", "currency": "CNY"}
    data.update(overrides)
    return data


def test_company_profile_saved_with_a_png_logo_and_audited(admin_user, rep):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = client_for(admin_user)
    logo = SimpleUploadedFile("logo.png", png_bytes(30, 12), content_type="image/png")

    response = client.post("/settings/company/", {**_company_form(), "logo_file": logo})

    assert response.status_code == 302
    profile = CompanyProfile.get()
    assert (profile.legal_name, profile.tax_id, profile.logo_type) == ("Acme Shanghai Co., Ltd.", "91310000XYZ",
                                                                        "image/png")
    event = AuditEvent.objects.filter(object_type="core.companyprofile").latest("id")
    assert event.changes["tax_id"] == ["", "91310000XYZ"] and len(event.changes["logo"][1]) == 64
    assert pdf_image_sizes(pdf.render_quote_pdf(make_quote(rep))) == {(30, 12)}
    page = client.get("/settings/company/").content.decode()
    assert "data:image/png;base64," in page

    client.post("/settings/company/", {**_company_form(), "remove_logo": "on"})
    profile.refresh_from_db()
    assert profile.logo is None and profile.logo_type == ""


@pytest.mark.parametrize("filename, content, message", [
    ("logo.png", b"this is not a picture", "must be a PNG, JPEG or SVG"),
    ("logo.png", b"\x89PNG\r\n\x1a\nbroken", "must be a PNG, JPEG or SVG"),
    ("logo.svg", b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaa">]><svg xmlns="http://www.w3.org/2000/svg">'
                 b"&a;</svg>", "must be a PNG, JPEG or SVG"),
    ("logo.svg", b"<html><body>not svg</body></html>", "must be a PNG, JPEG or SVG"),
    ("logo.png", b"\x89PNG\r\n\x1a\n" + b"0" * (1024 * 1024 + 1), "at most 1 MB"),
])
def test_bad_logos_are_refused_by_content_and_nothing_changes(admin_user, filename, content, message):
    from django.core.files.uploadedfile import SimpleUploadedFile

    before = CompanyProfile.get().name
    response = client_for(admin_user).post("/settings/company/", {
        **_company_form(name="Changed"), "logo_file": SimpleUploadedFile(filename, content)})

    assert response.status_code == 422
    assert message in response.content.decode()
    profile = CompanyProfile.get()
    assert profile.name == before and profile.logo is None


def test_svg_and_jpeg_logos_are_accepted(admin_user):
    from io import BytesIO

    from PIL import Image

    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>'
    assert pdf.company_profile_update(actor=admin_user, logo=svg).logo_type == "image/svg+xml"
    buffer = BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="JPEG")
    assert pdf.company_profile_update(actor=admin_user, logo=buffer.getvalue()).logo_type == "image/jpeg"


@pytest.mark.parametrize("field, value, message", [
    ("name", "", "This field is required"),
    ("country", "XX", "not an ISO 3166-1"),
    ("currency", "yuan", "ISO 4217"),
    ("email", "not-an-email", "valid e-mail"),
    ("website", "http://", "web address"),
])
def test_bad_company_fields_are_refused_by_the_service(admin_user, field, value, message):
    before = CompanyProfile.get().name
    with pytest.raises(ValidationFailed) as caught:
        pdf.company_profile_update(actor=admin_user, **{**_company_form(name="Changed"), field: value})
    assert [e.field for e in caught.value.errors] == [field]
    assert message in caught.value.errors[0].message
    assert CompanyProfile.get().name == before


def test_company_service_refuses_non_admins_and_unknown_fields(rep, admin_user):
    with pytest.raises(PermissionDenied):
        pdf.company_profile_update(actor=rep, name="Hacked")
    with pytest.raises(ValidationFailed) as caught:
        pdf.company_profile_update(actor=admin_user, logo_type="text/html")
    assert caught.value.errors[0].field == "logo_type"
