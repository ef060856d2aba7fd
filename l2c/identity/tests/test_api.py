"""The identity API: /me, my tokens, and the admin-only users and teams, for each role."""
from datetime import timedelta

import pytest
from django.utils import timezone

from l2c.core.models import AuditEvent
from l2c.identity import services, tokens
from l2c.identity.models import ApiToken, Team, User

STRONG = "Plum-Harbour-42!"
NON_ADMINS = ["rep", "manager", "finance"]


def _problem(response, status, code=None):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    if code:
        assert body["code"] == code
    return body


# --- me and tokens ----------------------------------------------------------------------------

def test_me(api_for, manager, team):
    body = api_for(manager).get("/api/v1/me").json()
    assert body == {"id": manager.pk, "username": "manager", "first_name": "Manager", "last_name": "", "email": "",
                    "role": "manager", "team_id": team.pk, "language": ""}


def test_create_token_shows_secret_once(api_for, rep):
    api = api_for(rep)
    response = api.post("/api/v1/tokens", {"name": "Zapier"})
    assert response.status_code == 201
    body = response.json()
    raw = body["token"]
    assert raw.startswith(f"l2c_{body['prefix']}_") and body["name"] == "Zapier" and body["is_active"]
    assert ApiToken.objects.get(pk=body["id"]).token_hash == tokens.hash_token(raw)
    listed = api.get("/api/v1/tokens").json()
    assert body["id"] in [t["id"] for t in listed]
    assert all("token" not in t for t in listed)
    assert raw not in api.get("/api/v1/tokens").content.decode()
    # the new token works on its own
    assert api.client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200


def test_token_list_is_only_mine(api_for, rep, rep2):
    services.token_create(user=rep2, name="theirs", actor=rep2)
    names = [t["name"] for t in api_for(rep).get("/api/v1/tokens").json()]
    assert names == ["test"]


def test_create_token_with_expiry_and_bad_input(api_for, rep):
    api = api_for(rep)
    later = (timezone.now() + timedelta(days=30)).isoformat()
    assert api.post("/api/v1/tokens", {"name": "ci", "expires_at": later}).json()["expires_at"] is not None
    body = _problem(api.post("/api/v1/tokens", {"name": "old", "expires_at": "2001-01-01T00:00:00Z"}), 422)
    assert body["errors"][0]["field"] == "expires_at"
    body = _problem(api.post("/api/v1/tokens", {"name": "x" * 101}), 422)
    assert body["errors"][0]["field"] == "name"
    body = _problem(api.post("/api/v1/tokens", {"name": ["not", "a", "string"]}), 422)
    assert body["errors"][0]["field"] == "name"
    assert ApiToken.objects.filter(user=rep).count() == 2


def test_revoke_token(api_for, rep):
    api = api_for(rep)
    created = api.post("/api/v1/tokens", {"name": "tmp"}).json()
    response = api.post(f"/api/v1/tokens/{created['id']}/revoke")
    assert response.status_code == 200
    assert response.json()["revoked_at"] is not None and not response.json()["is_active"]
    _problem(api.post(f"/api/v1/tokens/{created['id']}/revoke"), 409, "already_revoked")
    revoked = api.client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {created['token']}")
    _problem(revoked, 401, "not_authenticated")


def test_revoking_someone_elses_token_is_404(api_for, rep, rep2):
    theirs, _ = services.token_create(user=rep2, name="theirs", actor=rep2)
    _problem(api_for(rep).post(f"/api/v1/tokens/{theirs.pk}/revoke"), 404, "not_found")
    _problem(api_for(rep).post("/api/v1/tokens/999999/revoke"), 404, "not_found")
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


# --- users (admin only) -----------------------------------------------------------------------

@pytest.mark.parametrize("fixture", NON_ADMINS)
def test_users_and_teams_are_admin_only(request, fixture, api_for, rep, team):
    api = api_for(request.getfixturevalue(fixture))
    calls = [
        api.get("/api/v1/users"),
        api.get(f"/api/v1/users/{rep.pk}"),
        api.post("/api/v1/users", {"username": "sneaky", "password": STRONG, "role": "admin"}),
        api.patch(f"/api/v1/users/{rep.pk}", {"role": "admin"}),
        api.post(f"/api/v1/users/{rep.pk}/unlock"),
        api.get("/api/v1/teams"),
        api.get(f"/api/v1/teams/{team.pk}"),
        api.post("/api/v1/teams", {"name": "Sneaky"}),
        api.patch(f"/api/v1/teams/{team.pk}", {"name": "Renamed"}),
    ]
    for response in calls:
        _problem(response, 403, "permission_denied")
    rep.refresh_from_db()
    team.refresh_from_db()
    assert rep.role == "rep" and team.name == "East"
    assert not User.objects.filter(username="sneaky").exists() and not Team.objects.filter(name="Sneaky").exists()


def test_anonymous_gets_401_on_admin_api(client, rep, team):
    for path in ("/api/v1/users", f"/api/v1/users/{rep.pk}", "/api/v1/teams"):
        response = client.get(path)
        _problem(response, 401, "not_authenticated")
        assert response["WWW-Authenticate"] == "Bearer"


