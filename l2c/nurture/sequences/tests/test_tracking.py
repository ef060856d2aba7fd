"""Tracking: signed click links (no open redirect), the open pixel, and replies matched by Message-ID."""
from __future__ import annotations

import html as html_lib
import re
from urllib.parse import quote, urlsplit

import pytest
from django.utils import timezone

from l2c.leads.models import Touch
from l2c.nurture.models import EmailMessage
from l2c.nurture.sequences import inbound, runner, tracking

pytestmark = pytest.mark.django_db


@pytest.fixture
def message(email_template, lead_for, sequence_with, enroll):
    """A created (not yet sent) sequence e-mail."""
    sequence = sequence_with([{"kind": "email", "template": email_template()}, {"kind": "wait", "wait_days": 3}])
    enroll(sequence, lead_for())
    runner.advance_due(send=False)
    return EmailMessage.objects.select_related("lead", "enrollment").get()


def _click_path(message) -> str:
    hrefs = [html_lib.unescape(h) for h in re.findall(r'href="([^"]*)"', message.html)]
    url = next(h for h in hrefs if "/t/c/" in h)
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_rewrite_signs_web_links_only_and_appends_the_pixel(settings):
    html = ('<html><body><a href="https://a.example/x?y=1&amp;z=2">A</a> <a class="b" href=\'http://b.example\'>B</a>'
            '<a href="mailto:x@example.com">M</a><a href="#top">T</a><a href="javascript:alert(1)">J</a>'
            f'<a href="{settings.L2C_BASE_URL}/u/abc/">U</a></body></html>')
    out = tracking.rewrite(html, "tok")
    hrefs = [html_lib.unescape(h) for h in re.findall(r'href=["\']([^"\']*)["\']', out)]
    assert hrefs[0] == tracking.click_url("tok", "https://a.example/x?y=1&z=2")
    assert hrefs[1] == tracking.click_url("tok", "http://b.example")
    assert hrefs[2:] == ["mailto:x@example.com", "#top", "javascript:alert(1)", f"{settings.L2C_BASE_URL}/u/abc/"]
    assert out.endswith('style="display:block;border:0;width:1px;height:1px"></body></html>')
    assert tracking.open_url("tok") in out


def test_click_records_and_redirects(client, message):
    response = client.get(_click_path(message), HTTP_USER_AGENT="Mail/1.0")
    assert response.status_code == 302
    assert response["Location"] == "https://example.com/offer?a=1&b=2"
    message.refresh_from_db()
    assert message.click_count == 1 and message.clicked_at is not None and message.opened_at is not None
    touch = Touch.objects.get(lead=message.lead, kind="email_click")
    assert touch.referrer == "https://example.com/offer?a=1&b=2" and touch.user_agent == "Mail/1.0"
    assert touch.data["message"] == message.token
    client.get(_click_path(message))
    message.refresh_from_db()
    assert message.click_count == 2 and Touch.objects.filter(kind="email_click").count() == 2


@pytest.mark.parametrize("tamper", ["url", "signature", "token", "missing", "javascript"])
def test_a_tampered_click_link_is_400_and_never_redirects(client, message, tamper):
    path = _click_path(message)
    token = message.token
    good = "https://example.com/offer?a=1&b=2"
    sig = tracking.signature(token, good)
    if tamper == "url":
        path = f"/t/c/{token}/?u={quote('https://evil.example/', safe='')}&s={sig}"
    elif tamper == "signature":
        path = f"/t/c/{token}/?u={quote(good, safe='')}&s={sig[:-1]}{'0' if sig[-1] != '0' else '1'}"
    elif tamper == "token":
        path = path.replace(f"/t/c/{token}/", f"/t/c/{'f' * 32}/")
    elif tamper == "missing":
        path = f"/t/c/{token}/?u={quote(good, safe='')}"
    else:  # even a correctly signed non-web URL never redirects
        bad = "javascript:alert(1)"
        path = f"/t/c/{token}/?u={quote(bad, safe='')}&s={tracking.signature(token, bad)}"
    response = client.get(path)
    assert response.status_code == 400 and "Location" not in response
    assert b"not valid" in response.content
    message.refresh_from_db()
    assert message.click_count == 0 and not Touch.objects.filter(kind="email_click").exists()


