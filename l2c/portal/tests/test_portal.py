"""The customer portal through the Django test client: view, download, sign, decline, and every refusal."""
import datetime as dt
import re

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from l2c.contracts import signing
from l2c.contracts.consent import CONSENT_TEXTS, CONSENT_VERSION
from l2c.contracts.models import Contract, Signature
from l2c.contracts.tests.factories import (  # noqa: F401 - fixtures
    _signing_var_dir,
    drawn_png,
    make_sent_quote,
    png_data_url,
    signing_var,
)
from l2c.core.models import AuditEvent
from l2c.pipeline.models import Activity, Opportunity
from l2c.quoting.models import PortalLink, Quote, QuoteStatus

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _portal_settings(settings):
    settings.L2C_PORTAL_RATE_PER_MINUTE = 1000
    settings.L2C_PORTAL_RATE_PER_HOUR = 1000
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def sent(rep):
    return make_sent_quote(owner=rep)


def url(token, suffix=""):
    return f"/portal/q/{token}/{suffix}"


def sign_form(quote, **overrides):
    data = {"consent": "on", "signer_name": "Jane Buyer", "signer_title": "CFO", "signer_email": "",
            "drawn_signature": png_data_url(drawn_png()), "shown_pdf_sha256": quote.sent_pdf_sha256}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def portal_events(quote, name):
    return AuditEvent.objects.filter(object_type="quoting.quote", object_id=str(quote.pk),
                                     changes__portal_event__1=name)


def test_the_whole_path_send_view_sign_contract(rep, django_capture_on_commit_callbacks):
    from l2c.quoting.services.sending import quote_send

    # given: a quote sent by e-mail the real way; the customer has only the link in the message
    quote, _link, _token = make_sent_quote(owner=rep)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        link = quote_send(actor=rep, quote=quote, to_email="buyer@example.com")
    body = mail.outbox[0].body
    token = re.search(r"/portal/q/([A-Za-z0-9_\-]+)/", body).group(1)
    client = Client(HTTP_USER_AGENT="Mozilla/5.0 (portal test)", REMOTE_ADDR="198.51.100.20")
    # when: the customer opens the quote
    page = client.get(url(token))
    # then: the quote is shown and the view recorded
    assert page.status_code == 200
    text = page.content.decode()
    assert quote.number in text and "Acme Trading Ltd" in text and "1,380.00 USD" in text
    assert "Accept and sign" in text and "Decline" in text
    link.refresh_from_db()
    quote.refresh_from_db()
    assert link.first_viewed_at is not None and link.last_viewed_at is not None and quote.viewed_at is not None
    assert portal_events(quote, "viewed").get().changes["ip"][1] == "198.51.100.20"
    # the PDF is exactly the one sent
    pdf = client.get(url(token, "pdf"))
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf.content == bytes(quote.sent_pdf)
    # the sign page shows the consent text, its version and the hash of the PDF
    form_page = client.get(url(token, "sign/"))
    form_text = form_page.content.decode()
    assert CONSENT_TEXTS["en"][:60] in form_text and CONSENT_VERSION in form_text
    assert quote.sent_pdf_sha256 in form_text
    # when: the customer signs
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url(token, "sign/"), sign_form(quote, signer_email="jane@example.com"))
    # then
    assert response.status_code == 302 and response["Location"] == url(token)
    contract = Contract.objects.get(quote=quote)
    assert contract.lines.count() == 2
    quote.refresh_from_db()
    link.refresh_from_db()
    assert quote.status == QuoteStatus.ACCEPTED and link.used_at is not None
    assert Opportunity.objects.get(pk=quote.opportunity_id).stage.is_won
    signature = contract.signature
    assert signature.ip_address == "198.51.100.20" and signature.user_agent == "Mozilla/5.0 (portal test)"
    assert [e["event"] for e in signature.events][:2] == ["sent", "viewed"]
    assert signing.verify_document(bytes(signature.signed_pdf)).valid
    # the link now shows the outcome and offers the signed PDF
    outcome = client.get(url(token))
    assert outcome.status_code == 200 and "Jane Buyer" in outcome.content.decode()
    assert "Accept and sign" not in outcome.content.decode()
    signed = client.get(url(token, "signed.pdf"))
    assert signed.status_code == 200 and signed.content == bytes(signature.signed_pdf)
    assert mail.outbox[-1].to == ["jane@example.com"]


def test_signature_without_consent_is_refused_and_nothing_recorded_but_the_attempt(sent):
    quote, link, token = sent
    client = Client()
    client.get(url(token))
    response = client.post(url(token, "sign/"), sign_form(quote, consent=None))
    assert response.status_code == 422
    assert "Tick the box to agree" in response.content.decode()
    assert not Signature.objects.exists() and not Contract.objects.exists()
    quote.refresh_from_db()
    link.refresh_from_db()
    assert quote.status == QuoteStatus.SENT and link.used_at is None
    assert portal_events(quote, "sign_refused").count() == 1


@pytest.mark.parametrize("override, message", [
    ({"signer_name": ""}, "Type your full name."),
    ({"drawn_signature": ""}, "Draw your signature in the box."),
    ({"drawn_signature": png_data_url(drawn_png(blank=True))}, "The signature box is empty"),
    ({"drawn_signature": "data:image/png;base64,!!!"}, "must be a PNG image"),
    ({"drawn_signature": "data:image/jpeg;base64,AAAA"}, "must be a PNG image"),
])
def test_bad_form_input_is_shown_beside_the_field(sent, override, message):
    quote, _link, token = sent
    response = Client().post(url(token, "sign/"), sign_form(quote, **override))
    assert response.status_code == 422 and message in response.content.decode()
    assert not Signature.objects.exists()


