"""The admin's settings pages for users and teams, and everyone's own API tokens page."""
import pytest
from django.test import Client

from l2c.core.models import AuditEvent
from l2c.identity import services
from l2c.identity.models import ApiToken, Team, User

STRONG = "Plum-Harbour-42!"


def client_for(user):
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def _pages(rep, team):
    return [
        "/settings/users/", "/settings/users/new/", f"/settings/users/{rep.pk}/",
        "/settings/teams/", "/settings/teams/new/", f"/settings/teams/{team.pk}/",
    ]


def test_anonymous_is_sent_to_log_in(rep, team):
    client = Client()
    for url in _pages(rep, team):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/login/?next=")


@pytest.mark.parametrize("fixture", ["rep", "manager", "finance"])
def test_other_roles_are_refused(request, fixture, rep, team):
    client = client_for(request.getfixturevalue(fixture))
    for url in _pages(rep, team):
        assert client.get(url).status_code == 403, url
    posts = {
        "/settings/users/new/": {"username": "sneaky", "role": "admin", "password1": STRONG, "password2": STRONG},
        f"/settings/users/{rep.pk}/": {"role": "admin", "is_active": "on"},
        f"/settings/users/{rep.pk}/password/": {"password1": STRONG, "password2": STRONG},
        f"/settings/users/{rep.pk}/unlock/": {},
        "/settings/teams/new/": {"name": "Sneaky"},
        f"/settings/teams/{team.pk}/": {"name": "Renamed"},
    }
    for url, data in posts.items():
        assert client.post(url, data).status_code == 403, url
    rep.refresh_from_db()
    team.refresh_from_db()
    assert rep.role == "rep" and team.name == "East" and not User.objects.filter(username="sneaky").exists()
    assert not Team.objects.filter(name="Sneaky").exists()


def test_admin_sees_every_page(admin_user, rep, team):
    client = client_for(admin_user)
    for url in _pages(rep, team):
        assert client.get(url).status_code == 200, url


def test_missing_records_are_404(admin_user):
    client = client_for(admin_user)
    assert client.get("/settings/users/999999/").status_code == 404
    assert client.get("/settings/teams/999999/").status_code == 404


def test_nav_shows_settings_links_to_admin_only(admin_user, rep):
    assert b"/settings/users/" in client_for(admin_user).get("/settings/tokens/").content
    assert b"/settings/users/" not in client_for(rep).get("/settings/tokens/").content


# --- users list -------------------------------------------------------------------------------

@pytest.fixture
def people(admin_user, manager, rep, rep2, outsider, finance):
    services.user_update(user=rep2, actor=admin_user, is_active=False)
    User.objects.filter(pk=rep.pk).update(email="rep.one@acme.example", last_name="Zhang")
    return admin_user


def _usernames(response):
    return [u.username for u in response.context["page"].object_list]


def test_users_list_filters(people, team, other_team):
    client = client_for(people)
    assert _usernames(client.get("/settings/users/")) == ["admin", "finance", "manager", "outsider", "rep", "rep2"]
    assert _usernames(client.get("/settings/users/", {"q": "acme"})) == ["rep"]
    assert _usernames(client.get("/settings/users/", {"q": "Rep Zhang"})) == ["rep"]
    assert _usernames(client.get("/settings/users/", {"role": "rep"})) == ["outsider", "rep", "rep2"]
    assert _usernames(client.get("/settings/users/", {"team": other_team.pk})) == ["outsider"]
    assert _usernames(client.get("/settings/users/", {"team": 0})) == ["admin", "finance"]
    assert _usernames(client.get("/settings/users/", {"status": "inactive"})) == ["rep2"]
    assert _usernames(client.get("/settings/users/", {"role": "rep", "team": team.pk, "status": "active"})) == ["rep"]


