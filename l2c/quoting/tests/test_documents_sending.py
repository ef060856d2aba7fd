"""Sending a quote over a real local SMTP server (aiosmtpd), portal links (token, expiry, states, revoke),
the send page and the API."""
from __future__ import annotations

import datetime as dt
import email
import hashlib
import re
import socket
from email import policy

import pytest
from django.test import Client
from django.utils import timezone

from l2c.core.errors import InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from l2c.core.models import AuditEvent
from l2c.pipeline.models import Activity
from l2c.quoting import portal_links
from l2c.quoting.models import PortalLink, Quote, QuoteStatus
from l2c.quoting.services.sending import EmailFailed, quote_send

from .test_documents_support import documents_api_prefix, make_quote, pdf_text

pytestmark = pytest.mark.django_db
TOKEN_RE = re.compile(r"/portal/q/([A-Za-z0-9_-]{43})/")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Inbox:
    """What the local SMTP server received."""

    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.envelopes.append(envelope)
        return "250 Message accepted"

    @property
    def messages(self):
        return [email.message_from_bytes(e.content, policy=policy.default) for e in self.envelopes]


@pytest.fixture
def smtp(settings):
    import logging

    from aiosmtpd.controller import Controller

    # aiosmtpd logs each connection at INFO from its own thread, which outlives pytest's captured stream
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 5
    settings.L2C_BASE_URL = "https://l2c.example"
    yield inbox
    controller.stop()


@pytest.fixture
def documents_api(settings):
    return documents_api_prefix(settings)


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def parts(message):
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    attachments = [(a.get_filename(), a.get_content_type(), a.get_payload(decode=True))
                   for a in message.iter_attachments()]
    return text, html, attachments


# --- sending -----------------------------------------------------------------------------------------

def test_send_delivers_the_pdf_and_a_working_portal_link(rep, smtp):
    rep.email = "rep@seller.example"
    rep.save()
    quote = make_quote(rep)

    link = quote_send(actor=rep, quote=quote, to_email="buyer@customer.example", message="您好，请查收报价。",
                      cc=["boss@customer.example"])

    # the message arrived, with the PDF and the link
    assert len(smtp.envelopes) == 1
    envelope = smtp.envelopes[0]
    assert set(envelope.rcpt_tos) == {"buyer@customer.example", "boss@customer.example"}
    message = smtp.messages[0]
    assert "QUO-2026-000042" in message["Subject"]
    assert message["Reply-To"] == "rep@seller.example"
    text, html, attachments = parts(message)
    assert "您好，请查收报价。" in text and "您好，请查收报价。" in html
    (filename, content_type, data), = attachments
    assert (filename, content_type) == ("QUO-2026-000042-v1.pdf", "application/pdf")
    assert "QUO-2026-000042" in pdf_text(data)
    token = TOKEN_RE.search(text).group(1)
    assert f"https://l2c.example/portal/q/{token}/" in text and f"https://l2c.example/portal/q/{token}/" in html
    # the quote is SENT with exactly that PDF
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.SENT and quote.sent_at is not None
    assert bytes(quote.sent_pdf) == data and quote.sent_pdf_sha256 == hashlib.sha256(data).hexdigest()
    # the token opens the link; only its hash is stored
    assert link.token == token
    assert portal_links.link_for_token(token) == link
    assert portal_links.link_state(link) == "ok"
    stored = PortalLink.objects.get()
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest() and token not in stored.token_hash
    assert stored.token_prefix == token[:8] and stored.email == "buyer@customer.example"
    # the timeline and the audit trail
    activity = Activity.objects.get(opportunity=quote.opportunity)
    assert activity.kind == "email" and activity.done_at is not None and "QUO-2026-000042" in activity.subject
    assert "buyer@customer.example" in activity.body and token not in activity.body
    send_event = AuditEvent.objects.filter(object_type="quoting.quote", object_id=str(quote.pk),
                                           changes__has_key="sent_to").get()
    assert send_event.changes["sent_to"] == [None, "buyer@customer.example"]
    assert token not in str(send_event.changes)


def test_link_expires_after_the_configured_days(rep, smtp, settings):
    settings.L2C_PORTAL_LINK_DAYS = 3
    quote = make_quote(rep)
    before = timezone.now()

    link = quote_send(actor=rep, quote=quote, to_email="buyer@customer.example")

    assert before + dt.timedelta(days=3) <= link.expires_at <= timezone.now() + dt.timedelta(days=3)
    assert portal_links.link_state(link, now=link.expires_at - dt.timedelta(seconds=1)) == "ok"
    assert portal_links.link_state(link, now=link.expires_at) == "expired"
    PortalLink.objects.filter(pk=link.pk).update(expires_at=timezone.now() - dt.timedelta(minutes=1))
    assert portal_links.link_state(portal_links.link_for_token(link.token)) == "expired"


