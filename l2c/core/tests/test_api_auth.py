"""Who the API lets in: bearer tokens (hashed, revocable, expiring) and the CSRF-checked session."""
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from l2c.identity import services
from l2c.identity.models import ApiToken


def _assert_401(response):
    assert response.status_code == 401, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response["WWW-Authenticate"] == "Bearer"
    body = response.json()
    assert (body["status"], body["code"]) == (401, "not_authenticated")


def _get(path, token=None, header=None):
    extra = {}
    if header is not None:
        extra["HTTP_AUTHORIZATION"] = header
    elif token is not None:
        extra["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return Client().get(path, **extra)


def test_valid_token_gets_in_and_marks_last_use(rep):
    token, raw = services.token_create(user=rep, name="t", actor=rep)
    response = _get("/api/v1/me", raw)
    assert response.status_code == 200 and response.json()["username"] == "rep"
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_scheme_is_case_insensitive(rep):
    _token, raw = services.token_create(user=rep, name="t", actor=rep)
    assert _get("/api/v1/me", header=f"bearer {raw}").status_code == 200


@pytest.mark.parametrize("header", [
    None, "", "Bearer", "Bearer ", "Basic cmVwOnB3LXJlcA==", "Bearer garbage", "Bearer l2c_deadbeef_nope",
    "Token l2c_x", "Bearer " + "l2c_" + "a" * 300,
])
def test_missing_or_garbage_header_is_401(db, header):
    _assert_401(Client().get("/api/v1/me", **({"HTTP_AUTHORIZATION": header} if header is not None else {})))


def test_garbage_token_on_post_is_401_not_csrf(db):
    response = Client().post("/api/v1/tokens", "{}", content_type="application/json",
                             HTTP_AUTHORIZATION="Bearer garbage")
    _assert_401(response)


def test_revoked_token_is_401(rep):
    token, raw = services.token_create(user=rep, name="t", actor=rep)
    services.token_revoke(token=token, actor=rep)
    _assert_401(_get("/api/v1/me", raw))


def test_expired_token_is_401(rep):
    token, raw = services.token_create(user=rep, name="t", actor=rep, expires_at=timezone.now() + timedelta(hours=1))
    assert _get("/api/v1/me", raw).status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    _assert_401(_get("/api/v1/me", raw))


def test_inactive_users_token_is_401(admin_user, rep):
    _token, raw = services.token_create(user=rep, name="t", actor=rep)
    services.user_update(user=rep, actor=admin_user, is_active=False)
    _assert_401(_get("/api/v1/me", raw))


def test_hash_of_token_is_not_a_token(rep):
    token, _raw = services.token_create(user=rep, name="t", actor=rep)
    _assert_401(_get("/api/v1/me", token.token_hash))


def test_bad_bearer_does_not_fall_back_to_the_session(rep):
    client = Client()
    client.force_login(rep, backend="django.contrib.auth.backends.ModelBackend")
    assert client.get("/api/v1/me").status_code == 200
    _assert_401(client.get("/api/v1/me", HTTP_AUTHORIZATION="Bearer garbage"))


def test_session_get_works_and_post_needs_csrf(rep):
    client = Client(enforce_csrf_checks=True)
    client.force_login(rep, backend="django.contrib.auth.backends.ModelBackend")
    assert client.get("/api/v1/me").json()["username"] == "rep"
    # without the CSRF token: refused, nothing created
    refused = client.post("/api/v1/tokens", '{"name": "x"}', content_type="application/json")
    assert refused.status_code == 403
    assert refused["Content-Type"] == "application/problem+json"
    assert not ApiToken.objects.filter(user=rep).exists()
    # with it (as the UI sends it: cookie + X-CSRFToken header): created
    client.get("/settings/tokens/")  # a page with a form sets the csrftoken cookie
    csrf = client.cookies["csrftoken"].value
    created = client.post("/api/v1/tokens", '{"name": "x"}', content_type="application/json", HTTP_X_CSRFTOKEN=csrf)
    assert created.status_code == 201, created.content
    assert ApiToken.objects.filter(user=rep).count() == 1


def test_logged_out_session_is_401(db):
    _assert_401(Client().get("/api/v1/tokens"))
