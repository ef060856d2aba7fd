"""Webhook deliveries end to end against a real local receiver: signing, retries, giving up, errors, matching,
replay."""
from __future__ import annotations

import datetime as dt
import json
import socket
import time

import pytest
from django.utils import timezone

from l2c.automation import services
from l2c.automation.choices import DeliveryStatus
from l2c.automation.models import WebhookAttempt, WebhookDelivery
from l2c.automation.signing import signature_header, verify_signature
from l2c.core import events

pytestmark = pytest.mark.django_db

EVENT = "account.created"


def _publish(capture, name=EVENT, payload=None):
    with capture(execute=True):
        events.publish(name, payload if payload is not None else {"account_id": 7, "actor_id": 1})


def test_an_event_published_after_commit_reaches_the_receiver_signed(endpoint_for, receiver,
                                                                     django_capture_on_commit_callbacks):
    # given
    endpoint = endpoint_for([EVENT])
    # when
    _publish(django_capture_on_commit_callbacks, payload={"account_id": 7, "actor_id": 1})
    # then
    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    assert request["verified"] is True
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    headers = request["headers"]
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == "L2C-Webhooks/1"
    assert headers["X-L2C-Event"] == EVENT
    assert headers["X-L2C-Delivery"] == str(delivery.delivery_id)
    body = json.loads(request["body"])
    assert body["id"] == str(delivery.delivery_id)
    assert body["event"] == EVENT
    assert body["data"] == {"account_id": 7, "actor_id": 1}
    assert dt.datetime.fromisoformat(body["created_at"])
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert delivery.last_status_code == 200 and delivery.attempts == 1 and delivery.delivered_at
    assert '"ok"' in delivery.response_body


def test_nothing_is_sent_before_the_commit(endpoint_for, receiver, django_capture_on_commit_callbacks):
    endpoint_for([EVENT])
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        events.publish(EVENT, {"account_id": 1})
    assert callbacks and receiver.requests == [] and not WebhookDelivery.objects.exists()


def test_a_wrong_secret_a_tampered_body_or_an_old_timestamp_fail_verification(endpoint_for, receiver,
                                                                              django_capture_on_commit_callbacks):
    endpoint = endpoint_for([EVENT])
    _publish(django_capture_on_commit_callbacks)
    request = receiver.requests[0]
    header, body = request["headers"]["X-L2C-Signature"], request["body"]
    assert verify_signature(endpoint.secret, header, body)
    assert not verify_signature("another-secret", header, body)
    assert not verify_signature(endpoint.secret, header, body.replace(b"7", b"8"))
    timestamp = int(header.split(",")[0].removeprefix("t="))
    assert not verify_signature(endpoint.secret, header, body, now=timestamp + 301)
    assert verify_signature(endpoint.secret, header, body, now=timestamp + 299)
    old = signature_header(endpoint.secret, body, timestamp=int(time.time()) - 3600)
    assert not verify_signature(endpoint.secret, old, body)
    assert not verify_signature(endpoint.secret, "", body)
    assert not verify_signature(endpoint.secret, "t=abc,v1=00", body)


def test_a_failed_attempt_is_retried_a_minute_later_by_the_due_sweep(endpoint_for, receiver,
                                                                     django_capture_on_commit_callbacks):
    # given a receiver that fails once
    endpoint_for([EVENT])
    receiver.answers = [500, 200]
    before = timezone.now()
    # when
    _publish(django_capture_on_commit_callbacks)
    # then the first attempt is recorded as failed, with its code, and a retry is due in a minute
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.RETRYING
    assert delivery.last_status_code == 500 and "500" in delivery.last_error
    assert dt.timedelta(seconds=59) < delivery.next_attempt_at - before < dt.timedelta(seconds=75)
    assert services.send_due() == 0  # not due yet
    # when the sweep runs after the minute
    assert services.send_due(now=delivery.next_attempt_at + dt.timedelta(seconds=1)) == 1
    # then
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED and delivery.last_status_code == 200
    attempts = list(WebhookAttempt.objects.filter(delivery=delivery).order_by("number"))
    assert [(a.number, a.status_code, a.succeeded) for a in attempts] == [(1, 500, False), (2, 200, True)]
    assert len(receiver.requests) == 2 and all(r["verified"] for r in receiver.requests)
    assert receiver.requests[0]["headers"]["X-L2C-Delivery"] == receiver.requests[1]["headers"]["X-L2C-Delivery"]
    assert services.send_due(now=timezone.now() + dt.timedelta(days=1)) == 0  # done: never sent again


