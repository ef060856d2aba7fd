"""Idempotency-Key on POST /api/...: a replay returns the first response and creates nothing."""
import json

import pytest
from django.test import Client

from l2c.core.models import IdempotencyRecord
from l2c.identity import services
from l2c.identity.models import ApiToken


def _created(user):
    return ApiToken.objects.filter(user=user).exclude(name="test")  # "test" is the client's own token


def test_replay_returns_first_response_and_creates_once(api_for, rep):
    api = api_for(rep)
    first = api.post("/api/v1/tokens", {"name": "Zapier"}, headers={"Idempotency-Key": "k-1"})
    again = api.post("/api/v1/tokens", {"name": "Zapier"}, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 201
    assert "Idempotent-Replayed" not in first
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()  # even the secret: the client gets the one token it created
    assert again["Content-Type"].startswith("application/json")
    assert _created(rep).count() == 1


def test_same_key_other_body_is_409(api_for, rep):
    api = api_for(rep)
    api.post("/api/v1/tokens", {"name": "A"}, headers={"Idempotency-Key": "k-2"})
    response = api.post("/api/v1/tokens", {"name": "B"}, headers={"Idempotency-Key": "k-2"})
    assert response.status_code == 409
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "idempotency_key_reused" and "k-2" in body["detail"]
    assert list(_created(rep).values_list("name", flat=True)) == ["A"]


def test_same_key_other_path_is_409(api_for, admin_user):
    api = api_for(admin_user)
    api.post("/api/v1/teams", {"name": "A"}, headers={"Idempotency-Key": "k-3"})
    assert api.post("/api/v1/tokens", {"name": "A"}, headers={"Idempotency-Key": "k-3"}).status_code == 409


def test_keys_are_per_user(api_for, rep, rep2):
    mine = api_for(rep).post("/api/v1/tokens", {"name": "same"}, headers={"Idempotency-Key": "shared"})
    theirs = api_for(rep2).post("/api/v1/tokens", {"name": "same"}, headers={"Idempotency-Key": "shared"})
    assert mine.status_code == theirs.status_code == 201
    assert "Idempotent-Replayed" not in theirs
    assert mine.json()["id"] != theirs.json()["id"]
    assert _created(rep).count() == _created(rep2).count() == 1
    # and another user's different body under the same key is no conflict either
    other = api_for(rep2).post("/api/v1/tokens", {"name": "different"}, headers={"Idempotency-Key": "k-unique"})
    assert other.status_code == 201


@pytest.mark.parametrize("key", ["x" * 256, "   "])
def test_bad_key_is_400(api_for, rep, key):
    response = api_for(rep).post("/api/v1/tokens", {"name": "x"}, headers={"Idempotency-Key": key})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_idempotency_key"
    assert response.json()["errors"][0]["field"] == "Idempotency-Key"
    assert not _created(rep).exists()


def test_longest_allowed_key_works(api_for, rep):
    api = api_for(rep)
    key = "k" * 255
    assert api.post("/api/v1/tokens", {"name": "x"}, headers={"Idempotency-Key": key}).status_code == 201
    assert api.post("/api/v1/tokens", {"name": "x"}, headers={"Idempotency-Key": key})["Idempotent-Replayed"]


def test_a_5xx_is_not_stored_and_its_writes_are_undone(api_for, rep, monkeypatch):
    api = api_for(rep)
    api.client.raise_request_exception = False
    real_create = services.token_create

    def create_then_crash(**kwargs):
        real_create(**kwargs)  # writes a token, then fails
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(services, "token_create", create_then_crash)
    crashed = api.post("/api/v1/tokens", {"name": "retry-me"}, headers={"Idempotency-Key": "k-5xx"})
    assert crashed.status_code == 500
    assert not IdempotencyRecord.objects.filter(key="k-5xx").exists()
    assert not _created(rep).exists()
    # when the server is healthy again, the retry runs afresh
    monkeypatch.setattr(services, "token_create", real_create)
    retried = api.post("/api/v1/tokens", {"name": "retry-me"}, headers={"Idempotency-Key": "k-5xx"})
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried
    assert _created(rep).count() == 1


def test_a_validation_error_is_replayed_as_is(api_for, rep):
    api = api_for(rep)
    first = api.post("/api/v1/tokens", {"name": "x" * 101}, headers={"Idempotency-Key": "k-422"})
    again = api.post("/api/v1/tokens", {"name": "x" * 101}, headers={"Idempotency-Key": "k-422"})
    assert first.status_code == again.status_code == 422
    assert again["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert again["Content-Type"] == "application/problem+json"


def test_unauthenticated_request_is_not_stored(db):
    response = Client().post("/api/v1/tokens", "{}", content_type="application/json",
                             HTTP_IDEMPOTENCY_KEY="k-anon", HTTP_AUTHORIZATION="Bearer nope")
    assert response.status_code == 401
    assert not IdempotencyRecord.objects.exists()


def test_csrf_refusal_is_not_stored_so_a_fixed_retry_runs(rep):
    client = Client(enforce_csrf_checks=True)
    client.force_login(rep, backend="django.contrib.auth.backends.ModelBackend")
    body = json.dumps({"name": "from the browser"})
    refused = client.post("/api/v1/tokens", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k-csrf")
    assert refused.status_code == 403
    client.get("/settings/tokens/")
    csrf = client.cookies["csrftoken"].value
    ok = client.post("/api/v1/tokens", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k-csrf",
                     HTTP_X_CSRFTOKEN=csrf)
    assert ok.status_code == 201 and "Idempotent-Replayed" not in ok
    assert ApiToken.objects.filter(user=rep).count() == 1


def test_without_key_every_post_creates(api_for, rep):
    api = api_for(rep)
    api.post("/api/v1/tokens", {"name": "a"})
    api.post("/api/v1/tokens", {"name": "a"})
    assert _created(rep).count() == 2
    assert not IdempotencyRecord.objects.exists()
