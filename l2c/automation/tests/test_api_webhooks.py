"""The webhooks API: admins only, 422 naming the field for bad input, the secret shown once."""
from __future__ import annotations

import pytest

from conftest import ApiClient
from l2c.automation.models import WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.django_db

URL = "https://hooks.example.com/l2c"


@pytest.fixture
def admin_api(admin_user):
    return ApiClient(admin_user)


def _create(api, **values):
    body = {"name": "CRM sync", "url": URL, "event_types": ["account.created"], **values}
    return api.post("/api/v1/webhooks", body)


def test_admin_creates_reads_changes_and_deletes_a_webhook(admin_api):
    # create: the secret in full, once
    response = _create(admin_api)
    assert response.status_code == 201, response.content
    created = response.json()
    secret = created["secret"]
    assert len(secret) >= 40 and created["secret_masked"] == "…" + secret[-4:]
    webhook_id = created["id"]
    # read: masked only
    got = admin_api.get(f"/api/v1/webhooks/{webhook_id}").json()
    assert "secret" not in got and got["secret_masked"].endswith(secret[-4:])
    listed = admin_api.get("/api/v1/webhooks", {"limit": 10, "offset": 0}).json()
    assert listed["count"] == 1 and listed["items"][0]["id"] == webhook_id
    # change
    response = admin_api.patch(f"/api/v1/webhooks/{webhook_id}", {"event_types": ["*"], "is_active": False})
    assert response.status_code == 200 and response.json()["event_types"] == ["*"]
    assert response.json()["is_active"] is False
    # rotate
    rotated = admin_api.post(f"/api/v1/webhooks/{webhook_id}/rotate-secret").json()
    assert rotated["secret"] != secret
    # a test event needs an active webhook
    assert admin_api.post(f"/api/v1/webhooks/{webhook_id}/test").status_code == 409
    # delete
    assert admin_api.delete(f"/api/v1/webhooks/{webhook_id}").status_code == 204
    assert admin_api.get(f"/api/v1/webhooks/{webhook_id}").status_code == 404


@pytest.mark.parametrize(("values", "field"), [
    ({"url": "ftp://example.com/x"}, "url"),
    ({"url": "https:///no-host"}, "url"),
    ({"url": "not a url"}, "url"),
    ({"url": "https://example.com/" + "a" * 500}, "url"),
    ({"event_types": ["no.such.event"]}, "event_types"),
    ({"event_types": []}, "event_types"),
    ({"name": ""}, "name"),
    ({"name": "   "}, "name"),
    ({"colour": "red"}, "colour"),
])
def test_bad_input_is_a_422_naming_the_field(admin_api, values, field):
    response = _create(admin_api, **values)
    assert response.status_code == 422, response.content
    assert field in [error["field"] for error in response.json()["errors"]]
    assert not WebhookEndpoint.objects.exists()


def test_patch_with_a_bad_url_changes_nothing(admin_api):
    webhook_id = _create(admin_api).json()["id"]
    response = admin_api.patch(f"/api/v1/webhooks/{webhook_id}", {"url": "mailto:x@example.com", "name": "New"})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "url"
    assert WebhookEndpoint.objects.get().name == "CRM sync"


@pytest.mark.parametrize("role", ["rep", "manager", "finance"])
def test_other_roles_get_403_on_every_route(request, admin_api, role):
    webhook_id = _create(admin_api).json()["id"]
    endpoint = WebhookEndpoint.objects.get()
    delivery = WebhookDelivery.objects.create(endpoint=endpoint, event="account.created",
                                              occurred_at=endpoint.created_at, payload={})
    api = ApiClient(request.getfixturevalue(role))
    assert _create(api).status_code == 403
    assert api.patch(f"/api/v1/webhooks/{webhook_id}", {"name": "x"}).status_code == 403
    assert api.delete(f"/api/v1/webhooks/{webhook_id}").status_code == 403
    assert api.post(f"/api/v1/webhooks/{webhook_id}/rotate-secret").status_code == 403
    assert api.post(f"/api/v1/webhooks/{webhook_id}/test").status_code == 403
    assert api.post(f"/api/v1/webhook-deliveries/{delivery.pk}/replay").status_code == 403
    assert api.get("/api/v1/webhooks").status_code == 403
    assert api.get(f"/api/v1/webhooks/{webhook_id}").status_code == 403
    assert api.get(f"/api/v1/webhooks/{webhook_id}/deliveries").status_code == 403
    assert api.get("/api/v1/webhook-events").status_code == 403
    assert WebhookEndpoint.objects.get().name == "CRM sync" and WebhookDelivery.objects.count() == 1


def test_deliveries_newest_first_with_limit_and_offset_and_replay(admin_api):
    webhook_id = _create(admin_api).json()["id"]
    endpoint = WebhookEndpoint.objects.get()
    for number in range(3):
        WebhookDelivery.objects.create(endpoint=endpoint, event="account.created", occurred_at=endpoint.created_at,
                                       payload={"n": number}, status="failed")
    page = admin_api.get(f"/api/v1/webhooks/{webhook_id}/deliveries", {"limit": 2, "offset": 0}).json()
    assert page["count"] == 3 and [d["payload"]["n"] for d in page["items"]] == [2, 1]
    oldest = admin_api.get(f"/api/v1/webhooks/{webhook_id}/deliveries", {"limit": 2, "offset": 2}).json()["items"]
    response = admin_api.post(f"/api/v1/webhook-deliveries/{oldest[0]['id']}/replay")
    assert response.status_code == 202, response.content
    assert response.json()["replay_of"] == oldest[0]["id"] and response.json()["payload"] == {"n": 0}
    assert admin_api.post("/api/v1/webhook-deliveries/999999/replay").status_code == 404
    assert admin_api.get("/api/v1/webhooks/999999/deliveries").status_code == 404


def test_events_list_names_the_registered_events(admin_api):
    names = {event["name"]: event["description"] for event in admin_api.get("/api/v1/webhook-events").json()}
    assert "*" in names and "webhook.test" in names and "account.created" in names
    assert all(names.values())
