"""Quote documents: the PDF a customer receives, printed by WeasyPrint from an HTML template an admin can edit.

The template is the active `DocumentTemplate(kind="quote")`, or the shipped default
(`templates/quoting/pdf/default_quote.html` + `.css`) when none is active. It is Django template language
rendered by a restricted engine (`DOCUMENT_ENGINE`): no `include`/`extends`/`url`/`debug`, no template
libraries beyond i18n/l10n and the two filters below, and a context of plain values (dicts, strings,
Decimals, dates) — never model instances, so a template cannot reach anything it was not handed.

Rendering never touches the network: the CJK font is shipped in `l2c/fonts/` and loaded from a
`file://` URL; the company logo is a `data:` URI; `LocalOnlyFetcher` refuses every other URL (http(s),
ftp, and file:// outside the font folder), so an admin-edited template cannot make the server fetch
anything or read local files into a PDF.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import logging
import mimetypes
import xml.etree.ElementTree as ET
from decimal import Decimal
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.db import transaction
from django.template import Context, Engine, Library, TemplateSyntaxError, defaultfilters, defaulttags
from django.templatetags import i18n as i18n_tags
from django.templatetags import l10n as l10n_tags
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from l2c.core import audit
from l2c.core.errors import FieldError, NotFound, PermissionDenied, ValidationFailed
from l2c.core.models import CompanyProfile
from l2c.core.money import is_currency_code, round_money
from l2c.core.validation import check_country, check_email, check_max_lengths

from .models import DocumentTemplate, PaymentTerms, Product, Quote, QuoteLine

log = logging.getLogger(__name__)

FONT_DIR = Path(settings.BASE_DIR) / "fonts"
FONT_FAMILY = "L2C Noto Sans SC"
FONT_FILES = {"normal": "L2CNotoSansSC-Regular.otf", "bold": "L2CNotoSansSC-Bold.otf"}
DEFAULTS_DIR = Path(__file__).resolve().parent / "templates" / "quoting" / "pdf"
DEFAULT_FILES = {DocumentTemplate.Kind.QUOTE: ("default_quote.html", "default_quote.css")}
MAX_TEMPLATE_CHARS = 200_000
LOGO_MAX_BYTES = 1024 * 1024
LOGO_TYPES = ("image/png", "image/jpeg", "image/svg+xml")


# --- the template engine: Django template language, restricted --------------------------------------

register = Library()  # what document templates may use: safe built-in tags and filters, i18n, l10n, ours

_REFUSED_TAGS = {"debug", "url", "csrf_token", "querystring"}  # leak context/settings or need a request
register.tags.update({name: tag for name, tag in defaulttags.register.tags.items() if name not in _REFUSED_TAGS})
register.filters.update(defaultfilters.register.filters)
for _library in (i18n_tags.register, l10n_tags.register):
    register.tags.update(_library.tags)
    register.filters.update(_library.filters)


@register.filter
def money(value, currency: str = "") -> str:
    """An amount rounded to the currency's minor unit with thousands separators: 1,234.50 (JPY: 1,235)."""
    if value in (None, ""):
        return ""
    try:
        amount = round_money(value, currency if is_currency_code(currency) else "XXX")
    except (ValueError, TypeError):
        return str(value)
    return f"{amount:,}"


@register.filter
def number(value) -> str:
    """A quantity or percentage without trailing zeros: 2.0000 -> 2, 12.5000 -> 12.5."""
    if value in (None, ""):
        return ""
    try:
        value = Decimal(str(value))
    except ArithmeticError:
        return str(value)
    if value == value.to_integral_value():
        return f"{value.quantize(Decimal(1)):f}"
    return f"{value.normalize():f}"


class DocumentEngine(Engine):
    """An engine with no loaders (no include/extends of files) and only `register` as built-ins."""

    default_builtins: list = []

    def get_template_builtins(self, builtins):
        return [register]


DOCUMENT_ENGINE = DocumentEngine(
    libraries={"i18n": "django.templatetags.i18n", "l10n": "django.templatetags.l10n"},
    debug=True,  # keeps line numbers for TemplateSyntaxError; nothing else is shown to anyone
    autoescape=True,
)


