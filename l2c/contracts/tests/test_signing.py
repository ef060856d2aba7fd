"""Signing accepted quotes (certificate page + PAdES by the company's certificate) and verifying signed PDFs."""
import datetime
import hashlib
import io
import stat
import threading
from unittest import mock

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from l2c.contracts import signing

pytestmark = pytest.mark.django_db


# --- fixtures and helpers (also used by test_signing_command.py) -------------------------------------

@pytest.fixture(scope="session", name="shared_var_dir")
def shared_var_dir_fixture(tmp_path_factory):
    """One VAR_DIR for most tests, so the company certificate (RSA-3072) is generated once per run."""
    return tmp_path_factory.mktemp("signing-var")


@pytest.fixture(autouse=True, name="signing_settings")
def signing_settings_fixture(settings, shared_var_dir):
    settings.VAR_DIR = shared_var_dir
    settings.L2C_SIGNING_PKCS12 = ""
    settings.L2C_SIGNING_PASSWORD = ""
    settings.TIME_ZONE = "Asia/Shanghai"
    return settings


def render_pdf(html: str) -> bytes:
    import weasyprint

    return weasyprint.HTML(string=html).write_pdf()


@pytest.fixture(scope="session", name="quote_pdf")
def quote_pdf_fixture() -> bytes:
    return render_pdf("<h1>Quote QUO-2026-000042</h1><p>10 × Widget, 1,000.00 USD</p>")


def drawn_png() -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (200, 60), "white")
    ImageDraw.Draw(image).line([(10, 50), (60, 10), (120, 45), (190, 15)], fill="black", width=3)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def make_record(pdf: bytes, **overrides) -> dict:
    signed_at = datetime.datetime(2026, 3, 2, 8, 30, 15, tzinfo=datetime.UTC)
    record = {
        "signer_name": "张伟",
        "signer_email": "zhang.wei@example.cn",
        "signer_title": "采购经理",
        "signed_at": signed_at,
        "consented_at": signed_at - datetime.timedelta(seconds=40),
        "ip_address": "203.0.113.7",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Test/1.0",
        "shown_pdf_sha256": hashlib.sha256(pdf).hexdigest(),
        "consent_text": "I agree to sign this document electronically. 我同意以电子方式签署本文件。",
        "consent_version": "2026-11",
        "quote_number": "QUO-2026-000042",
        "quote_version": 2,
        "events": [
            {"event": "sent", "at": "2026-03-01T09:00:00+00:00", "ip": None},
            {"event": "viewed", "at": "2026-03-02T08:29:00+00:00", "ip": "203.0.113.7"},
            {"event": "consented", "at": (signed_at - datetime.timedelta(seconds=40)).isoformat(),
             "ip": "203.0.113.7"},
            {"event": "signed", "at": signed_at.isoformat(), "ip": "203.0.113.7"},
        ],
        "drawn_signature": drawn_png(),
    }
    record.update(overrides)
    return record


@pytest.fixture(name="signed_pdf")
def signed_pdf_fixture(quote_pdf) -> bytes:
    return signing.sign_document(quote_pdf, record=make_record(quote_pdf))


