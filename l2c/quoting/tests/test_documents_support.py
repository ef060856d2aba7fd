"""Helpers for the document tests (no tests here): quotes built with the ORM, PDF text and fonts."""
from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

from django.utils import timezone

from l2c.customers.tests.factories import AccountFactory, ContactFactory
from l2c.pipeline.tests.factories import OpportunityFactory
from l2c.quoting.models import Product, Quote, QuoteLine, QuoteStatus

CHINESE_PRODUCT = "工业网关"
CHINESE_NOTE = "感谢您的信任，付款期限三十天。"


def make_quote(owner, *, status=QuoteStatus.APPROVED, number="QUO-2026-000042", version=1, lines=None,
               contact_email="buyer@customer.example", **values) -> Quote:
    """A quote with totals set, as pricing would leave it: CNY, a 13 % and a 6 % line and an optional one."""
    account = AccountFactory(owner=owner, name="上海示例科技有限公司", street="世纪大道 100 号", city="上海",
                             postal_code="200120")
    contact = ContactFactory(account=account, owner=owner, first_name="娜", last_name="李", email=contact_email)
    opportunity = OpportunityFactory(owner=owner, account=account, contact=contact, currency="CNY")
    today = timezone.localdate()
    quote = Quote.objects.create(
        number=number, version=version, opportunity=opportunity, account=account, contact=contact, owner=owner,
        title="Gateways for the Pudong plant", status=status, currency="CNY", quote_date=today,
        valid_until=today + dt.timedelta(days=30), terms="Delivery within 4 weeks.", notes=CHINESE_NOTE,
        list_total=Decimal("17000.00"), discount_total=Decimal("1200.00"), net_total=Decimal("15800.00"),
        tax_total=Decimal("1688.00"), gross_total=Decimal("17488.00"),
        tax_breakdown=[{"rate": "13", "net": "10800.00", "tax": "1404.00"},
                       {"rate": "6", "net": "5000.00", "tax": "300.00"}],
        **values,
    )
    gateway = Product.objects.create(sku=f"HW-{quote.pk}", name=f"{CHINESE_PRODUCT} Industrial gateway")
    service = Product.objects.create(sku=f"SV-{quote.pk}", name="Installation", kind="service",
                                     tax_category="services")
    training = Product.objects.create(sku=f"TR-{quote.pk}", name="On-site training", kind="service")
    specs = lines if lines is not None else [
        ("Hardware", gateway, "10", "1200", "10", "10800.00", "13", False),
        ("Services", service, "1", "5000", "0", "5000.00", "6", False),
        ("Services", training, "2", "1500", "0", "3000.00", "6", True),
    ]
    for position, (section, product, qty, price, discount, net, rate, optional) in enumerate(specs, start=1):
        net = Decimal(net)
        tax = (net * Decimal(rate) / 100).quantize(Decimal("0.01"))
        QuoteLine.objects.create(quote=quote, position=position, section=section, product=product,
                                 quantity=Decimal(qty), list_price=Decimal(price), discount_percent=Decimal(discount),
                                 unit_price=Decimal(price) * (100 - Decimal(discount)) / 100,
                                 list_amount=Decimal(qty) * Decimal(price), net_amount=net, tax_rate=Decimal(rate),
                                 tax_amount=tax, gross_amount=net + tax, optional=optional)
    return quote


def pdf_text(data: bytes) -> str:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


def pdf_fonts(data: bytes) -> set[str]:
    """The BaseFont names of every font used on every page (subset prefix removed)."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    names = set()
    for page in reader.pages:
        fonts = page["/Resources"].get("/Font", {})
        for ref in fonts.values():
            font = ref.get_object()
            names.add(str(font["/BaseFont"]).lstrip("/").split("+", 1)[-1])
            for descendant in font.get("/DescendantFonts", []):
                names.add(str(descendant.get_object()["/BaseFont"]).lstrip("/").split("+", 1)[-1])
    return names


def pdf_image_sizes(data: bytes) -> set[tuple[int, int]]:
    """The (width, height) of every distinct image in the PDF."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    return {image.image.size for page in reader.pages for image in page.images}


def png_bytes(width: int = 40, height: int = 20, color=(11, 79, 138)) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


# --- the documents API: served by the project's API once the lead registers the router; until then a test
# API with the same auth and error handlers serves it --------------------------------------------------

_TEST_URLCONF = None


def _test_urlconf():
    global _TEST_URLCONF
    if _TEST_URLCONF is None:
        import types

        from django.urls import path

        from l2c import urls as project_urls
        from l2c.api import BearerToken, JsonObjectParser, L2CNinjaAPI, SessionAuth
        from l2c.api import api as project_api
        from l2c.quoting.api_documents import router

        test_api = L2CNinjaAPI(title="documents (test)", version="test", urls_namespace="documents_test_api",
                               auth=[BearerToken(), SessionAuth()], parser=JsonObjectParser())
        test_api._exception_handlers.update(project_api._exception_handlers)
        test_api.add_router("/", router)
        module = types.ModuleType("documents_test_urls")
        module.urlpatterns = [path("documents-test-api/v1/", test_api.urls), *project_urls.urlpatterns]
        _TEST_URLCONF = module
    return _TEST_URLCONF


def documents_api_prefix(settings) -> str:
    """The URL prefix that serves l2c/quoting/api_documents.py (`settings`: pytest-django's fixture)."""
    from django.urls import Resolver404, resolve

    try:
        if "api" in resolve("/api/v1/quotes/1/send").namespaces:  # not the catch-all "no such endpoint"
            return "/api/v1"
    except Resolver404:
        pass
    settings.ROOT_URLCONF = _test_urlconf()
    return "/documents-test-api/v1"