def test_users_list_paginates(admin_user, settings, django_assert_max_num_queries):
    settings.L2C_PAGE_SIZE = 5
    User.objects.bulk_create([User(username=f"u{i:02}") for i in range(12)])
    client = client_for(admin_user)
    with django_assert_max_num_queries(10):
        first = client.get("/settings/users/", {"role": "rep"})
    assert _usernames(first) == ["u00", "u01", "u02", "u03", "u04"]
    third = client.get("/settings/users/", {"role": "rep", "page": 3})
    assert _usernames(third) == ["u10", "u11"]
    assert "role=rep&amp;page=2" in third.content.decode()  # the filter survives paging


def test_locked_user_has_badge_and_filter(admin_user, rep, rep2):
    from axes.models import AccessAttempt

    AccessAttempt.objects.create(username="rep", ip_address="203.0.113.7", user_agent="t", failures_since_start=5,
                                 get_data="", post_data="", http_accept="", path_info="/login/")
    client = client_for(admin_user)
    response = client.get("/settings/users/")
    assert response.context["locked"] == {"rep"}
    assert response.content.decode().count('class="badge badge-warn"') == 1
    assert _usernames(client.get("/settings/users/", {"status": "locked"})) == ["rep"]


# --- create and edit a user -------------------------------------------------------------------

def test_admin_creates_user(admin_user, team):
    client = client_for(admin_user)
    response = client.post("/settings/users/new/", {
        "username": "lin", "first_name": "Lin", "last_name": "Wei", "email": "lin@example.com", "role": "rep",
        "team": team.pk, "language": "zh-hans", "password1": STRONG, "password2": STRONG,
    })
    user = User.objects.get(username="lin")
    assert response.status_code == 302 and response["Location"] == f"/settings/users/{user.pk}/"
    assert (user.team, user.language, user.check_password(STRONG)) == (team, "zh-hans", True)
    assert AuditEvent.objects.filter(object_type="identity.user", object_id=str(user.pk), action="create").exists()


@pytest.mark.parametrize(("data", "field"), [
    ({"password1": "12345678", "password2": "12345678"}, "password1"),
    ({"password2": "Other-Harbour-42!"}, "password2"),
    ({"username": "rep"}, "username"),
    ({"username": "bad name"}, "username"),
    ({"email": "nope"}, "email"),
    ({"role": "king"}, "role"),
])
def test_create_user_shows_field_errors(admin_user, rep, data, field):
    client = client_for(admin_user)
    form = {"username": "lin", "role": "rep", "password1": STRONG, "password2": STRONG, **data}
    count = User.objects.count()
    response = client.post("/settings/users/new/", form)
    assert response.status_code == 422
    assert response.context["form"].errors[field]
    assert 'class="field-error' in response.content.decode()
    assert User.objects.count() == count


def test_admin_edits_user(admin_user, rep, other_team):
    client = client_for(admin_user)
    response = client.post(f"/settings/users/{rep.pk}/", {
        "first_name": "Rebecca", "last_name": "", "email": "", "role": "manager", "team": other_team.pk,
        "language": "en",  # is_active left out: the box is unticked
    })
    assert response.status_code == 302
    rep.refresh_from_db()
    assert (rep.first_name, rep.role, rep.team, rep.language, rep.is_active) == (
        "Rebecca", "manager", other_team, "en", False)
    page = client.get(f"/settings/users/{rep.pk}/")
    assert "Rebecca" in page.content.decode() and "deactivated" in page.content.decode()
    latest = page.context["history"][0]  # newest first
    assert ("role", "Sales rep", "Sales manager") in latest.display_changes
    assert ("team", "East", "West") in latest.display_changes


def test_admin_cannot_deactivate_self_in_ui(admin_user, rep):
    services.user_update(user=rep, actor=admin_user, role="admin")
    client = client_for(admin_user)
    response = client.post(f"/settings/users/{admin_user.pk}/", {"role": "admin", "first_name": "Admin"})
    assert response.status_code == 422
    assert "You cannot deactivate yourself." in response.context["form"].errors["is_active"]
    admin_user.refresh_from_db()
    assert admin_user.is_active