def pdf_text(data: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def store_signature(signed: bytes, *, with_contract: bool = False):
    """A quote and the Signature record for `signed` (as the contracts service stores it)."""
    from l2c.contracts.models import Contract, Signature
    from l2c.pipeline.tests.factories import OpportunityFactory
    from l2c.quoting.models import Quote

    opportunity = OpportunityFactory()
    today = timezone.localdate()
    quote = Quote.objects.create(number="QUO-2026-000042", version=2, opportunity=opportunity,
                                 account=opportunity.account, currency="USD", quote_date=today,
                                 valid_until=today + datetime.timedelta(days=30))
    signed_at = timezone.now()
    signature = Signature.objects.create(
        quote=quote, signer_name="张伟", signer_email="zhang.wei@example.cn", consent_text="I agree.",
        consent_version="2026-11", consented_at=signed_at, signed_at=signed_at, ip_address="203.0.113.7",
        user_agent="Test/1.0", drawn_signature=drawn_png(), shown_pdf_sha256="0" * 64, signed_pdf=signed,
        signed_pdf_sha256=hashlib.sha256(signed).hexdigest())
    if with_contract:
        Contract.objects.create(number="CTR-2026-000007", account=opportunity.account, opportunity=opportunity,
                                quote=quote, signature=signature, currency="USD", start_date=today,
                                end_date=today + datetime.timedelta(days=364), term_months=12,
                                payment_terms="net_30", net_total=0, tax_total=0, gross_total=0)
    return signature


def flip_byte_in_signed_content(data: bytes) -> bytes:
    """Change one byte inside the first content stream (covered by the signature's byte range)."""
    start = data.index(b"stream\n") + len(b"stream\n")
    tampered = bytearray(data)
    tampered[start + 20] ^= 0x01
    return bytes(tampered)


def append_annotation(data: bytes) -> bytes:
    """An incremental update adding a note to the first page, as a PDF editor would save it."""
    from pypdf import PdfWriter
    from pypdf.annotations import FreeText

    writer = PdfWriter(io.BytesIO(data), incremental=True)
    writer.add_annotation(0, FreeText(text="price changed to 1.00", rect=(50, 50, 250, 100)))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def sign_with_other_certificate(pdf: bytes, tmp_path) -> bytes:
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers

    p12, password = signing.generate_self_signed(common_name="Impostor Ltd", organization="Impostor Ltd")
    path = tmp_path / "other.p12"
    path.write_bytes(p12)
    signer = signers.SimpleSigner.load_pkcs12(str(path), passphrase=password)
    meta = signers.PdfSignatureMetadata(field_name="Sig", md_algorithm="sha256",
                                        subfilter=fields.SigSeedSubFilter.PADES)
    return signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), meta, signer=signer).getvalue()


# --- signing and verifying ---------------------------------------------------------------------------

def test_signed_document_verifies_as_valid_and_finds_its_record(quote_pdf, signed_pdf):
    # when
    before_record = signing.verify_document(signed_pdf)
    signature = store_signature(signed_pdf)
    result = signing.verify_document(signed_pdf)

    # then
    assert before_record.valid and before_record.signature is None
    assert before_record.problems == [str(signing.PROBLEM_NO_RECORD)]
    assert result.valid and result.intact and result.trusted and result.covers_whole_file
    assert result.problems == []
    assert result.signature == signature
    assert result.sha256 == hashlib.sha256(signed_pdf).hexdigest()
    assert "L2C Demo Ltd" in result.signer
    assert result.signer_fingerprint == signing.company_certificate().sha256.hex()
    assert abs(result.signed_at - timezone.now()) < datetime.timedelta(minutes=5)
    # the quote's own pages come first, unchanged in content
    assert "QUO-2026-000042" in pdf_text(signed_pdf).split("Signature certificate")[0]


def test_signature_is_pades_certification_that_allows_no_changes(signed_pdf):
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.fields import MDPPerm

    (embedded,) = PdfFileReader(io.BytesIO(signed_pdf)).embedded_signatures
    assert embedded.field_name == signing.SIGNATURE_FIELD
    assert embedded.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"
    assert embedded.docmdp_level == MDPPerm.NO_CHANGES
    assert embedded.md_algorithm == "sha256"
    assert "/M" in embedded.sig_object  # the signing time is in the signature dictionary too


