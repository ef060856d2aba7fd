"""Builders for contract and portal tests: a real sent quote (through the quote services, the PDF renderer
and the portal links), drawn signatures, and a signed contract.

Import `signing_var` and `_signing_var_dir` (fixtures; `signing_var` is autouse) into the test module so the company certificate is generated once
per run in a temporary VAR_DIR, never in the repository.
"""
from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.utils import timezone

from l2c.customers.tests.factories import AccountFactory, ContactFactory
from l2c.pipeline.tests.factories import OpportunityFactory, stage_named
from l2c.quoting.tests.factories import PriceBookEntryFactory, PriceBookFactory, ProductFactory

CUSTOMER_EMAIL = "buyer@example.com"


@pytest.fixture(scope="session")
def _signing_var_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("contracts-var")


@pytest.fixture(autouse=True)
def signing_var(settings, _signing_var_dir):
    """A temporary VAR_DIR shared by the run (the company certificate is generated once). Autouse in every
    module that imports it."""
    settings.VAR_DIR = _signing_var_dir
    settings.L2C_SIGNING_PKCS12 = ""
    settings.L2C_SIGNING_PASSWORD = ""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    return settings


def drawn_png(*, blank: bool = False, size=(300, 100)) -> bytes:
    """A PNG like the portal's canvas sends: transparent, with a dark stroke unless `blank`."""
    from PIL import Image, ImageDraw

    image = Image.new("RGBA", size, (0, 0, 0, 0))
    if not blank:
        draw = ImageDraw.Draw(image)
        draw.line([(10, 70), (60, 20), (110, 80), (170, 25), (240, 75), (290, 30)], fill=(17, 24, 39, 255), width=4)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def png_data_url(data: bytes) -> str:
    import base64

    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def make_sent_quote(*, owner, email: str = CUSTOMER_EMAIL, contract_start: dt.date | None = None, term: int = 12,
                    auto_renew: bool = False, notice_days: int = 30, stage: str = "Negotiation"):
    """(quote, link, token): an opportunity with a quote of two lines and one optional line, approved
    (no approval rule), sent with its real PDF and a portal link."""
    from l2c.quoting import portal_links
    from l2c.quoting.pdf import render_quote_pdf
    from l2c.quoting.services import approvals as approval_services
    from l2c.quoting.services import quotes as quote_services

    account = AccountFactory(owner=owner, country="GB", name="Acme Trading Ltd")
    contact = ContactFactory(account=account, owner=owner, email=email)
    opportunity = OpportunityFactory(owner=owner, account=account, contact=contact, currency="USD",
                                     stage=stage_named(stage), expected_close_date=timezone.localdate())
    book = PriceBookFactory(currency="USD")
    # GB standard VAT 20 % is seeded by the quoting migrations
    widget = ProductFactory(name="Widget")
    service = ProductFactory(name="Setup service")
    extra = ProductFactory(name="Extended warranty")
    for product, price in ((widget, "100.00"), (service, "250.00"), (extra, "40.00")):
        PriceBookEntryFactory(price_book=book, product=product, list_price=Decimal(price))
    quote = quote_services.quote_create(
        actor=owner, opportunity=opportunity, title="Widgets for Acme", price_book=book,
        contract_start=contract_start, contract_term_months=term, auto_renew=auto_renew, notice_days=notice_days,
        terms="Delivery within 30 days.",
    )
    quote_services.line_add(actor=owner, quote=quote, product=widget, quantity=10, discount_percent=Decimal("10"))
    quote_services.line_add(actor=owner, quote=quote, product=service, quantity=1)
    quote_services.line_add(actor=owner, quote=quote, product=extra, quantity=10, optional=True)
    quote = approval_services.quote_submit(actor=owner, quote=quote)
    quote.refresh_from_db()
    quote = quote_services.quote_mark_sent(actor=owner, quote=quote, pdf=render_quote_pdf(quote))
    link, token = portal_links.link_create(actor=owner, quote=quote, email=email)
    quote.refresh_from_db()
    return quote, link, token


def sign(link, quote, **overrides):
    """Sign through the service with sensible values; pass overrides to break one."""
    from l2c.contracts import services

    values = {
        "link": link, "signer_name": "Jane Buyer", "signer_email": "", "consent": True,
        "drawn_signature": drawn_png(), "ip": "203.0.113.7", "user_agent": "pytest-browser/1.0",
        "shown_pdf_sha256": quote.sent_pdf_sha256,
    }
    values.update(overrides)
    return services.sign_quote(**values)