def template_errors(html: str, *, field: str = "html") -> list[FieldError]:
    """Why `html` is not a usable document template (compile errors with their line), or []."""
    if not html or not html.strip():
        return [FieldError(field, _("The template is empty."), "required")]
    if len(html) > MAX_TEMPLATE_CHARS:
        return [FieldError(field, _("At most %(limit)d characters (got %(count)d).")
                           % {"limit": MAX_TEMPLATE_CHARS, "count": len(html)}, "max_length")]
    try:
        template = DOCUMENT_ENGINE.from_string(html)
    except TemplateSyntaxError as exc:
        line = (getattr(exc, "template_debug", None) or {}).get("line")
        message = str(exc.args[0]) if exc.args else str(exc)
        if line:
            message = _("Line %(line)s: %(error)s") % {"line": line, "error": message}
        return [FieldError(field, message, "template_syntax")]
    try:  # a filter given a bad argument compiles but fails when rendered: try it on the sample quote
        template.render(Context(sample_context(), autoescape=True))
    except Exception as exc:  # noqa: BLE001 - any failure of an admin's template is reported, not raised
        return [FieldError(field, _("The template fails on the sample quote: %(error)s") % {"error": exc},
                           "template_render")]
    return []


# --- the context: plain values only ------------------------------------------------------------------

def logo_data_uri(company: CompanyProfile) -> str:
    if not company.logo or company.logo_type not in LOGO_TYPES:
        return ""
    return f"data:{company.logo_type};base64,{base64.b64encode(bytes(company.logo)).decode('ascii')}"


def company_context(company: CompanyProfile) -> dict:
    return {
        "name": company.name, "legal_name": company.legal_name or company.name, "address": company.address,
        "country": company.country, "tax_id": company.tax_id, "email": company.email, "phone": company.phone,
        "website": company.website, "currency": company.currency, "logo_url": logo_data_uri(company),
    }


def _line_context(line: QuoteLine, index: int) -> dict:
    product: Product = line.product
    return {
        "number": index, "sku": product.sku, "name": product.name,
        "description": line.description, "quantity": line.quantity, "unit": line.unit or product.unit,
        "list_price": line.list_price, "discount_percent": line.discount_percent, "unit_price": line.unit_price,
        "list_amount": line.list_amount, "net_amount": line.net_amount, "tax_rate": line.tax_rate,
        "tax_amount": line.tax_amount, "gross_amount": line.gross_amount, "tax_inclusive": line.tax_inclusive,
        "optional": line.optional, "section": line.section,
        "service_start": line.service_start, "service_end": line.service_end,
        "recurring": product.get_billing_period_display() if product.billing_period else "",
    }


def _taxes(quote: Quote) -> list[dict]:
    taxes = []
    for row in quote.tax_breakdown or []:
        if not isinstance(row, dict):
            continue
        taxes.append({**row, "rate": Decimal(str(row.get("rate", "0"))), "net": Decimal(str(row.get("net", "0"))),
                      "tax": Decimal(str(row.get("tax", "0")))})
    return taxes


