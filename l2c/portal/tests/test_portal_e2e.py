"""The portal's signature pad in a real browser (Debian's chromium via Playwright): draw with the mouse,
clear, draw again, agree, type the name, sign — and the contract exists.

The browser fixtures (`page`) live in the root conftest.py."""
from concurrent.futures import ThreadPoolExecutor

import pytest
from playwright.sync_api import expect

from l2c.contracts import signing
from l2c.contracts.models import Contract
from l2c.contracts.tests.factories import _signing_var_dir, make_sent_quote, signing_var  # noqa: F401
from l2c.quoting.models import QuoteStatus

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def draw(page, offset=0):
    canvas = page.locator("#signature-pad")
    canvas.scroll_into_view_if_needed()  # the mouse only reaches what is in the viewport
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + 30, box["y"] + 40 + offset)
    page.mouse.down()
    for step in range(1, 12):
        page.mouse.move(box["x"] + 30 + step * 25, box["y"] + 40 + offset + (25 if step % 2 else -10))
    page.mouse.up()


def test_draw_and_sign_in_the_browser(page, rep):
    quote, _link, token = make_sent_quote(owner=rep)
    page.goto(f"/portal/q/{token}/")
    expect(page.locator("h1")).to_contain_text(quote.number)
    page.click("#accept-sign")
    expect(page.locator("#shown-sha256")).to_have_text(quote.sent_pdf_sha256)
    page.wait_for_load_state("load")  # signature.js (deferred) has bound the canvas
    # a drawing, cleared: the form is refused for the empty box
    draw(page)
    page.click("#signature-clear")
    page.check("#id_consent")
    page.fill("#id_signer_name", "Jane Buyer")
    page.click("#sign-submit")
    expect(page.locator(".errorlist")).to_contain_text("Draw your signature")
    assert not Contract.objects.exists()
    # drawn again and signed
    page.wait_for_load_state("load")
    draw(page, offset=20)
    page.click("#sign-submit")
    expect(page.locator("h1")).to_contain_text("signed")
    contract = Contract.objects.get(quote=quote)
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.ACCEPTED and contract.lines.count() == 2
    assert bytes(contract.signature.drawn_signature).startswith(b"\x89PNG")
    # pyHanko runs its own event loop: verify in another thread than Playwright's
    with ThreadPoolExecutor(max_workers=1) as pool:
        assert pool.submit(signing.verify_document, bytes(contract.signature.signed_pdf)).result().valid