def test_the_backoff_grows_and_the_last_attempt_gives_up(endpoint_for, receiver, django_capture_on_commit_callbacks):
    endpoint_for([EVENT])
    receiver.answers = [503] * 10
    _publish(django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()
    first_wait = delivery.next_attempt_at - timezone.now()
    now = delivery.next_attempt_at
    services.delivery_send(delivery_id=delivery.pk, now=now, max_attempts=3)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.RETRYING
    assert delivery.next_attempt_at - now == dt.timedelta(minutes=5) > first_wait
    services.delivery_send(delivery_id=delivery.pk, now=delivery.next_attempt_at, max_attempts=3)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED and delivery.next_attempt_at is None
    assert delivery.attempts == 3 and WebhookAttempt.objects.filter(delivery=delivery).count() == 3
    assert services.send_due(now=timezone.now() + dt.timedelta(days=2)) == 0


def test_a_timeout_is_recorded_as_an_error_and_retried(endpoint_for, receiver, monkeypatch,
                                                       django_capture_on_commit_callbacks):
    monkeypatch.setattr(services, "TIMEOUT_SECONDS", 0.2)
    endpoint_for([EVENT])
    receiver.delay = 1.0
    _publish(django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.RETRYING
    assert delivery.last_status_code is None and "Timed out" in delivery.last_error
    attempt = WebhookAttempt.objects.get(delivery=delivery)
    assert attempt.status_code is None and "Timed out" in attempt.error


def test_connection_refused_is_recorded_as_an_error_and_retried(endpoint_for, django_capture_on_commit_callbacks):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    endpoint_for([EVENT], url=f"http://127.0.0.1:{port}/hook")
    _publish(django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.RETRYING and delivery.attempts == 1
    assert "ConnectError" in delivery.last_error
    assert WebhookAttempt.objects.get(delivery=delivery).error == delivery.last_error


def test_a_redirect_is_not_followed(endpoint_for, receiver, django_capture_on_commit_callbacks):
    endpoint_for([EVENT])
    receiver.answers = [302]
    _publish(django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.RETRYING and delivery.last_status_code == 302
    assert len(receiver.requests) == 1


def test_only_matching_event_types_and_active_endpoints_get_deliveries(admin_user, endpoint_for, receiver,
                                                                       django_capture_on_commit_callbacks):
    # given
    accounts = endpoint_for([EVENT], name="accounts")
    everything = endpoint_for(["*"], name="everything")
    leads = endpoint_for(["lead.created"], name="leads")
    inactive = endpoint_for(["*"], name="off")
    services.endpoint_update(actor=admin_user, endpoint=inactive, is_active=False)
    # when
    _publish(django_capture_on_commit_callbacks)
    # then
    assert set(WebhookDelivery.objects.values_list("endpoint__name", flat=True)) == {accounts.name, everything.name}
    assert not WebhookDelivery.objects.filter(endpoint__in=[leads, inactive]).exists()


def test_replay_makes_a_new_delivery_with_the_same_payload(admin_user, endpoint_for, receiver,
                                                           django_capture_on_commit_callbacks):
    endpoint_for([EVENT])
    _publish(django_capture_on_commit_callbacks, payload={"account_id": 42})
    original = WebhookDelivery.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        replay = services.delivery_replay(actor=admin_user, delivery=original)
    replay.refresh_from_db()
    assert replay.replay_of_id == original.pk and replay.delivery_id != original.delivery_id
    assert replay.payload == original.payload == {"account_id": 42}
    assert replay.event == original.event and replay.occurred_at == original.occurred_at
    assert replay.status == DeliveryStatus.SUCCEEDED
    assert [json.loads(r["body"])["data"] for r in receiver.requests] == [{"account_id": 42}] * 2
    assert json.loads(receiver.requests[1]["body"])["id"] == str(replay.delivery_id)


def test_a_test_event_goes_to_that_endpoint_alone(admin_user, endpoint_for, receiver,
                                                  django_capture_on_commit_callbacks):
    endpoint = endpoint_for(["lead.created"])
    with django_capture_on_commit_callbacks(execute=True):
        services.endpoint_send_test(actor=admin_user, endpoint=endpoint)
    assert [r["headers"]["X-L2C-Event"] for r in receiver.requests] == ["webhook.test"]
    assert receiver.requests[0]["verified"]


def test_rotating_the_secret_signs_with_the_new_one(admin_user, endpoint_for, receiver,
                                                    django_capture_on_commit_callbacks):
    endpoint = endpoint_for([EVENT])
    old = endpoint.secret
    rotated = services.endpoint_rotate_secret(actor=admin_user, endpoint=endpoint)
    assert rotated.secret != old and len(rotated.secret) >= 40
    _publish(django_capture_on_commit_callbacks)
    request = receiver.requests[0]
    assert not request["verified"]  # the receiver still holds the old secret
    assert verify_signature(rotated.secret, request["headers"]["X-L2C-Signature"], request["body"])


def test_a_claimed_attempt_is_not_sent_twice(endpoint_for, receiver, django_capture_on_commit_callbacks):
    endpoint_for([EVENT])
    receiver.answers = [500]
    _publish(django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()
    due = delivery.next_attempt_at
    claimed = services._claim(delivery.pk, due)  # a worker took the retry and is sending it
    assert claimed is not None
    assert services.delivery_send(delivery_id=delivery.pk, now=due) is None  # another worker finds nothing due
    assert services.send_due(now=due) == 0
    assert len(receiver.requests) == 1


def test_the_audit_trail_never_holds_the_secret(admin_user, endpoint_for):
    from l2c.core.models import AuditEvent

    endpoint = endpoint_for([EVENT])
    services.endpoint_rotate_secret(actor=admin_user, endpoint=endpoint)
    endpoint.refresh_from_db()
    dumped = json.dumps(list(AuditEvent.objects.filter(object_type="automation.webhookendpoint")
                             .values_list("changes", flat=True)))
    assert endpoint.secret not in dumped and "secret" in dumped


def test_private_addresses_are_refused_unless_allowed(admin_user, settings):
    from l2c.core.errors import ValidationFailed

    settings.L2C_WEBHOOKS_ALLOW_PRIVATE = False
    for url in ("http://127.0.0.1:8000/x", "http://localhost/x", "http://10.1.2.3/x", "http://[::1]/x"):
        with pytest.raises(ValidationFailed) as caught:
            services.endpoint_create(actor=admin_user, name="x", url=url, event_types=["*"])
        assert caught.value.errors[0].field == "url"
        assert "L2C_WEBHOOKS_ALLOW_PRIVATE" in caught.value.errors[0].message
    settings.L2C_WEBHOOKS_ALLOW_PRIVATE = True
    assert services.endpoint_create(actor=admin_user, name="x", url="http://127.0.0.1:8000/x", event_types=["*"])