def quote_context(quote: Quote, *, lines: list[QuoteLine] | None = None, company: CompanyProfile | None = None) -> dict:
    """Everything a quote template may print (documented in docs/documents.md)."""
    company = company or CompanyProfile.get()
    if lines is None:
        lines = list(quote.lines.select_related("product").order_by("position", "id"))
    sections: list[dict] = []
    by_name: dict[str, dict] = {}
    for index, line in enumerate(lines, start=1):
        data = _line_context(line, index)
        section = by_name.get(line.section)
        if section is None:
            section = by_name[line.section] = {"name": line.section, "lines": [], "net_total": Decimal(0)}
            sections.append(section)
        section["lines"].append(data)
        if not line.optional:
            section["net_total"] += line.net_amount
    account, contact, owner = quote.account, quote.contact, quote.owner
    address = [account.street, " ".join(p for p in (account.postal_code, account.city) if p), account.region,
               account.country]
    return {
        "company": company_context(company),
        "quote": {
            "number": quote.number, "version": quote.version, "title": quote.title,
            "status": quote.status, "status_display": quote.get_status_display(),
            "quote_date": quote.quote_date, "valid_until": quote.valid_until,
            "validity_days": (quote.valid_until - quote.quote_date).days
            if quote.valid_until and quote.quote_date else None,
            "currency": quote.currency, "payment_terms": quote.get_payment_terms_display(),
            "payment_terms_code": quote.payment_terms, "terms": quote.terms, "notes": quote.notes,
            "header_discount_percent": quote.header_discount_percent,
            "contract_start": quote.contract_start, "contract_term_months": quote.contract_term_months,
            "auto_renew": quote.auto_renew, "notice_days": quote.notice_days,
            "owner_name": str(owner) if owner else "", "owner_email": owner.email if owner else "",
        },
        "customer": {
            "name": account.name, "address_lines": [p for p in address if p], "country": account.country,
            "phone": account.phone, "website": account.website,
        },
        "contact": {
            "name": contact.full_name, "title": contact.title, "email": contact.email,
            "phone": contact.phone or contact.mobile,
        } if contact else None,
        "sections": sections,
        "has_sections": any(s["name"] for s in sections),
        "has_optional": any(line.optional for line in lines),
        "totals": {
            "list_total": quote.list_total, "discount_total": quote.discount_total, "net_total": quote.net_total,
            "tax_total": quote.tax_total, "gross_total": quote.gross_total, "taxes": _taxes(quote),
            "effective_discount_percent": quote.effective_discount_percent,
        },
        "today": timezone.localdate(),
    }


def sample_context(company: CompanyProfile | None = None) -> dict:
    """A made-up quote (English and Chinese text, a section, an optional line, two tax rates): for the
    template editor's preview and for checking that a template renders."""
    from l2c.customers.models import Account, Contact

    currency = "CNY"
    account = Account(name="上海示例科技有限公司 (Shanghai Example Tech)", street="浦东新区世纪大道 100 号",
                      city="上海", postal_code="200120", country="CN")
    contact = Contact(account=account, first_name="娜", last_name="李", title="采购经理", email="li.na@example.com")
    today = dt.date(2026, 1, 15)
    quote = Quote(number="QUO-SAMPLE-000001", version=1, title=_("Sample quote"), account=account, contact=contact,
                  currency=currency, quote_date=today, valid_until=today + dt.timedelta(days=30),
                  payment_terms=PaymentTerms.NET_30, terms=_("Prices exclude shipping.") + "\n付款期限：30 天。",
                  notes="感谢您的信任！ Thank you for your business.")
    specs = [  # section, sku, name, quantity, list price, discount %, tax rate %, optional
        (_("Hardware"), "HW-100", "工业网关 Industrial gateway", "10", "1200.00", "10", "13", False),
        (_("Hardware"), "HW-200", "传感器套件 Sensor kit", "25", "86.50", "0", "13", False),
        (_("Services"), "SV-300", "安装调试 Installation & commissioning", "1", "5000.00", "0", "6", False),
        (_("Services"), "SV-400", "现场培训 On-site training (optional)", "2", "1500.00", "0", "6", True),
    ]
    lines, taxes = [], {}
    for position, (section, sku, name, qty, price, discount, rate, optional) in enumerate(specs, start=1):
        qty, price, discount, rate = Decimal(qty), Decimal(price), Decimal(discount), Decimal(rate)
        unit_price = price * (100 - discount) / 100
        net = round_money(qty * unit_price, currency)
        tax = round_money(net * rate / 100, currency)
        product = Product(sku=sku, name=name, unit="each")
        lines.append(QuoteLine(position=position, section=section, product=product, quantity=qty, list_price=price,
                               discount_percent=discount, unit_price=unit_price, list_amount=qty * price,
                               net_amount=net, tax_rate=rate, tax_amount=tax, gross_amount=net + tax, optional=optional))
        if not optional:
            entry = taxes.setdefault(rate, {"rate": str(rate), "net": Decimal(0), "tax": Decimal(0)})
            entry["net"] += net
            entry["tax"] += tax
    counted = [line for line in lines if not line.optional]
    quote.list_total = sum((line.list_amount for line in counted), Decimal(0))
    quote.net_total = sum((line.net_amount for line in counted), Decimal(0))
    quote.discount_total = quote.list_total - quote.net_total
    quote.tax_total = sum((line.tax_amount for line in counted), Decimal(0))
    quote.gross_total = quote.net_total + quote.tax_total
    quote.tax_breakdown = [{"rate": e["rate"], "net": str(e["net"]), "tax": str(e["tax"])} for e in taxes.values()]
    return quote_context(quote, lines=lines, company=company or CompanyProfile.get())