def test_pixel_counts_every_load_and_touches_once(client, message):
    path = urlsplit(tracking.open_url(message.token)).path
    for _ in range(3):
        response = client.get(path)
        assert response.status_code == 200 and response["Content-Type"] == "image/gif"
        assert response.content == tracking.PIXEL and "no-cache" in response["Cache-Control"]
    message.refresh_from_db()
    assert message.open_count == 3 and message.opened_at is not None
    assert Touch.objects.filter(lead=message.lead, kind="email_open").count() == 1


def test_pixel_of_an_unknown_token_is_still_a_gif(client, db):
    response = client.get("/t/o/doesnotexist.gif")
    assert response.status_code == 200 and response.content[:6] == b"GIF89a"


# --- replies --------------------------------------------------------------------------------------------

def _reply(message, *, header="In-Reply-To") -> bytes:
    refs = f"{header}: {message.message_id}\r\n" if header else ""
    return (f"From: Jane <{message.to_email}>\r\nTo: {message.from_email}\r\nSubject: Re: {message.subject}\r\n"
            f"Message-ID: <reply-9@example.com>\r\n{refs}Content-Type: text/plain; charset=utf-8\r\n\r\n"
            "Sounds good, call me.\r\n").encode()


@pytest.mark.parametrize("header", ["In-Reply-To", "References"])
def test_a_reply_exits_the_enrolment(message, header, django_capture_on_commit_callbacks):
    found = inbound.record_reply(_reply(message, header=header))
    assert found.pk == message.pk
    message.refresh_from_db()
    message.enrollment.refresh_from_db()
    assert message.replied_at is not None
    assert (message.enrollment.status, message.enrollment.exit_reason) == ("exited", "replied")
    touch = Touch.objects.get(lead=message.lead, kind="email_reply")
    assert touch.data["subject"].startswith("Re: ") and touch.data["reply_message_id"] == "<reply-9@example.com>"


def test_a_reply_to_a_sequence_that_keeps_going_does_not_exit(message):
    sequence = message.enrollment.sequence
    sequence.exit_on_reply = False
    sequence.save()
    inbound.record_reply(_reply(message))
    message.enrollment.refresh_from_db()
    assert message.enrollment.status == "active"


def test_a_message_that_answers_none_of_ours_is_ignored(message):
    assert inbound.record_reply(_reply(message, header=None)) is None
    other = _reply(message).replace(message.message_id.encode(), b"<someone-else@example.com>")
    assert inbound.record_reply(other) is None
    message.refresh_from_db()
    assert message.replied_at is None


def test_inbound_email_api(api_for, admin_user, rep, message):
    admin_api, rep_api = api_for(admin_user), api_for(rep)
    raw = _reply(message)
    refused = rep_api.client.post("/api/v1/inbound-email", raw, content_type="message/rfc822",
                                  **rep_api._headers(None))
    assert refused.status_code == 403
    wrong_type = admin_api.client.post("/api/v1/inbound-email", raw, content_type="application/json",
                                       **admin_api._headers(None))
    assert wrong_type.status_code == 422
    response = admin_api.client.post("/api/v1/inbound-email", raw, content_type="message/rfc822",
                                     **admin_api._headers(None))
    assert response.status_code == 200, response.content
    assert response.json() == {"matched": True, "message_id": message.pk, "enrollment_id": message.enrollment_id}
    message.refresh_from_db()
    assert message.replied_at is not None


def test_mark_replied_by_the_owner_not_by_another_rep(message, rep, outsider):
    from l2c.core.errors import NotFound

    with pytest.raises(NotFound):
        inbound.mark_replied(message=message, actor=outsider)
    inbound.mark_replied(message=message, actor=rep)
    message.refresh_from_db()
    message.enrollment.refresh_from_db()
    assert message.replied_at <= timezone.now() and message.enrollment.exit_reason == "replied"
