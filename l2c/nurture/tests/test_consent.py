"""Suppression list, can_email and one-click unsubscribe."""
from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from l2c.core.errors import PermissionDenied, ValidationFailed
from l2c.nurture import selectors, services
from l2c.nurture.models import Suppression
from l2c.nurture.unsubscribe import list_unsubscribe_headers, unsubscribe_token, unsubscribe_url

pytestmark = pytest.mark.django_db


def test_suppress_is_idempotent_and_case_insensitive(manager):
    first = services.suppress(email="  Jane@Example.COM ", reason="bounced", source="smtp", actor=manager)
    again = services.suppress(email="jane@example.com", reason="manual", actor=manager)
    assert first.pk == again.pk and Suppression.objects.count() == 1
    assert again.email == "jane@example.com" and again.reason == "bounced"
    assert selectors.is_suppressed("JANE@example.com ") and not selectors.is_suppressed("other@example.com")
    assert selectors.suppressed_among(["JANE@EXAMPLE.COM", "x@example.com", ""]) == {"jane@example.com"}


def test_suppress_refuses_a_bad_address_and_a_rep(manager, rep):
    with pytest.raises(ValidationFailed) as exc_info:
        services.suppress(email="not-an-address", actor=manager)
    assert exc_info.value.errors[0].field == "email"
    with pytest.raises(PermissionDenied):
        services.suppress(email="a@example.com", actor=rep)
    assert not Suppression.objects.exists()


def test_unsuppress_is_admin_only_and_audited(manager, admin_user):
    from l2c.core.models import AuditEvent

    suppression = services.suppress(email="a@example.com", actor=manager)
    with pytest.raises(PermissionDenied):
        services.unsuppress(actor=manager, suppression=suppression)
    services.unsuppress(actor=admin_user, suppression=suppression)
    assert not Suppression.objects.exists()
    assert AuditEvent.objects.filter(action="delete", changes__email=["a@example.com", None]).exists()


def test_can_email_reasons(make_lead, manager, admin_user):
    # given a lead with no basis
    lead = make_lead(email="ann@example.com")
    ok, reason = selectors.can_email(lead)
    assert not ok and reason.startswith("No lawful basis: the lead has no recorded consent")
    # when consent is recorded
    lead.consent_basis, lead.consent_at, lead.consent_source = "consent", timezone.now(), "web form"
    ok, reason = selectors.can_email(lead)
    assert ok and "web form" in reason
    # when the address is suppressed
    suppression = services.suppress(email="ANN@example.com", reason="unsubscribed", actor=manager)
    Suppression.objects.filter(pk=suppression.pk).update(created_at=dt.datetime(2026, 11, 2, 12, tzinfo=dt.UTC))
    ok, reason = selectors.can_email(lead)
    assert (ok, reason) == (False, "The address is on the suppression list since 2026-11-02 (unsubscribed).")
    # empty and invalid addresses
    assert selectors.can_email(make_lead(email="")) == (False, "The lead has no e-mail address.")
    assert selectors.can_email(make_lead(email="bad@")) == (False, "bad@ is not a valid e-mail address.")


def test_can_email_with_legitimate_interest_on(make_lead, admin_user):
    lead = make_lead(email="bob@example.com")
    services.settings_update(actor=admin_user, legitimate_interest_allowed=True)
    ok, reason = selectors.can_email(lead)
    assert ok and reason.startswith("Legitimate interest, allowed in the nurture settings since")


def test_settings_are_admin_only(manager):
    with pytest.raises(PermissionDenied):
        services.settings_update(actor=manager, legitimate_interest_allowed=True)


def test_unsubscribe_get_does_not_suppress_and_post_does():
    url = unsubscribe_url("Jane@Example.com")
    path = url.removeprefix("http://127.0.0.1:8000")
    client = Client()
    response = client.get(path)
    assert response.status_code == 200 and b"jane@example.com" in response.content
    assert not Suppression.objects.exists()
    response = client.post(path)
    assert response.status_code == 200 and b"You are unsubscribed" in response.content
    suppression = Suppression.objects.get()
    assert (suppression.email, suppression.reason, suppression.source) == (
        "jane@example.com", "unsubscribed", "unsubscribe link")


def test_unsubscribe_publishes_its_event(django_capture_on_commit_callbacks):
    from l2c.core import events

    seen = []
    events.subscribe("nurture.unsubscribed", lambda name, payload: seen.append(payload))
    with django_capture_on_commit_callbacks(execute=True):
        Client().post(f"/u/{unsubscribe_token('a@example.com')}/")
    assert {"email": "a@example.com", "source": "unsubscribe link"} in seen


def test_rfc_8058_one_click_post(settings):
    client = Client(enforce_csrf_checks=True)
    response = client.post(f"/u/{unsubscribe_token('one@example.com')}/", "List-Unsubscribe=One-Click",
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    assert Suppression.objects.get().email == "one@example.com"


def test_tampered_token_is_400_and_suppresses_nothing():
    token = unsubscribe_token("victim@example.com")
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    client = Client()
    for response in (client.get(f"/u/{tampered}/"), client.post(f"/u/{tampered}/"),
                     client.post("/u/nonsense/", "List-Unsubscribe=One-Click",
                                 content_type="application/x-www-form-urlencoded")):
        assert response.status_code == 400 and b"This link is not valid" in response.content
    assert not Suppression.objects.exists()


def test_list_unsubscribe_headers(settings):
    settings.L2C_BASE_URL = "https://crm.example.com"
    headers = list_unsubscribe_headers("Jane@Example.com")
    assert headers == {"List-Unsubscribe": f"<https://crm.example.com/u/{unsubscribe_token('jane@example.com')}/>",
                       "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