# --- templates: the active one, the shipped default, editing -----------------------------------------

def default_template(kind: str = DocumentTemplate.Kind.QUOTE) -> DocumentTemplate:
    """The shipped template as an unsaved row (pk None)."""
    if kind not in DEFAULT_FILES:
        raise NotFound(_("There is no %(kind)s template.") % {"kind": kind})
    html_name, css_name = DEFAULT_FILES[kind]
    return DocumentTemplate(kind=kind, name=_("Default"), version=0, active=False,
                            html=(DEFAULTS_DIR / html_name).read_text(encoding="utf-8"),
                            css=(DEFAULTS_DIR / css_name).read_text(encoding="utf-8"))


def active_template(kind: str = DocumentTemplate.Kind.QUOTE) -> DocumentTemplate:
    """The template in use: the active saved version, else the shipped default."""
    return DocumentTemplate.objects.filter(kind=kind, active=True).first() or default_template(kind)


def template_versions(kind: str = DocumentTemplate.Kind.QUOTE):
    return DocumentTemplate.objects.filter(kind=kind).select_related("edited_by").order_by("-version")


def _require_admin(actor, message: str) -> None:
    if actor is None or not getattr(actor, "is_admin", False):
        raise PermissionDenied(message)


@transaction.atomic
def document_template_save(*, actor, kind: str, html: str, css: str = "", name: str = "") -> DocumentTemplate:
    """Save the text as a new version in use; the version in use until now is kept, inactive."""
    _require_admin(actor, _("Only an admin can edit document templates."))
    if kind not in DEFAULT_FILES:
        raise NotFound(_("There is no %(kind)s template.") % {"kind": kind})
    html, css, name = html or "", css or "", (name or "").strip() or _("Custom")
    errors = template_errors(html)
    if len(css) > MAX_TEMPLATE_CHARS:
        errors.append(FieldError("css", _("At most %(limit)d characters (got %(count)d).")
                                 % {"limit": MAX_TEMPLATE_CHARS, "count": len(css)}, "max_length"))
    errors += check_max_lengths(DocumentTemplate, {"name": name})
    for field, value in (("html", html), ("css", css), ("name", name)):
        if "\x00" in value:
            errors.append(FieldError(field, _("Text may not contain the NUL character."), "null_character"))
    if errors:
        raise ValidationFailed(errors)
    rows = DocumentTemplate.objects.select_for_update().filter(kind=kind)
    current = rows.filter(active=True).first()
    last_version = max((row.version for row in rows), default=0)
    if current is not None:
        current.active = False
        current.save(update_fields=["active", "updated_at"])
        audit.record(actor=actor, action=audit.Action.TRANSITION, instance=current,
                     changes={"active": [True, False]})
    template = DocumentTemplate.objects.create(kind=kind, name=name, html=html, css=css, active=True,
                                               version=last_version + 1, edited_by=actor)
    audit.record(actor=actor, action=audit.Action.CREATE, instance=template)
    return template


@transaction.atomic
def document_template_restore_default(*, actor, kind: str) -> None:
    """Go back to the shipped template: the saved version in use becomes inactive (all versions are kept)."""
    _require_admin(actor, _("Only an admin can edit document templates."))
    if kind not in DEFAULT_FILES:
        raise NotFound(_("There is no %(kind)s template.") % {"kind": kind})
    current = DocumentTemplate.objects.select_for_update().filter(kind=kind, active=True).first()
    if current is None:
        return
    current.active = False
    current.save(update_fields=["active", "updated_at"])
    audit.record(actor=actor, action=audit.Action.TRANSITION, instance=current,
                 changes={"active": [True, False], "restored": [None, "default"]})


# --- the company profile (what documents print as the letterhead) -----------------------------------