def test_certificate_page_lists_signer_consent_hashes_and_events(quote_pdf, signed_pdf):
    from pypdf import PdfReader

    # given
    reader = PdfReader(io.BytesIO(signed_pdf))
    original_pages = len(PdfReader(io.BytesIO(quote_pdf)).pages)

    # when
    certificate_text = "\n".join(page.extract_text() for page in reader.pages[original_pages:])

    # then
    assert len(reader.pages) > original_pages
    flat = " ".join(certificate_text.split())
    for expected in ("Signature certificate", "张伟", "采购经理", "zhang.wei@example.cn", "QUO-2026-000042",
                     "version 2", "203.0.113.7", "Test/1.0", "2026-11", "我同意以电子方式签署本文件",
                     hashlib.sha256(quote_pdf).hexdigest(), "2026-03-02 08:30:15 UTC",
                     "2026-03-02 16:30:15 Asia/Shanghai (UTC+08:00)", "2026-03-02 08:29:35 UTC",
                     "Sent", "Viewed", "Consented", "Signed", "2026-03-01 09:00:00 UTC"):
        assert expected in flat or expected in certificate_text, expected
    # the drawn signature is an image on the certificate page
    images = [image for page in reader.pages[original_pages:] for image in page.images]
    assert images


def test_chinese_signer_name_is_rendered_with_a_cjk_font(quote_pdf, signed_pdf):
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(signed_pdf))
    fonts = set()
    for page in reader.pages[len(PdfReader(io.BytesIO(quote_pdf)).pages):]:
        for font in (page["/Resources"].get("/Font") or {}).values():
            fonts.add(str(font.get_object()["/BaseFont"]))
    shipped = {face["family"] for face in signing._font_faces()}
    if shipped:  # the font shipped with L2C, not whatever the machine has installed
        assert any(family in name for name in fonts for family in shipped), fonts
    else:
        assert any("CJK" in name for name in fonts), fonts


def test_one_flipped_byte_in_the_signed_content_is_detected(signed_pdf):
    store_signature(signed_pdf)

    result = signing.verify_document(flip_byte_in_signed_content(signed_pdf))

    assert not result.valid
    assert not result.intact
    assert str(signing.PROBLEM_CHANGED) in result.problems
    assert "changed after signing" in str(signing.PROBLEM_CHANGED)
    assert result.signature is None  # the hash no longer matches the record either


def test_an_incremental_update_after_signing_is_reported_as_a_change(signed_pdf):
    # given: someone adds an annotation and saves, keeping the original bytes and signature
    changed = append_annotation(signed_pdf)
    assert changed.startswith(signed_pdf)

    # when
    result = signing.verify_document(changed)

    # then: the signed revision is intact, but it no longer covers the file
    assert result.intact
    assert not result.covers_whole_file
    assert not result.valid
    assert result.problems[0] == str(signing.PROBLEM_APPENDED)


def test_bytes_appended_after_the_signature_are_reported(signed_pdf):
    result = signing.verify_document(signed_pdf + b"\n% appended\n")

    assert not result.valid
    assert str(signing.PROBLEM_APPENDED) in result.problems


def test_a_pdf_signed_by_another_certificate_is_not_the_companys(quote_pdf, tmp_path):
    other = sign_with_other_certificate(quote_pdf, tmp_path)

    result = signing.verify_document(other)

    assert result.intact  # the signature itself is sound ...
    assert not result.trusted and not result.valid  # ... but not the company's
    assert str(signing.PROBLEM_NOT_COMPANY) in result.problems
    assert "Impostor Ltd" in result.signer


