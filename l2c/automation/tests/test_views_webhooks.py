"""Webhook pages: admins see and act; every other role gets the 403 page."""
from __future__ import annotations

import pytest
from django.test import Client

from l2c.automation import services
from l2c.automation.models import WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.django_db


def _client(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def endpoint(admin_user):
    return services.endpoint_create(actor=admin_user, name="ERP", url="https://erp.example.com/hook",
                                    event_types=["account.created"])


def test_admin_sees_the_list_and_the_detail_with_its_delivery_log(admin_user, endpoint, django_assert_max_num_queries):
    WebhookDelivery.objects.create(endpoint=endpoint, event="account.created", occurred_at=endpoint.created_at,
                                   payload={}, status="retrying", last_status_code=502, last_error="The receiver answered 502.")
    client = _client(admin_user)
    response = client.get("/automation/webhooks/")
    assert response.status_code == 200 and b"ERP" in response.content and b"/automation/webhooks/" in response.content
    with django_assert_max_num_queries(25):
        response = client.get(f"/automation/webhooks/{endpoint.pk}/")
    assert response.status_code == 200
    text = response.content.decode()
    assert "502" in text and "Replay" in text and endpoint.secret not in text and endpoint.secret_masked in text


def test_admin_creates_a_webhook_and_sees_the_secret_once(admin_user):
    client = _client(admin_user)
    assert client.get("/automation/webhooks/new/").status_code == 200
    response = client.post("/automation/webhooks/new/", {"name": "BI", "url": "https://bi.example.com/in",
                                                         "event_types": ["lead.created", "account.created"],
                                                         "is_active": "on"})
    assert response.status_code == 201
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret in response.content.decode()
    assert endpoint.event_types == ["account.created", "lead.created"]
    assert endpoint.secret not in client.get(f"/automation/webhooks/{endpoint.pk}/").content.decode()


def test_the_form_shows_field_errors(admin_user):
    response = _client(admin_user).post("/automation/webhooks/new/", {"name": "x", "url": "ftp://x.example.com"})
    assert response.status_code == 200
    text = response.content.decode()
    assert "http:// or https://" in text and "Pick at least one event" in text
    assert not WebhookEndpoint.objects.exists()


def test_admin_edits_rotates_tests_replays_and_deletes(admin_user, endpoint, django_capture_on_commit_callbacks):
    client = _client(admin_user)
    response = client.post(f"/automation/webhooks/{endpoint.pk}/edit/", {
        "name": "ERP 2", "url": endpoint.url, "event_types": ["*"]})  # is_active unticked
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.name == "ERP 2" and endpoint.event_types == ["*"] and not endpoint.is_active
    old_secret = endpoint.secret
    response = client.post(f"/automation/webhooks/{endpoint.pk}/rotate-secret/")
    endpoint.refresh_from_db()
    assert endpoint.secret != old_secret and endpoint.secret in response.content.decode()
    services.endpoint_update(actor=admin_user, endpoint=endpoint, is_active=True, url="https://127.0.0.1:1/x")
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"/automation/webhooks/{endpoint.pk}/test/").status_code == 302
    delivery = WebhookDelivery.objects.get()
    assert delivery.event == "webhook.test" and delivery.attempts == 1 and delivery.last_error
    assert client.post(f"/automation/deliveries/{delivery.pk}/replay/").status_code == 302
    assert WebhookDelivery.objects.filter(replay_of=delivery).count() == 1
    assert client.post(f"/automation/webhooks/{endpoint.pk}/delete/").status_code == 302
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize("role", ["rep", "manager", "finance"])
def test_other_roles_get_the_403_page(request, role, endpoint):
    delivery = WebhookDelivery.objects.create(endpoint=endpoint, event="account.created",
                                              occurred_at=endpoint.created_at, payload={})
    client = _client(request.getfixturevalue(role))
    for path in ("/automation/webhooks/", "/automation/webhooks/new/", f"/automation/webhooks/{endpoint.pk}/",
                 f"/automation/webhooks/{endpoint.pk}/edit/"):
        assert client.get(path).status_code == 403, path
    for path in (f"/automation/webhooks/{endpoint.pk}/rotate-secret/", f"/automation/webhooks/{endpoint.pk}/test/",
                 f"/automation/webhooks/{endpoint.pk}/delete/", f"/automation/deliveries/{delivery.pk}/replay/"):
        assert client.post(path).status_code == 403, path
    assert b"/automation/webhooks/" not in client.get("/").content
    assert WebhookEndpoint.objects.count() == 1 and WebhookDelivery.objects.count() == 1


def test_anonymous_is_sent_to_login(endpoint):
    response = Client().get("/automation/webhooks/")
    assert response.status_code == 302 and "login" in response["Location"]