COMPANY_FIELDS = ("name", "legal_name", "address", "country", "tax_id", "email", "phone", "website", "currency")


def logo_type_of(data: bytes) -> str | None:
    """The MIME type of a PNG, JPEG or SVG image judged by its content, or None when it is none of those."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") or data.startswith(b"\xff\xd8\xff"):
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(io.BytesIO(data)) as image:
                image.verify()
                kind = image.format
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
            return None
        return {"PNG": "image/png", "JPEG": "image/jpeg"}.get(kind)
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        if b"<!DOCTYPE" in data.upper() or b"<!ENTITY" in data.upper():
            return None  # no DTDs: no entity expansion, no external entities
        try:
            root = ET.fromstring(data)
        except ET.ParseError:
            return None
        if root.tag in ("svg", "{http://www.w3.org/2000/svg}svg"):
            return "image/svg+xml"
    return None


@transaction.atomic
def company_profile_update(*, actor, logo: bytes | None = None, remove_logo: bool = False,
                           **values) -> CompanyProfile:
    """Change the company's details and logo (admin). A logo is a PNG, JPEG or SVG of at most 1 MB."""
    _require_admin(actor, _("Only an admin can change the company profile."))
    errors = [FieldError(name, _("This field cannot be changed here."), "unknown_field")
              for name in sorted(set(values) - set(COMPANY_FIELDS))]
    values = {k: (v.strip() if isinstance(v, str) else v) for k, v in values.items() if k in COMPANY_FIELDS}
    for name, value in values.items():
        if value is None:
            values[name] = ""
        elif not isinstance(value, str):
            errors.append(FieldError(name, _("Enter text."), "invalid"))
    if "name" in values and not values["name"]:
        errors.append(FieldError("name", _("This field is required."), "required"))
    if "country" in values:
        values["country"] = values["country"].upper()
        if not values["country"]:
            errors.append(FieldError("country", _("This field is required."), "required"))
        errors += check_country(values)
    if "currency" in values:
        values["currency"] = values["currency"].upper()
        if not is_currency_code(values["currency"]):
            errors.append(FieldError("currency", _("Enter an ISO 4217 currency code, e.g. CNY, USD, EUR."),
                                     "invalid_currency"))
    errors += check_email(values)
    if values.get("website") and not urlsplit(values["website"] if "//" in values["website"]
                                              else "//" + values["website"]).hostname:
        errors.append(FieldError("website", _("Enter a web address, e.g. https://example.com."), "invalid"))
    errors += check_max_lengths(CompanyProfile, {k: v for k, v in values.items() if k not in {e.field for e in errors}})
    logo_type = ""
    if logo is not None:
        if len(logo) > LOGO_MAX_BYTES:
            errors.append(FieldError("logo", _("The logo may be at most 1 MB (got %(size)s bytes).")
                                     % {"size": len(logo)}, "too_large"))
        elif not logo:
            errors.append(FieldError("logo", _("The file is empty."), "empty"))
        else:
            logo_type = logo_type_of(logo) or ""
            if not logo_type:
                errors.append(FieldError("logo", _("The logo must be a PNG, JPEG or SVG image."), "invalid_image"))
    if errors:
        raise ValidationFailed(errors)
    profile = CompanyProfile.get()
    profile = CompanyProfile.objects.select_for_update().get(pk=profile.pk)
    before = audit.snapshot(profile, COMPANY_FIELDS)
    before["logo"] = hashlib.sha256(bytes(profile.logo)).hexdigest() if profile.logo else None
    for name, value in values.items():
        setattr(profile, name, value)
    if logo is not None:
        profile.logo, profile.logo_type = logo, logo_type
    elif remove_logo:
        profile.logo, profile.logo_type = None, ""
    profile.save()
    after = audit.snapshot(profile, COMPANY_FIELDS)
    after["logo"] = hashlib.sha256(bytes(profile.logo)).hexdigest() if profile.logo else None
    changes = audit.diff(before, after)
    if changes:
        audit.record(actor=actor, action=audit.Action.UPDATE, instance=profile, changes=changes)
    return profile


# --- rendering ---------------------------------------------------------------------------------------

