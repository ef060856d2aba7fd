"""PAdES signing of accepted quotes with the company's certificate, and verification of signed PDFs.

`sign_document` appends a certificate page (who signed, when, from where, what they agreed to, the hash
of the document they were shown, the event list) to the quote PDF and signs the whole file with the
company's certificate (PAdES baseline, SHA-256, certification signature that permits no changes). Any
byte changed or added after signing makes `verify_document` (and a PDF reader) report it.

The company certificate is the PKCS#12 named by settings.L2C_SIGNING_PKCS12 (password
settings.L2C_SIGNING_PASSWORD) or, when that is empty, a self-signed one generated once into
<VAR_DIR>/signing/ on first use. Signing and verification are offline: no timestamp server, no
revocation fetching.
"""
from __future__ import annotations

import base64
import datetime
import fcntl
import hashlib
import io
import logging
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from asn1crypto import x509 as asn1_x509
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

if TYPE_CHECKING:
    from pyhanko.sign.signers import SimpleSigner

    from l2c.contracts.models import Signature

logger = logging.getLogger(__name__)

SIGNATURE_FIELD = "L2C-Signature"
P12_NAME = "company.p12"
PASSWORD_NAME = "password"
CERT_NAME = "company.pem"  # the public certificate, kept so documents signed with it stay verifiable
FONTS_DIR = Path(__file__).resolve().parent.parent / "fonts"
FONT_SUFFIXES = {".ttf": "truetype", ".otf": "opentype", ".woff": "woff", ".woff2": "woff2"}
CERT_VALID_DAYS = 3652  # ten years
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# Problems reported by verify_document, in words a person understands.
PROBLEM_NOT_PDF = gettext_lazy("The file is not a PDF.")
PROBLEM_UNREADABLE = gettext_lazy("The PDF cannot be read: it is damaged or truncated.")
PROBLEM_NO_SIGNATURE = gettext_lazy("The document has no signature.")
PROBLEM_CHANGED = gettext_lazy("The document was changed after signing: its content no longer matches the signature.")
PROBLEM_APPENDED = gettext_lazy("The document was changed after signing: content was added after the signature.")
PROBLEM_NOT_COMPANY = gettext_lazy("The document is signed by a certificate that is not the company's.")
PROBLEM_UNTRUSTED = gettext_lazy("The company's certificate is not valid for this signature (expired or not usable "
                                 "for signing).")
PROBLEM_BROKEN_SIGNATURE = gettext_lazy("The signature is damaged and cannot be checked.")
PROBLEM_NO_RECORD = gettext_lazy("No signature recorded in L2C matches this file.")

EVENT_LABELS = {
    "sent": gettext_lazy("Sent"),
    "viewed": gettext_lazy("Viewed"),
    "consented": gettext_lazy("Consented"),
    "signed": gettext_lazy("Signed"),
    "declined": gettext_lazy("Declined"),
    "expired": gettext_lazy("Expired"),
}


# --- the company's certificate --------------------------------------------------------------------

def signing_dir() -> Path:
    return Path(settings.VAR_DIR) / "signing"


