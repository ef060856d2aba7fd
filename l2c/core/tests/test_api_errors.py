"""The API's error format: RFC 9457 problem details with a machine code and field-level errors."""
import pytest

from l2c.identity.models import ApiToken, Team

PROBLEM_KEYS = {"type", "title", "status", "detail", "code"}


def _problem(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert PROBLEM_KEYS <= set(body)
    assert (body["status"], body["code"]) == (status, code)
    assert body["type"].endswith("/" + code.replace("_", "-"))
    return body


@pytest.mark.parametrize("raw", ["{bad json", '{"name": "x",}', "\x00", '"a string"', "42", "null", "[1, 2]"])
def test_invalid_json_body_is_400(api_for, rep, raw):
    body = _problem(api_for(rep).post("/api/v1/tokens", raw=raw), 400, "invalid_json")
    assert "JSON object" in body["detail"]
    assert body["instance"] == "/api/v1/tokens"
    assert not ApiToken.objects.filter(user=rep).exclude(name="test").exists()


def test_schema_violation_is_422_naming_the_field(api_for, admin_user):
    api = api_for(admin_user)
    body = _problem(api.post("/api/v1/teams", {"description": "no name"}), 422, "validation_failed")
    assert body["errors"] == [{"field": "name", "message": "Field required", "code": "missing"}]
    body = _problem(api.post("/api/v1/teams", {"name": 5}), 422, "validation_failed")
    assert [e["field"] for e in body["errors"]] == ["name"]
    assert "name" in body["detail"]
    assert not Team.objects.exists()


def test_wrong_type_in_query_is_422(api_for, admin_user):
    body = _problem(api_for(admin_user).get("/api/v1/users", {"limit": "many"}), 422, "validation_failed")
    assert [e["field"] for e in body["errors"]] == ["limit"]


def test_several_bad_fields_are_all_named(api_for, admin_user):
    body = _problem(api_for(admin_user).post("/api/v1/users", {"username": 1, "role": "king", "is_active": "x"}),
                    422, "validation_failed")
    assert {"username", "role"} <= {e["field"] for e in body["errors"]}


def test_business_rule_error_names_field(api_for, admin_user, team):
    body = _problem(api_for(admin_user).post("/api/v1/teams", {"name": "EAST"}), 422, "validation_failed")
    assert body["errors"][0]["field"] == "name" and body["errors"][0]["code"] == "unique"


@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/v1/users/1/nope", "/api/v2/me", "/api/"])
def test_unknown_route_is_404_problem(api_for, rep, path):
    body = _problem(api_for(rep).get(path), 404, "not_found")
    assert body["instance"] == path


def test_unknown_record_is_404_problem(api_for, rep):
    _problem(api_for(rep).post("/api/v1/tokens/424242/revoke"), 404, "not_found")


def test_no_token_is_401_problem(client, db):
    response = client.get("/api/v1/me")
    _problem(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Bearer"


def test_forbidden_is_403_problem(api_for, rep):
    body = _problem(api_for(rep).get("/api/v1/users"), 403, "permission_denied")
    assert "admin" in body["detail"]


def test_conflict_is_409_problem(api_for, rep):
    api = api_for(rep)
    token_id = api.post("/api/v1/tokens", {"name": "x"}).json()["id"]
    api.post(f"/api/v1/tokens/{token_id}/revoke")
    _problem(api.post(f"/api/v1/tokens/{token_id}/revoke"), 409, "already_revoked")