def _owner_language(quote: Quote) -> str:
    owner = quote.owner
    return (getattr(owner, "language", "") or settings.LANGUAGE_CODE) if owner else settings.LANGUAGE_CODE


def render_template_html(template: DocumentTemplate, context: dict) -> str:
    return DOCUMENT_ENGINE.from_string(template.html).render(Context(context, autoescape=True))


def render_quote_html(quote: Quote, *, template: DocumentTemplate | None = None) -> str:
    """The quote's document as HTML (the template's HTML; its CSS is applied by `render_quote_pdf`)."""
    template = template or active_template(DocumentTemplate.Kind.QUOTE)
    with translation.override(_owner_language(quote)):
        return render_template_html(template, quote_context(quote))


def render_quote_pdf(quote: Quote, *, template: DocumentTemplate | None = None) -> bytes:
    """The quote as a PDF, in its owner's language, from `template` (default: the one in use)."""
    template = template or active_template(DocumentTemplate.Kind.QUOTE)
    with translation.override(_owner_language(quote)):
        html = render_template_html(template, quote_context(quote))
        return html_to_pdf(html, template.css)


def render_sample_pdf(*, template: DocumentTemplate | None = None) -> bytes:
    """The made-up sample quote as a PDF (template preview), in the current language."""
    template = template or active_template(DocumentTemplate.Kind.QUOTE)
    return html_to_pdf(render_template_html(template, sample_context()), template.css)


def quote_pdf_bytes(quote: Quote) -> bytes:
    """What staff download: the PDF the customer received once the quote was sent, else a fresh render."""
    if quote.sent_pdf:
        return bytes(quote.sent_pdf)
    return render_quote_pdf(quote)


def pdf_filename(quote: Quote) -> str:
    return f"{quote.number}-v{quote.version}.pdf"


# --- WeasyPrint, offline -----------------------------------------------------------------------------

def _font_face_css() -> str:
    faces = [
        f'@font-face {{ font-family: "{FONT_FAMILY}"; font-weight: {weight}; font-style: normal; '
        f'src: url("{(FONT_DIR / filename).as_uri()}") format("opentype"); }}'
        for weight, filename in (("400", FONT_FILES["normal"]), ("700", FONT_FILES["bold"]))
    ]
    return "\n".join(faces) + f'\nhtml {{ font-family: "{FONT_FAMILY}", sans-serif; }}\n'


def _local_only_fetcher():
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class LocalOnlyFetcher(URLFetcher):
        """data: URIs and the shipped fonts only; every other URL is refused (and remembered in `refused`)."""

        def __init__(self):
            super().__init__(timeout=5, allowed_protocols={"data", "file"}, allow_redirects=False)
            self.refused: list[str] = []

        def fetch(self, url, headers=None):
            scheme = url.split(":", 1)[0].lower()
            if scheme == "data":
                return super().fetch(url, headers)
            if scheme == "file":
                path = Path(unquote(urlsplit(url).path)).resolve()
                if path.parent == FONT_DIR.resolve() and path.is_file():
                    content_type = mimetypes.guess_type(path.name)[0] or "font/otf"
                    return URLFetcherResponse(url, path.read_bytes(), {"Content-Type": content_type})
            self.refused.append(url)
            log.warning("document rendering refused to fetch %s", url[:200])
            raise ValueError(f"L2C documents do not fetch {url[:200]}")

    return LocalOnlyFetcher()


def html_to_pdf(html: str, css: str = "", *, fetcher=None) -> bytes:
    """Print HTML (+ CSS) to PDF with the shipped font, fetching nothing from the network."""
    from weasyprint import CSS, HTML
    from weasyprint.text.fonts import FontConfiguration

    fetcher = fetcher or _local_only_fetcher()
    font_config = FontConfiguration()
    stylesheets = [CSS(string=_font_face_css(), font_config=font_config, url_fetcher=fetcher)]
    if css and css.strip():
        stylesheets.append(CSS(string=css, font_config=font_config, url_fetcher=fetcher))
    document = HTML(string=html, url_fetcher=fetcher, base_url=None)
    return document.write_pdf(stylesheets=stylesheets, font_config=font_config)