def test_resend_makes_a_new_link_and_keeps_the_same_pdf(rep, smtp):
    quote = make_quote(rep)
    first = quote_send(actor=rep, quote=quote, to_email="buyer@customer.example")
    quote.refresh_from_db()
    sent_pdf = bytes(quote.sent_pdf)
    Quote.objects.filter(pk=quote.pk).update(title="Renamed after sending")  # a fresh render would differ

    second = quote_send(actor=rep, quote=quote, to_email="other@customer.example")

    quote.refresh_from_db()
    assert bytes(quote.sent_pdf) == sent_pdf
    assert smtp.messages[1].get_payload()[-1].get_payload(decode=True) == sent_pdf
    assert first.token != second.token and first.token_hash != second.token_hash
    assert portal_links.link_state(first) == portal_links.link_state(second) == "ok"
    assert Activity.objects.filter(opportunity=quote.opportunity, kind="email").count() == 2


@pytest.mark.parametrize("status, reason", [
    (QuoteStatus.DRAFT, "not been submitted"),
    (QuoteStatus.ACCEPTED, "accepted and signed"),
    (QuoteStatus.SUPERSEDED, "replaced by a newer version"),
])
def test_a_quote_that_is_not_approved_is_not_sent_and_the_reasons_are_given(rep, smtp, status, reason):
    quote = make_quote(rep, status=status)

    with pytest.raises(InvalidTransition) as caught:
        quote_send(actor=rep, quote=quote, to_email="buyer@customer.example")

    assert reason in caught.value.message
    assert smtp.envelopes == [] and not PortalLink.objects.exists()
    quote.refresh_from_db()
    assert quote.status == status and quote.sent_pdf is None


def test_an_approved_quote_past_its_validity_is_not_sent(rep, smtp):
    quote = make_quote(rep)
    Quote.objects.filter(pk=quote.pk).update(valid_until=timezone.localdate() - dt.timedelta(days=1))
    with pytest.raises(InvalidTransition) as caught:
        quote_send(actor=rep, quote=quote, to_email="buyer@customer.example")
    assert "expired" in caught.value.message
    assert smtp.envelopes == []