def test_a_hash_mismatch_is_refused_with_a_clear_message(sent):
    quote, _link, token = sent
    response = Client().post(url(token, "sign/"), sign_form(quote, shown_pdf_sha256="f" * 64))
    assert response.status_code == 409
    assert "The document changed since you opened this page" in response.content.decode()
    assert not Signature.objects.exists()


def test_an_expired_link_is_gone_and_names_whom_to_contact(sent, rep):
    quote, link, token = sent
    rep.email = "rep@seller.example"
    rep.save()
    PortalLink.objects.filter(pk=link.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    client = Client()
    for path in (url(token), url(token, "sign/"), url(token, "decline/"), url(token, "pdf")):
        response = client.get(path)
        assert response.status_code == 410, path
    text = client.get(url(token)).content.decode()
    assert "This link has expired." in text and "rep@seller.example" in text
    assert client.post(url(token, "sign/"), sign_form(quote)).status_code == 410
    assert not Signature.objects.exists()


def test_a_used_link_shows_the_outcome_and_cannot_sign_again(sent):
    quote, _link, token = sent
    client = Client()
    assert client.post(url(token, "sign/"), sign_form(quote)).status_code == 302
    again = client.post(url(token, "sign/"), sign_form(quote, signer_name="Mallory"))
    assert again.status_code == 409 and "cannot be used to sign or decline again" in again.content.decode()
    assert client.post(url(token, "decline/"), {"reason": "changed my mind"}).status_code == 409
    assert Signature.objects.count() == 1 and Signature.objects.get().signer_name == "Jane Buyer"
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.ACCEPTED


def test_the_link_of_a_superseded_quote_is_refused(sent, rep):
    from l2c.quoting.services import quotes as quote_services

    quote, _link, token = sent
    quote_services.quote_new_version(actor=rep, quote=quote)
    client = Client()
    page = client.get(url(token))
    assert page.status_code == 410 and "newer version" in page.content.decode()
    assert client.post(url(token, "sign/"), sign_form(quote)).status_code == 410
    assert not Signature.objects.exists()


def test_an_unknown_token_is_a_plain_404(db):
    response = Client().get(url("no-such-token-" + "x" * 30))
    assert response.status_code == 404 and "We cannot find this link" in response.content.decode()


def test_decline_with_a_reason(sent, rep):
    quote, link, token = sent
    client = Client()
    refused = client.post(url(token, "decline/"), {"reason": "  "})
    assert refused.status_code == 422 and "Tell us why you decline" in refused.content.decode()
    response = client.post(url(token, "decline/"), {"reason": "We chose another supplier."})
    assert response.status_code == 302
    quote.refresh_from_db()
    link.refresh_from_db()
    assert quote.status == QuoteStatus.DECLINED and quote.decline_reason == "We chose another supplier."
    assert link.used_at is not None
    assert Activity.objects.filter(opportunity_id=quote.opportunity_id, owner=rep, kind="task").exists()
    outcome = client.get(url(token)).content.decode()
    assert "declined" in outcome and "We chose another supplier." in outcome


def test_the_page_switches_to_chinese_and_the_consent_follows(sent):
    quote, _link, token = sent
    client = Client()
    page = client.get(url(token, "sign/") + "?lang=zh-hans")
    assert page.status_code == 200 and CONSENT_TEXTS["zh-hans"][:20] in page.content.decode()
    # the choice is kept for the next page and for what is signed
    client.post(url(token, "sign/"), sign_form(quote))
    assert Signature.objects.get().consent_text == CONSENT_TEXTS["zh-hans"]


def test_portal_forms_keep_csrf_protection(sent):
    quote, _link, token = sent
    client = Client(enforce_csrf_checks=True)
    assert client.post(url(token, "sign/"), sign_form(quote)).status_code == 403
    assert client.post(url(token, "decline/"), {"reason": "x"}).status_code == 403
    assert not Signature.objects.exists()
    page = client.get(url(token, "sign/"))
    csrf = page.cookies["csrftoken"].value
    response = client.post(url(token, "sign/"), {**sign_form(quote), "csrfmiddlewaretoken": csrf})
    assert response.status_code == 302 and Signature.objects.count() == 1


def test_posts_are_rate_limited_per_ip(sent, settings):
    quote, _link, token = sent
    settings.L2C_PORTAL_RATE_PER_MINUTE = 2
    client = Client(REMOTE_ADDR="192.0.2.55")
    statuses = [client.post(url(token, "sign/"), sign_form(quote, consent=None)).status_code for _ in range(3)]
    assert statuses == [422, 422, 429]
    assert Client(REMOTE_ADDR="192.0.2.56").post(url(token, "sign/"), sign_form(quote)).status_code == 302


def test_expired_quote_is_gone_even_if_the_link_is_not(sent):
    quote, _link, token = sent
    Quote.objects.filter(pk=quote.pk).update(valid_until=timezone.localdate() - dt.timedelta(days=1))
    assert Client().get(url(token)).status_code == 410
