"""Quote PDF: rendering (number, Chinese text in the shipped font, logo, sections, taxes), the restricted
template engine, no fetching of remote or local URLs, the PDF download."""
from __future__ import annotations

import http.server
import threading

import pytest
from django.test import Client
from django.utils import translation

from l2c.core.models import CompanyProfile
from l2c.quoting import pdf
from l2c.quoting.models import DocumentTemplate, QuoteStatus

from .test_documents_support import (
    CHINESE_NOTE,
    CHINESE_PRODUCT,
    documents_api_prefix,
    make_quote,
    pdf_fonts,
    pdf_image_sizes,
    pdf_text,
    png_bytes,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def documents_api(settings):
    return documents_api_prefix(settings)


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- rendering ---------------------------------------------------------------------------------------

def test_pdf_has_number_lines_totals_and_chinese_in_the_shipped_font(rep):
    quote = make_quote(rep)

    data = pdf.render_quote_pdf(quote)

    assert data.startswith(b"%PDF")
    text = pdf_text(data)
    assert "QUO-2026-000042" in text
    assert CHINESE_PRODUCT in text and CHINESE_NOTE in text and "上海示例科技有限公司" in text
    assert "李娜" in text  # the contact, family name first
    assert "17,488.00" in text and "15,800.00" in text  # gross and net totals
    assert "Tax 13% on 10,800.00" in text and "Tax 6% on 5,000.00" in text
    assert "optional" in text and "not included in the totals" in text
    assert "Hardware" in text and "Services" in text  # sections
    fonts = pdf_fonts(data)
    assert fonts, "the PDF names no fonts"
    assert all(name.startswith("L2C-Noto-Sans-SC") for name in fonts), fonts  # no system fallback font


def test_pdf_is_printed_in_the_owner_language(rep):
    rep.language = "zh-hans"
    rep.save()
    quote = make_quote(rep)
    with translation.override("zh-hans"):
        quote_label = translation.gettext("Quote")
    assert quote_label != "Quote", "needs the Chinese catalogue's translation of 'Quote'"

    text = pdf_text(pdf.render_quote_pdf(quote))

    assert quote_label in text


def test_logo_appears_when_the_company_has_one(admin_user, rep):
    quote = make_quote(rep)
    assert pdf_image_sizes(pdf.render_quote_pdf(quote)) == set()

    pdf.company_profile_update(actor=admin_user, logo=png_bytes(40, 20))

    assert pdf_image_sizes(pdf.render_quote_pdf(quote)) == {(40, 20)}


def test_sample_quote_renders_with_the_default_template():
    data = pdf.render_sample_pdf()
    text = pdf_text(data)
    assert "QUO-SAMPLE-000001" in text and "工业网关" in text
    assert all(name.startswith("L2C-Noto-Sans-SC") for name in pdf_fonts(data))


def test_money_and_number_filters():
    assert pdf.money("1234.5", "CNY") == "1,234.50"
    assert pdf.money("1234.5", "JPY") == "1,235"
    assert pdf.money("0.125", "KWD") == "0.125"
    assert pdf.number("2.0000") == "2" and pdf.number("12.5000") == "12.5" and pdf.number("100") == "100"


def test_shipped_fonts_are_small_and_licensed():
    for filename in pdf.FONT_FILES.values():
        size = (pdf.FONT_DIR / filename).stat().st_size
        assert 500_000 < size < 4_000_000
    assert "SIL OPEN FONT LICENSE" in (pdf.FONT_DIR / "OFL.txt").read_text(encoding="utf-8")


# --- the restricted engine and offline rendering -----------------------------------------------------

@pytest.mark.parametrize("html, expected", [
    ("<p>\n{% include 'base.html' %}</p>", "Line 2"),
    ("{% extends 'base.html' %}", "extends"),
    ("{% debug %}", "debug"),
    ("{% url 'home' %}", "url"),
    ("{% load static %}", "static"),
    ("<p>\n\n{% if %}x{% endif %}</p>", "Line 3"),
    ("{% for line in %}{% endfor %}", "for"),
    ("", "empty"),
])
def test_unsafe_or_broken_templates_are_refused_with_the_line(html, expected):
    errors = pdf.template_errors(html)
    assert errors and errors[0].field == "html"
    assert expected in errors[0].message


def test_context_holds_plain_values_not_models(rep):
    quote = make_quote(rep)
    template = DocumentTemplate(html="[{{ quote.owner.password }}][{{ customer.owner }}][{{ quote.opportunity }}]"
                                     "[{{ company.logo }}]")
    html = pdf.render_quote_html(quote, template=template)
    assert html == "[][][][]"


@pytest.fixture
def http_server():
    """A local HTTP server that records every request it gets."""
    requests: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the stdlib's name
            requests.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()
            self.wfile.write(png_bytes())

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", requests
    server.shutdown()
    server.server_close()


def test_remote_and_local_urls_in_a_template_are_not_fetched(rep, http_server):
    base, requests = http_server
    quote = make_quote(rep)
    template = DocumentTemplate(
        html=f'<h1>{{{{ quote.number }}}}</h1><img src="{base}/logo.png"><img src="file:///etc/passwd">'
             f'<link rel="stylesheet" href="{base}/style.css"><img src="https://{base[7:]}/x.png">',
        css=f'@import url("{base}/imported.css"); body {{ background: url("{base}/bg.png"); }}',
    )
    fetcher = pdf._local_only_fetcher()

    html = pdf.render_quote_html(quote, template=template)
    data = pdf.html_to_pdf(html, template.css, fetcher=fetcher)

    assert data.startswith(b"%PDF") and "QUO-2026-000042" in pdf_text(data)
    assert requests == []  # the server never saw a request
    assert pdf_image_sizes(data) == set()
    assert any(url.startswith(base) for url in fetcher.refused)
    assert "file:///etc/passwd" in fetcher.refused
    # through the public function too
    pdf.render_quote_pdf(quote, template=template)
    assert requests == []


def test_the_fetcher_allows_only_data_uris_and_the_shipped_fonts():
    fetcher = pdf._local_only_fetcher()
    font_url = (pdf.FONT_DIR / pdf.FONT_FILES["normal"]).as_uri()
    assert fetcher.fetch(font_url).read(4) == b"OTTO"
    assert fetcher.fetch("data:text/plain;base64,aGk=").read() == b"hi"
    for url in ["http://example.com/a.png", "https://example.com/a.css", "ftp://example.com/x",
                (pdf.FONT_DIR / "OFL.txt").as_uri().replace("OFL.txt", "../../settings.py"), "file:///etc/hostname"]:
        with pytest.raises(ValueError):
            fetcher.fetch(url)


# --- the PDF download --------------------------------------------------------------------------------

def test_owner_and_manager_download_the_pdf_others_get_404(rep, rep2, manager, outsider):
    quote = make_quote(rep)
    url = f"/quotes/{quote.pk}/pdf"

    response = client_for(rep).get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert 'filename="QUO-2026-000042-v1.pdf"' in response["Content-Disposition"]
    assert "QUO-2026-000042" in pdf_text(response.content)
    assert client_for(manager).get(url).status_code == 200
    assert client_for(rep2).get(url).status_code == 404
    assert client_for(outsider).get(url).status_code == 404
    assert client_for(rep).get("/quotes/999999/pdf").status_code == 404
    assert Client().get(url).status_code == 302  # to the login page


def test_a_sent_quote_downloads_exactly_the_pdf_that_was_sent(rep):
    quote = make_quote(rep, status=QuoteStatus.SENT)
    sent = pdf.render_quote_pdf(quote)
    quote.sent_pdf, quote.sent_pdf_sha256 = sent, "x"
    quote.save()
    quote.title = "Changed after sending"
    quote.save()

    response = client_for(rep).get(f"/quotes/{quote.pk}/pdf")

    assert response.content == sent


def test_api_pdf(rep, outsider, api_for, documents_api):
    quote = make_quote(rep, version=2)
    response = api_for(rep).get(f"{documents_api}/quotes/{quote.pk}/pdf")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert 'filename="QUO-2026-000042-v2.pdf"' in response["Content-Disposition"]
    assert response.content.startswith(b"%PDF")
    assert api_for(outsider).get(f"{documents_api}/quotes/{quote.pk}/pdf").status_code == 404


def test_company_profile_defaults_are_printed(rep):
    profile = CompanyProfile.get()
    profile.name, profile.legal_name, profile.tax_id = "Acme", "Acme Shanghai Co., Ltd.", "91310000XYZ"
    profile.save()
    text = pdf_text(pdf.render_quote_pdf(make_quote(rep)))
    assert "Acme Shanghai Co., Ltd." in text and "91310000XYZ" in text