@pytest.mark.parametrize("data, problem", [
    (b"", signing.PROBLEM_NOT_PDF),
    (b"PK\x03\x04 this is a zip file", signing.PROBLEM_NOT_PDF),
    ("Quote accepted. 我同意".encode(), signing.PROBLEM_NOT_PDF),
    (b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog", signing.PROBLEM_UNREADABLE),
])
def test_a_file_that_is_not_a_readable_pdf_gets_a_clear_problem(data, problem):
    result = signing.verify_document(data)

    assert not result.valid and not result.intact
    assert result.problems[0] == str(problem)
    assert result.sha256 == hashlib.sha256(data).hexdigest()


def test_a_truncated_signed_pdf_is_unreadable(signed_pdf):
    result = signing.verify_document(signed_pdf[: len(signed_pdf) // 2])

    assert not result.valid
    assert result.problems[0] in (str(signing.PROBLEM_UNREADABLE), str(signing.PROBLEM_NO_SIGNATURE))


def test_an_unsigned_pdf_has_no_signature(quote_pdf):
    result = signing.verify_document(quote_pdf)

    assert not result.valid
    assert result.problems[0] == str(signing.PROBLEM_NO_SIGNATURE)


def test_problems_are_translated():
    from django.utils import translation

    with translation.override("zh-hans"):
        result = signing.verify_document(b"not a pdf")
    assert result.problems  # a string in the active language, never a lazy object
    assert all(isinstance(problem, str) for problem in result.problems)


# --- what sign_document refuses ----------------------------------------------------------------------

def test_signing_refuses_a_pdf_other_than_the_one_shown(quote_pdf):
    other = render_pdf("<p>A different quote</p>")

    with pytest.raises(ValueError, match="not the document the signer was shown"):
        signing.sign_document(other, record=make_record(quote_pdf))


@pytest.mark.parametrize("key", ["signer_name", "signed_at", "consent_text", "consent_version",
                                 "shown_pdf_sha256"])
def test_signing_refuses_an_incomplete_record(quote_pdf, key):
    with pytest.raises(ValueError, match=key):
        signing.sign_document(quote_pdf, record=make_record(quote_pdf, **{key: ""}))


def test_signing_refuses_something_that_is_not_a_pdf():
    data = b"not a pdf at all"
    with pytest.raises(ValueError, match="not a readable PDF"):
        signing.sign_document(data, record=make_record(data))


def test_a_record_without_drawn_signature_or_events_still_gets_a_certificate_page(quote_pdf):
    signed = signing.sign_document(quote_pdf, record=make_record(
        quote_pdf, drawn_signature=b"", events=[], consented_at=None, signer_email="", ip_address=None))

    assert signing.verify_document(signed).valid
    assert "Signature certificate" in pdf_text(signed)


# --- the company's certificate -----------------------------------------------------------------------

def test_certificate_is_generated_once_and_reused(settings, tmp_path):
    from l2c.core.models import CompanyProfile

    # given
    settings.VAR_DIR = tmp_path
    CompanyProfile.objects.update_or_create(pk=1, defaults={"name": "Acme 上海", "legal_name": "Acme Shanghai Co.",
                                                           "country": "CN"})

    # when
    first = signing.company_certificate()
    p12_bytes = (tmp_path / "signing" / signing.P12_NAME).read_bytes()
    signing._signers.clear()  # as a new process would
    with mock.patch.object(signing, "generate_self_signed", side_effect=AssertionError("generated again")):
        second = signing.company_certificate()

    # then
    assert first.sha256 == second.sha256
    assert (tmp_path / "signing" / signing.P12_NAME).read_bytes() == p12_bytes
    for name in (signing.P12_NAME, signing.PASSWORD_NAME):
        mode = stat.S_IMODE((tmp_path / "signing" / name).stat().st_mode)
        assert mode == 0o600, (name, oct(mode))
    assert first.subject.native["common_name"] == "Acme 上海"
    assert first.subject.native["organization_name"] == "Acme Shanghai Co."
    assert first.subject.native["country_name"] == "CN"
    # the public certificate is kept beside it, for importing into PDF readers
    from asn1crypto import pem, x509

    _type, _headers, der = pem.unarmor((tmp_path / "signing" / signing.CERT_NAME).read_bytes())
    assert x509.Certificate.load(der).sha256 == first.sha256


def test_a_lost_password_file_is_reported_not_replaced(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    signing.company_certificate()
    (tmp_path / "signing" / signing.PASSWORD_NAME).unlink()
    signing._signers.clear()

    with pytest.raises(ImproperlyConfigured, match="password"):
        signing.company_signer()
    assert (tmp_path / "signing" / signing.P12_NAME).exists()


def test_generated_certificate_is_a_ten_year_document_signing_certificate(settings, tmp_path):
    settings.VAR_DIR = tmp_path

    certificate = signing.company_certificate()

    assert certificate.self_signed == "maybe" or certificate.self_signed == "yes"
    assert set(certificate.key_usage_value.native) == {"digital_signature", "non_repudiation"}
    assert certificate.ca is False
    assert certificate.public_key.algorithm == "rsa" and certificate.public_key.bit_size == 3072
    validity = certificate["tbs_certificate"]["validity"]
    years = (validity["not_after"].native - validity["not_before"].native).days / 365.25
    assert 9.9 < years < 10.1


def test_concurrent_first_use_generates_one_certificate(settings, tmp_path):
    from l2c.core.models import CompanyProfile

    # given: two threads start signing at once in a fresh VAR_DIR
    settings.VAR_DIR = tmp_path
    calls = []
    real_generate = signing.generate_self_signed
    start = threading.Barrier(2)

    def counting_generate(**kwargs):
        calls.append(kwargs)
        return real_generate(**kwargs)

    results = []

    def first_use():
        start.wait()
        results.append(signing._ensure_self_signed())

    # when
    with mock.patch.object(signing, "generate_self_signed", side_effect=counting_generate), \
            mock.patch.object(CompanyProfile, "get", return_value=CompanyProfile(name="Acme")):
        threads = [threading.Thread(target=first_use) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    # then
    assert len(calls) == 1
    assert len(results) == 2 and results[0] == results[1]


def test_pkcs12_from_settings_is_used(settings, tmp_path, quote_pdf):
    # given
    p12, password = signing.generate_self_signed(common_name="Configured Signing Co", organization="Configured")
    path = tmp_path / "real.p12"
    path.write_bytes(p12)
    settings.VAR_DIR = tmp_path / "var"
    settings.L2C_SIGNING_PKCS12 = str(path)
    settings.L2C_SIGNING_PASSWORD = password.decode()

    # when
    signed = signing.sign_document(quote_pdf, record=make_record(quote_pdf))
    result = signing.verify_document(signed)

    # then
    assert result.valid
    assert "Configured Signing Co" in result.signer
    assert not (tmp_path / "var" / "signing" / signing.P12_NAME).exists()  # nothing generated


def test_documents_signed_with_the_generated_certificate_stay_valid_after_a_real_one_replaces_it(
        settings, tmp_path, signed_pdf):
    # given: signed_pdf was signed with the generated certificate in the shared VAR_DIR
    p12, password = signing.generate_self_signed(common_name="Real Cert Co", organization="Real")
    path = tmp_path / "real.p12"
    path.write_bytes(p12)

    # when
    settings.L2C_SIGNING_PKCS12 = str(path)
    settings.L2C_SIGNING_PASSWORD = password.decode()
    result = signing.verify_document(signed_pdf)

    # then
    assert result.valid, result.problems


def test_a_wrong_pkcs12_password_or_missing_file_fails_naming_the_setting(settings, tmp_path):
    p12, _password = signing.generate_self_signed(common_name="X", organization="X")
    path = tmp_path / "real.p12"
    path.write_bytes(p12)
    settings.L2C_SIGNING_PKCS12 = str(path)
    settings.L2C_SIGNING_PASSWORD = "wrong"
    with pytest.raises(ImproperlyConfigured, match="L2C_SIGNING_PKCS12"):
        signing.company_signer()

    settings.L2C_SIGNING_PKCS12 = str(tmp_path / "missing.p12")
    with pytest.raises(ImproperlyConfigured, match="L2C_SIGNING_PKCS12"):
        signing.company_signer()

    damaged = tmp_path / "damaged.p12"
    damaged.write_bytes(b"not a pkcs12 file")
    settings.L2C_SIGNING_PKCS12 = str(damaged)
    with pytest.raises(ImproperlyConfigured, match="L2C_SIGNING_PKCS12"):
        signing.company_signer()