def _write_private(path: Path, data: bytes) -> None:
    """Write `data` to `path` readable by the owner only, atomically (a reader never sees half a file)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _x509_text(value: str, fallback: str) -> str:
    """A value for a name attribute: X.509 limits CN and O to 64 characters and forbids empty ones."""
    value = " ".join((value or "").split()) or fallback
    return value[:64]


def generate_self_signed(*, common_name: str, organization: str, country: str = "") -> tuple[bytes, bytes]:
    """A self-signed RSA-3072 signing certificate and key for the company, as (PKCS#12 bytes, password).

    Key usage digitalSignature + nonRepudiation (what PDF readers expect of a document-signing
    certificate), not a CA, valid ten years.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import pkcs12
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, _x509_text(common_name, "L2C")),
                  x509.NameAttribute(NameOID.ORGANIZATION_NAME, _x509_text(organization, "L2C"))]
    if len(country) == 2 and country.isascii() and country.isalpha():
        attributes.append(x509.NameAttribute(NameOID.COUNTRY_NAME, country.upper()))
    name = x509.Name(attributes)
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))  # tolerate a little clock skew
        .not_valid_after(now + datetime.timedelta(days=CERT_VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    password = secrets.token_urlsafe(32).encode()
    p12 = pkcs12.serialize_key_and_certificates(
        b"company", key, certificate, None, serialization.BestAvailableEncryption(password))
    return p12, password


def _ensure_self_signed() -> tuple[Path, bytes]:
    """The generated company PKCS#12 and its password, generating them on first use.

    An exclusive lock on <VAR_DIR>/signing/.lock makes sure that two processes starting at the same
    time do not both generate one; the password is written before the PKCS#12, so a PKCS#12 that
    exists always has its password.
    """
    directory = signing_dir()
    p12_path, password_path = directory / P12_NAME, directory / PASSWORD_NAME
    if not p12_path.exists():
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(directory / ".lock", "a") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                if not p12_path.exists():
                    from l2c.core.models import CompanyProfile

                    profile = CompanyProfile.get()
                    p12, password = generate_self_signed(
                        common_name=profile.name, organization=profile.legal_name or profile.name,
                        country=profile.country)
                    # the PKCS#12 last: once it exists, its password and public certificate exist too
                    _write_public(directory / CERT_NAME, p12, password)
                    _write_private(password_path, password)
                    _write_private(p12_path, p12)
                    logger.info("generated a self-signed company signing certificate in %s", directory)
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
    try:
        return p12_path, password_path.read_bytes().strip()
    except OSError as exc:
        raise ImproperlyConfigured(
            f"{password_path}: cannot read the password of the company's signing certificate ({exc.strerror}); "
            f"restore it, or remove {p12_path} to generate a new certificate") from exc


def _write_public(path: Path, p12: bytes, password: bytes) -> None:
    """The PKCS#12's certificate as PEM, for operators to import into PDF readers as trusted."""
    from cryptography.hazmat.primitives.serialization import Encoding, pkcs12

    _key, certificate, _chain = pkcs12.load_key_and_certificates(p12, password)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(certificate.public_bytes(Encoding.PEM))
    os.replace(tmp, path)


_signers: dict[tuple, SimpleSigner] = {}


def company_signer() -> SimpleSigner:
    """The pyHanko signer holding the company's certificate and key (loaded once per file version)."""
    from pyhanko.sign.signers import SimpleSigner

    configured = getattr(settings, "L2C_SIGNING_PKCS12", "")
    if configured:
        path = Path(configured)
        password = getattr(settings, "L2C_SIGNING_PASSWORD", "").encode() or None
        if not path.is_file():
            raise ImproperlyConfigured(f"L2C_SIGNING_PKCS12: no such file: {path}")
    else:
        path, password = _ensure_self_signed()
    key = (str(path.resolve()), path.stat().st_mtime_ns, password)
    signer = _signers.get(key)
    if signer is None:
        where = "L2C_SIGNING_PKCS12/L2C_SIGNING_PASSWORD" if configured else str(path)
        try:
            # pyHanko logs and returns None for a wrong password; a damaged file may raise instead
            signer = SimpleSigner.load_pkcs12(str(path), passphrase=password)
        except (ValueError, TypeError, OSError) as exc:
            raise ImproperlyConfigured(f"{where}: cannot load the signing certificate ({exc})") from exc
        if signer is None:
            raise ImproperlyConfigured(f"{where}: cannot load the signing certificate (wrong password?)")
        _signers[key] = signer
    return signer


def company_certificate() -> asn1_x509.Certificate:
    return company_signer().signing_cert


def trusted_certificates() -> list[asn1_x509.Certificate]:
    """The certificates whose signatures count as the company's: the current one, plus the self-signed one
    generated earlier when a real certificate has replaced it (documents it signed stay verifiable)."""
    certificates = [company_certificate()]
    previous = signing_dir() / CERT_NAME
    if previous.is_file():
        from asn1crypto import pem

        data = previous.read_bytes()
        if pem.detect(data):
            _type, _headers, data = pem.unarmor(data)
        try:
            old = asn1_x509.Certificate.load(data)
            if old.sha256 != certificates[0].sha256:
                certificates.append(old)
        except ValueError:
            logger.warning("ignoring an unreadable certificate at %s", previous)
    return certificates


# --- the certificate page -------------------------------------------------------------------------

def _font_faces() -> list[dict[str, str]]:
    """@font-face rules for the fonts shipped under l2c/fonts (the CJK font, so Chinese names render
    without any installed font): "<Family>-Bold.otf" is the bold face of "<Family>", anything else regular."""
    if not FONTS_DIR.is_dir():
        return []
    faces = []
    for path in sorted(FONTS_DIR.iterdir()):
        kind = FONT_SUFFIXES.get(path.suffix.lower())
        if not kind or not path.is_file():
            continue
        family, _dash, style = path.stem.rpartition("-")
        if not family:
            family, style = path.stem, ""
        faces.append({"family": family, "weight": "700" if style.lower() == "bold" else "400",
                      "url": path.as_uri(), "format": kind})
    return faces


def _font_families(faces: list[dict[str, str]]) -> list[str]:
    return list(dict.fromkeys(face["family"] for face in faces))


def _as_datetime(value: Any) -> datetime.datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, str):
        parsed = parse_datetime(value)
        if parsed is None:
            return None
        value = parsed
    if not isinstance(value, datetime.datetime):
        return None
    if timezone.is_naive(value):
        value = timezone.make_aware(value, datetime.UTC)
    return value


def _times(value: Any) -> dict[str, str] | None:
    """A moment as UTC and in the server's time zone (named), for the certificate page."""
    moment = _as_datetime(value)
    if moment is None:
        return None
    utc = moment.astimezone(datetime.UTC)
    local = moment.astimezone(ZoneInfo(settings.TIME_ZONE))
    offset = local.strftime("%z")
    return {"utc": utc.strftime("%Y-%m-%d %H:%M:%S UTC"),
            # the server's zone too, unless it is UTC anyway
            "local": "" if settings.TIME_ZONE == "UTC" else
            f"{local:%Y-%m-%d %H:%M:%S} {settings.TIME_ZONE} (UTC{offset[:3]}:{offset[3:]})",
            "iso": utc.isoformat()}


def render_certificate_page(record: dict, *, document_sha256: str) -> bytes:
    """The certificate page for `record` (see sign_document) as a PDF."""
    import weasyprint
    from weasyprint.urls import URLFetcher

    from l2c.core.models import CompanyProfile

    drawn = record.get("drawn_signature") or b""
    if isinstance(drawn, memoryview):
        drawn = drawn.tobytes()
    drawn_uri = ""
    if isinstance(drawn, bytes) and drawn.startswith(PNG_MAGIC):
        drawn_uri = "data:image/png;base64," + base64.b64encode(drawn).decode()
    events = []
    for event in record.get("events") or []:
        name = str(event.get("event", ""))
        events.append({"label": EVENT_LABELS.get(name, name), "times": _times(event.get("at")),
                       "ip": event.get("ip") or "", "user_agent": event.get("user_agent") or ""})
    quote = record.get("quote")
    context = {
        "company": CompanyProfile.get(),
        "quote_number": record.get("quote_number") or getattr(quote, "number", ""),
        "quote_version": record.get("quote_version") or getattr(quote, "version", ""),
        "signer_name": record["signer_name"],
        "signer_email": record.get("signer_email") or "",
        "signer_title": record.get("signer_title") or "",
        "drawn_signature_uri": drawn_uri,
        "consent_text": record["consent_text"],
        "consent_version": record["consent_version"],
        "consented_at": _times(record.get("consented_at")),
        "signed_at": _times(record["signed_at"]),
        "ip_address": record.get("ip_address") or "",
        "user_agent": record.get("user_agent") or "",
        "shown_pdf_sha256": record["shown_pdf_sha256"],
        "document_sha256": document_sha256,
        "events": events,
    }
    context["font_faces"] = faces = _font_faces()
    context["font_families"] = _font_families(faces)
    html = render_to_string("contracts/certificate_page.html", context)
    # everything on the page is in the HTML, a data: URI or a shipped font: never fetch from the network
    fetcher = URLFetcher(allowed_protocols={"data", "file"}, allow_redirects=False)
    return weasyprint.HTML(string=html, url_fetcher=fetcher).write_pdf()


# --- signing ----------------------------------------------------------------------------------------

REQUIRED_RECORD_KEYS = ("signer_name", "signed_at", "consent_text", "consent_version", "shown_pdf_sha256")


def sign_document(pdf: bytes, *, record: dict) -> bytes:
    """The quote PDF with a certificate page appended, PAdES-signed by the company's certificate.

    record: signer_name, signer_email, signer_title (optional), signed_at, consented_at (datetimes or ISO
    strings), ip_address, user_agent, shown_pdf_sha256, consent_text, consent_version, quote_number and
    quote_version (or quote), events ([{"event": "sent"|"viewed"|"consented"|"signed", "at": …, "ip": …}])
    and drawn_signature (PNG bytes). Raises ValueError when the record is incomplete, `pdf` is not a
    readable PDF, or `pdf` is not the document the signer was shown (its SHA-256 differs).
    """
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from pypdf import PdfReader, PdfWriter
    from pypdf.errors import PyPdfError

    missing = [key for key in REQUIRED_RECORD_KEYS if not record.get(key)]
    if missing:
        raise ValueError(f"the signature record lacks {', '.join(missing)}")
    document_sha256 = hashlib.sha256(pdf).hexdigest()
    if record["shown_pdf_sha256"].lower() != document_sha256:
        raise ValueError("the PDF to sign is not the document the signer was shown (SHA-256 differs)")
    try:
        quote_pdf = PdfReader(io.BytesIO(pdf), strict=False)
        writer = PdfWriter(clone_from=quote_pdf)
    except (PyPdfError, ValueError, OSError) as exc:
        raise ValueError(f"the document to sign is not a readable PDF ({exc})") from exc

    certificate_page = render_certificate_page(record, document_sha256=document_sha256)
    writer.append(PdfReader(io.BytesIO(certificate_page)))
    combined = io.BytesIO()
    writer.write(combined)

    company = _company_name()
    metadata = signers.PdfSignatureMetadata(
        field_name=SIGNATURE_FIELD,
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        # a certification signature that allows no changes: any later revision invalidates it in readers
        certify=True,
        docmdp_permissions=fields.MDPPerm.NO_CHANGES,
        reason=_("Accepted and signed by %(name)s") % {"name": record["signer_name"]},
        location=company,
        signer_key_usage={"digital_signature", "non_repudiation"},
    )
    combined.seek(0)
    output = signers.sign_pdf(IncrementalPdfFileWriter(combined, strict=False), metadata, signer=company_signer())
    return output.getvalue()


def _company_name() -> str:
    from l2c.core.models import CompanyProfile

    return CompanyProfile.get().name


# --- verification -----------------------------------------------------------------------------------

@dataclass
class Verification:
    """What verify_document found out about a file."""

    sha256: str
    valid: bool = False  # intact, by the company's certificate, and nothing changed after signing
    intact: bool = False  # the signed bytes match the signature
    trusted: bool = False  # the signer's certificate is the company's and valid
    covers_whole_file: bool = False  # no byte was added after the signature
    signer: str = ""  # the signing certificate's subject
    signer_fingerprint: str = ""  # SHA-256 of the signing certificate
    signed_at: datetime.datetime | None = None  # the signing time embedded in the signature
    signature: Signature | None = None  # the contracts.Signature whose signed_pdf_sha256 matches
    problems: list[str] = field(default_factory=list)

    @property
    def matches_record(self) -> bool:
        return self.signature is not None


def verify_document(data: bytes) -> Verification:
    """Check a signed PDF: its PAdES signature, that it is the company's, that nothing changed after
    signing, and which L2C signature record it is (by the SHA-256 of the whole file)."""
    from l2c.contracts.models import Signature

    result = Verification(sha256=hashlib.sha256(data).hexdigest())
    result.signature = (Signature.objects.select_related("quote").filter(signed_pdf_sha256=result.sha256).first())
    _check_signature(data, result)
    if result.signature is None:
        result.problems.append(str(PROBLEM_NO_RECORD))
    return result


def _check_signature(data: bytes, result: Verification) -> None:
    from pyhanko.pdf_utils.misc import PdfError
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.errors import SignatureValidationError
    from pyhanko.sign.validation.settings import KeyUsageConstraints
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    from pyhanko_certvalidator import ValidationContext

    if b"%PDF-" not in data[:1024]:
        result.problems.append(str(PROBLEM_NOT_PDF))
        return
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        embedded = reader.embedded_signatures
    except (PdfError, ValueError, KeyError, TypeError, IndexError) as exc:
        logger.info("unreadable PDF: %s", exc)
        result.problems.append(str(PROBLEM_UNREADABLE))
        return
    if not embedded:
        result.problems.append(str(PROBLEM_NO_SIGNATURE))
        return

    trusted = trusted_certificates()
    context = ValidationContext(trust_roots=trusted, allow_fetching=False, revocation_mode="soft-fail")
    # the first signature is L2C's; a later one would itself be a change after signing
    signature = embedded[0]
    try:
        status = validate_pdf_signature(
            signature, context,
            key_usage_settings=KeyUsageConstraints(key_usage={"digital_signature", "non_repudiation"}),
            # any revision after ours already makes the document invalid (coverage below): no need to
            # analyse what the later revision changed
            skip_diff=True)
    except (SignatureValidationError, PdfError, ValueError, KeyError, TypeError) as exc:
        logger.info("signature cannot be validated: %s", exc)
        result.problems.append(str(PROBLEM_BROKEN_SIGNATURE))
        return

    certificate = status.signing_cert
    result.signer = certificate.subject.human_friendly if certificate is not None else ""
    result.signer_fingerprint = certificate.sha256.hex() if certificate is not None else ""
    result.signed_at = status.signer_reported_dt
    result.intact = bool(status.intact and status.valid)
    is_company = certificate is not None and _is_one_of(certificate, trusted)
    result.trusted = bool(is_company and status.trusted)
    result.covers_whole_file = (status.coverage == SignatureCoverageLevel.ENTIRE_FILE and len(embedded) == 1)

    if not result.intact:
        result.problems.append(str(PROBLEM_CHANGED))
    elif not result.covers_whole_file:
        result.problems.append(str(PROBLEM_APPENDED))
    if not is_company:
        result.problems.append(str(PROBLEM_NOT_COMPANY))
    elif result.intact and not status.trusted:
        result.problems.append(str(PROBLEM_UNTRUSTED))
    result.valid = result.intact and result.trusted and result.covers_whole_file


def _is_one_of(certificate: asn1_x509.Certificate, certificates: Iterable[asn1_x509.Certificate]) -> bool:
    return any(certificate.sha256 == other.sha256 for other in certificates)