def test_admin_lists_users_with_filters(api_for, admin_user, manager, rep, rep2, outsider, finance, team):
    api = api_for(admin_user)
    body = api.get("/api/v1/users").json()
    assert body["count"] == 6
    assert [u["username"] for u in body["items"]] == ["admin", "finance", "manager", "outsider", "rep", "rep2"]
    assert set(body["items"][0]) >= {"id", "username", "email", "role", "team_id", "is_active", "last_login"}
    assert "password" not in body["items"][0]

    def names(**params):
        return [u["username"] for u in api.get("/api/v1/users", params).json()["items"]]

    assert names(role="rep", team_id=team.pk) == ["rep", "rep2"]
    assert names(q="out") == ["outsider"]
    assert names(limit=2, offset=2) == ["manager", "outsider"]
    body = _problem(api.get("/api/v1/users", {"role": "emperor"}), 422)
    assert body["errors"][0]["field"] == "role"


def test_admin_creates_user(api_for, admin_user, team):
    response = api_for(admin_user).post("/api/v1/users", {
        "username": "lin", "password": STRONG, "role": "manager", "team_id": team.pk, "email": "lin@example.com",
        "language": "zh-hans"})
    assert response.status_code == 201
    body = response.json()
    assert (body["username"], body["role"], body["team_id"], body["language"]) == ("lin", "manager", team.pk, "zh-hans")
    assert User.objects.get(username="lin").check_password(STRONG)
    assert AuditEvent.objects.filter(object_type="identity.user", object_id=str(body["id"]), action="create").exists()


@pytest.mark.parametrize(("data", "field", "status"), [
    ({"username": "lin", "password": "1234"}, "password", 422),
    ({"username": "rep"}, "username", 422),
    ({"username": "lin", "email": "nope"}, "email", 422),
    ({"username": "lin", "team_id": 999999}, "team_id", 422),
    ({"username": "lin", "role": "king"}, "role", 422),
    ({"password": STRONG}, "username", 422),
])
def test_create_user_bad_input(api_for, admin_user, rep, data, field, status):
    count = User.objects.count()
    body = _problem(api_for(admin_user).post("/api/v1/users", data), status)
    assert field in [e["field"] for e in body["errors"]]
    assert User.objects.count() == count


def test_admin_patches_user(api_for, admin_user, rep, other_team):
    api = api_for(admin_user)
    response = api.patch(f"/api/v1/users/{rep.pk}", {"role": "manager", "team_id": other_team.pk})
    assert response.status_code == 200
    assert (response.json()["role"], response.json()["team_id"], response.json()["first_name"]) == (
        "manager", other_team.pk, "Rep")  # fields not sent stay
    assert api.patch(f"/api/v1/users/{rep.pk}", {"team_id": None}).json()["team_id"] is None
    body = _problem(api.patch(f"/api/v1/users/{rep.pk}", {"role": None}), 422)
    assert body["errors"][0]["field"] == "role"
    _problem(api.patch("/api/v1/users/999999", {"role": "rep"}), 404, "not_found")


def test_admin_cannot_lock_themselves_out_through_api(api_for, admin_user):
    api = api_for(admin_user)
    body = _problem(api.patch(f"/api/v1/users/{admin_user.pk}", {"is_active": False}), 409)
    assert body["errors"][0]["field"] == "is_active"
    _problem(api.patch(f"/api/v1/users/{admin_user.pk}", {"role": "rep"}), 409)


def test_deactivating_a_user_stops_their_token(api_for, admin_user, rep):
    rep_api = api_for(rep)
    assert rep_api.get("/api/v1/me").status_code == 200
    api_for(admin_user).patch(f"/api/v1/users/{rep.pk}", {"is_active": False})
    _problem(rep_api.get("/api/v1/me"), 401)


def test_admin_unlocks_through_api(api_for, admin_user, rep):
    from axes.models import AccessAttempt

    AccessAttempt.objects.create(username="rep", ip_address="203.0.113.7", user_agent="t", failures_since_start=5,
                                 get_data="", post_data="", http_accept="", path_info="/login/")
    api = api_for(admin_user)
    assert [u["username"] for u in api.get("/api/v1/users", {"locked": True}).json()["items"]] == ["rep"]
    assert api.post(f"/api/v1/users/{rep.pk}/unlock").status_code == 200
    assert api.get("/api/v1/users", {"locked": True}).json()["count"] == 0


# --- teams ------------------------------------------------------------------------------------

def test_admin_manages_teams(api_for, admin_user, team):
    api = api_for(admin_user)
    created = api.post("/api/v1/teams", {"name": "APAC", "description": "Shanghai"})
    assert created.status_code == 201
    team_id = created.json()["id"]
    assert [t["name"] for t in api.get("/api/v1/teams").json()["items"]] == ["APAC", "East"]
    assert api.get("/api/v1/teams", {"q": "shang"}).json()["count"] == 1
    assert api.get(f"/api/v1/teams/{team_id}").json()["description"] == "Shanghai"
    patched = api.patch(f"/api/v1/teams/{team_id}", {"description": "Shanghai, Sydney"}).json()
    assert (patched["name"], patched["description"]) == ("APAC", "Shanghai, Sydney")
    body = _problem(api.post("/api/v1/teams", {"name": "east"}), 422)
    assert body["errors"] == [{"field": "name", "message": "A team called 'east' exists already.", "code": "unique"}]
    _problem(api.patch(f"/api/v1/teams/{team_id}", {"name": "East"}), 422)
    _problem(api.patch(f"/api/v1/teams/{team_id}", {"name": None}), 422)
    _problem(api.get("/api/v1/teams/999999"), 404)