def test_admin_resets_password(admin_user, rep):
    client = client_for(admin_user)
    bad = client.post(f"/settings/users/{rep.pk}/password/", {"password1": "rep", "password2": "rep"})
    assert bad.status_code == 422 and bad.context["password_form"].errors["password1"]
    rep.refresh_from_db()
    assert rep.check_password("pw-rep")
    good = client.post(f"/settings/users/{rep.pk}/password/", {"password1": STRONG, "password2": STRONG})
    assert good.status_code == 302
    rep.refresh_from_db()
    assert rep.check_password(STRONG)


def test_admin_lists_and_revokes_a_users_tokens(admin_user, rep, rep2):
    token, raw = services.token_create(user=rep, name="Zapier", actor=rep)
    other, _ = services.token_create(user=rep2, name="Other", actor=rep2)
    client = client_for(admin_user)
    page = client.get(f"/settings/users/{rep.pk}/").content.decode()
    assert "Zapier" in page and token.prefix in page and raw not in page and "Other" not in page
    # another user's token through this user's page is a 404
    assert client.post(f"/settings/users/{rep.pk}/tokens/{other.pk}/revoke/").status_code == 404
    assert client.post(f"/settings/users/{rep.pk}/tokens/{token.pk}/revoke/").status_code == 302
    token.refresh_from_db()
    other.refresh_from_db()
    assert token.revoked_at is not None and other.revoked_at is None


# --- teams ------------------------------------------------------------------------------------

def test_admin_creates_and_edits_team_with_member_list(admin_user, team, manager, rep, outsider):
    client = client_for(admin_user)
    response = client.post("/settings/teams/new/", {"name": "APAC", "description": "Shanghai and Sydney"})
    apac = Team.objects.get(name="APAC")
    assert response["Location"] == f"/settings/teams/{apac.pk}/"
    assert client.post("/settings/teams/new/", {"name": "apac"}).status_code == 422
    assert client.post(f"/settings/teams/{team.pk}/", {"name": "East Coast", "description": ""}).status_code == 302
    team.refresh_from_db()
    assert team.name == "East Coast"
    page = client.get(f"/settings/teams/{team.pk}/")
    assert [m.username for m in page.context["members"]] == ["manager", "rep"]
    assert "outsider" not in page.content.decode()
    listing = client.get("/settings/teams/")
    counts = {t.name: t.member_count for t in listing.context["page"].object_list}
    assert counts == {"APAC": 0, "East Coast": 2, "West": 1}


def test_team_form_shows_duplicate_name_error(admin_user, team, other_team):
    response = client_for(admin_user).post(f"/settings/teams/{other_team.pk}/", {"name": "East"})
    assert response.status_code == 422
    assert response.context["form"].errors["name"]


# --- my tokens --------------------------------------------------------------------------------

def test_token_page_shows_new_token_once(rep):
    client = client_for(rep)
    response = client.post("/settings/tokens/", {"name": "Zapier"})
    token = ApiToken.objects.get(user=rep)
    raw = response.context["new_token"]
    assert raw.startswith(f"l2c_{token.prefix}_") and raw in response.content.decode()
    again = client.get("/settings/tokens/")
    assert raw not in again.content.decode() and token.prefix in again.content.decode()


def test_token_page_revokes_only_own_tokens(rep, rep2):
    mine, _ = services.token_create(user=rep, name="mine", actor=rep)
    theirs, _ = services.token_create(user=rep2, name="theirs", actor=rep2)
    client = client_for(rep)
    assert client.post("/settings/tokens/", {"revoke": theirs.pk}).status_code == 404
    assert client.post("/settings/tokens/", {"revoke": "garbage"}).status_code == 404
    assert client.post("/settings/tokens/", {"revoke": mine.pk}).status_code == 302
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.revoked_at is not None and theirs.revoked_at is None
    assert "theirs" not in client.get("/settings/tokens/").content.decode()


def test_token_page_needs_log_in(db):
    assert Client().get("/settings/tokens/").status_code == 302