def test_smtp_failure_changes_nothing(rep, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 3  # nobody listens
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    quote = make_quote(rep)
    events_before = AuditEvent.objects.count()

    with pytest.raises(EmailFailed) as caught:
        quote_send(actor=rep, quote=quote, to_email="buyer@customer.example")

    assert caught.value.status == 502 and "not marked as sent" in caught.value.message
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.APPROVED and quote.sent_pdf is None and quote.sent_at is None
    assert not PortalLink.objects.exists()
    assert not Activity.objects.filter(opportunity=quote.opportunity).exists()
    assert AuditEvent.objects.count() == events_before


@pytest.mark.parametrize("kwargs, field", [
    ({"to_email": ""}, "to"),
    ({"to_email": "not-an-address"}, "to"),
    ({"to_email": "a@b.example", "cc": ["fine@b.example", "bad"]}, "cc"),
    ({"to_email": "a@b.example", "cc": [f"c{i}@b.example" for i in range(11)]}, "cc"),
    ({"to_email": "a@b.example", "message": "x" * 5001}, "message"),
])
def test_bad_input_names_the_field_and_sends_nothing(rep, smtp, kwargs, field):
    quote = make_quote(rep)
    with pytest.raises(ValidationFailed) as caught:
        quote_send(actor=rep, quote=quote, **kwargs)
    assert [e.field for e in caught.value.errors] == [field]
    assert smtp.envelopes == [] and not PortalLink.objects.exists()


def test_who_may_send(rep, rep2, outsider, manager, finance, smtp):
    quote = make_quote(rep)
    for user in (rep2, outsider):
        with pytest.raises(NotFound):
            quote_send(actor=user, quote=quote, to_email="buyer@customer.example")
    with pytest.raises(PermissionDenied):
        quote_send(actor=finance, quote=quote, to_email="buyer@customer.example")
    assert smtp.envelopes == []
    quote_send(actor=manager, quote=quote, to_email="buyer@customer.example")  # the rep's team manager
    assert len(smtp.envelopes) == 1


# --- portal links ------------------------------------------------------------------------------------

def test_link_states_revoked_used_superseded(rep, smtp):
    quote = make_quote(rep)
    link, token = portal_links.link_create(actor=rep, quote=quote, email="buyer@customer.example")
    assert portal_links.link_state(link) == "ok"
    assert portal_links.link_for_token(token + "x") is None and portal_links.link_for_token("") is None

    revoked, _ = portal_links.link_create(actor=rep, quote=quote, email="buyer@customer.example")
    portal_links.link_revoke(actor=rep, link=revoked)
    assert portal_links.link_state(portal_links.link_for_token(_)) == "revoked"
    with pytest.raises(InvalidTransition):
        portal_links.link_revoke(actor=rep, link=revoked)
    assert AuditEvent.objects.filter(object_type="quoting.portallink", object_id=str(revoked.pk),
                                     action="access").exists()

    PortalLink.objects.filter(pk=link.pk).update(used_at=timezone.now())
    link.refresh_from_db()
    assert portal_links.link_state(link) == "used"

    fresh, _token = portal_links.link_create(actor=rep, quote=quote, email="buyer@customer.example")
    make_quote(rep, number=quote.number, version=2)  # a newer version of the same quote
    assert portal_links.link_state(fresh) == "superseded"


def test_link_create_validates(rep, outsider):
    quote = make_quote(rep)
    with pytest.raises(ValidationFailed) as caught:
        portal_links.link_create(actor=rep, quote=quote, email="nope", days=0)
    assert {e.field for e in caught.value.errors} == {"email", "days"}
    with pytest.raises(NotFound):
        portal_links.link_create(actor=outsider, quote=quote, email="buyer@customer.example")
    assert not PortalLink.objects.exists()


# --- the send page -----------------------------------------------------------------------------------

def test_send_page_prefills_the_contact_and_sends(rep, smtp):
    quote = make_quote(rep, contact_email="li.na@customer.example")
    client = client_for(rep)

    page = client.get(f"/quotes/{quote.pk}/send/")
    assert page.status_code == 200 and 'value="li.na@customer.example"' in page.content.decode()

    response = client.post(f"/quotes/{quote.pk}/send/", {"to": "li.na@customer.example", "cc": "a@x.example, b@x.example",
                                                         "message": "Hello"}, follow=True)
    assert response.redirect_chain[-1][0] == f"/quotes/{quote.pk}/"
    assert "https://l2c.example/portal/q/" in response.content.decode()  # shown once to the sender
    assert set(smtp.envelopes[0].rcpt_tos) == {"li.na@customer.example", "a@x.example", "b@x.example"}

    page = client.get(f"/quotes/{quote.pk}/send/").content.decode()
    assert "Send the quote again" in page and PortalLink.objects.get().token_prefix in page


def test_send_page_shows_blockers_for_a_draft(rep, smtp):
    quote = make_quote(rep, status=QuoteStatus.DRAFT)
    client = client_for(rep)
    page = client.get(f"/quotes/{quote.pk}/send/")
    assert page.status_code == 200 and "not been submitted" in page.content.decode()
    response = client.post(f"/quotes/{quote.pk}/send/", {"to": "a@x.example"})
    assert response.status_code == 422 and "not been submitted" in response.content.decode()
    assert smtp.envelopes == []


def test_send_page_permissions(rep, rep2, outsider, finance, smtp):
    quote = make_quote(rep)
    for user in (rep2, outsider):
        assert client_for(user).get(f"/quotes/{quote.pk}/send/").status_code == 404
        assert client_for(user).post(f"/quotes/{quote.pk}/send/", {"to": "a@x.example"}).status_code == 404
    assert client_for(finance).get(f"/quotes/{quote.pk}/send/").status_code == 403
    assert Client().get(f"/quotes/{quote.pk}/send/").status_code == 302
    assert smtp.envelopes == []


def test_revoke_from_the_send_page(rep, outsider, smtp):
    quote = make_quote(rep)
    link, _token = portal_links.link_create(actor=rep, quote=quote, email="buyer@customer.example")
    url = f"/quotes/{quote.pk}/links/{link.pk}/revoke/"
    assert client_for(outsider).post(url).status_code == 404
    assert client_for(rep).post(url).status_code == 302
    link.refresh_from_db()
    assert link.revoked_at is not None


# --- the API -----------------------------------------------------------------------------------------

def test_api_send(rep, outsider, api_for, smtp, documents_api):
    quote = make_quote(rep)
    url = f"{documents_api}/quotes/{quote.pk}/send"

    response = api_for(rep).post(url, {"to": "buyer@customer.example", "cc": ["cc@customer.example"],
                                       "message": "Hi"})

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["quote"]["status"] == "sent" and body["quote"]["number"] == "QUO-2026-000042"
    assert body["link"]["state"] == "ok" and body["link"]["email"] == "buyer@customer.example"
    token = TOKEN_RE.search(body["portal_url"]).group(1)
    assert portal_links.link_for_token(token).pk == body["link"]["id"]
    assert "cc@customer.example" in smtp.envelopes[0].rcpt_tos


def test_api_send_errors(rep, outsider, api_for, smtp, documents_api):
    quote = make_quote(rep)
    draft = make_quote(rep, number="QUO-2026-000043", status=QuoteStatus.DRAFT)

    bad = api_for(rep).post(f"{documents_api}/quotes/{quote.pk}/send", {"to": "nope"})
    unknown = api_for(rep).post(f"{documents_api}/quotes/{quote.pk}/send", {"to": "a@x.example", "bcc": []})
    blocked = api_for(rep).post(f"{documents_api}/quotes/{draft.pk}/send", {"to": "a@x.example"})
    hidden = api_for(outsider).post(f"{documents_api}/quotes/{quote.pk}/send", {"to": "a@x.example"})

    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "to"
    assert unknown.status_code == 422
    assert blocked.status_code == 409 and "not been submitted" in blocked.json()["detail"]
    assert hidden.status_code == 404
    assert smtp.envelopes == []
