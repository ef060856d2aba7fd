"""Rules of the identity services: who may do what, what is refused, and what is audited."""
from datetime import timedelta

import pytest
from django.utils import timezone

from l2c.core.errors import Conflict, PermissionDenied, ValidationFailed
from l2c.core.models import AuditEvent
from l2c.identity import services, tokens
from l2c.identity.models import ApiToken, Team, User

STRONG = "Plum-Harbour-42!"


def _fields(exc) -> set[str]:
    return {e.field for e in exc.value.errors}


def _events(instance, action=None):
    qs = AuditEvent.objects.filter(object_type=f"identity.{instance._meta.model_name}", object_id=str(instance.pk))
    return qs.filter(action=action) if action else qs


# --- user_create ------------------------------------------------------------------------------

def test_admin_creates_user_with_audit(admin_user, team):
    user = services.user_create(username="jane", password=STRONG, role="manager", team=team, email="jane@example.com",
                                first_name="Jane", language="zh-hans", actor=admin_user)
    user.refresh_from_db()
    assert (user.role, user.team, user.language, user.is_staff) == ("manager", team, "zh-hans", False)
    assert user.check_password(STRONG)
    event = _events(user, "create").get()
    assert event.actor_id == admin_user.pk
    assert event.changes["username"] == [None, "jane"]
    assert "password" not in event.changes


def test_admin_role_makes_staff_and_superuser(admin_user):
    user = services.user_create(username="boss", password=STRONG, role="admin", actor=admin_user)
    assert user.is_staff and user.is_superuser and user.is_admin


@pytest.mark.parametrize("role", ["rep", "manager", "finance"])
def test_only_admin_creates_users(db, role):
    actor = User.objects.create_user(username="actor", password="x", role=role)
    with pytest.raises(PermissionDenied):
        services.user_create(username="jane", password=STRONG, actor=actor)
    assert not User.objects.filter(username="jane").exists()


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"username": ""}, "username"),
    ({"username": "x" * 151}, "username"),
    ({"username": "has space"}, "username"),
    ({"username": "ADMIN"}, "username"),  # taken, case-insensitively
    ({"role": "emperor"}, "role"),
    ({"email": "not-an-email"}, "email"),
    ({"language": "fr"}, "language"),
    ({"first_name": "x" * 151}, "first_name"),
    ({"password": "123"}, "password"),  # short and numeric
    ({"password": "password"}, "password"),  # common
])
def test_create_refuses_bad_input_and_changes_nothing(admin_user, kwargs, field):
    args = {"username": "jane", "password": STRONG, "actor": admin_user, **kwargs}
    before = User.objects.count()
    with pytest.raises(ValidationFailed) as exc:
        services.user_create(**args)
    assert field in _fields(exc)
    assert User.objects.count() == before


def test_password_similar_to_user_name_is_refused(admin_user):
    with pytest.raises(ValidationFailed) as exc:
        services.user_create(username="margaretha", password="margaretha1", actor=admin_user)
    assert _fields(exc) == {"password"}


def test_user_without_password_cannot_log_in(admin_user):
    user = services.user_create(username="nopw", password=None, actor=admin_user)
    assert not user.has_usable_password()


def test_cli_may_create_without_actor(db):
    user = services.user_create(username="first", password=STRONG, role="admin", actor=None)
    assert _events(user, "create").get().actor_label == "system"


# --- user_update ------------------------------------------------------------------------------

def test_update_records_before_and_after(admin_user, rep, other_team):
    services.user_update(user=rep, actor=admin_user, role="manager", team=other_team)
    rep.refresh_from_db()
    assert (rep.role, rep.team) == ("manager", other_team)
    event = _events(rep, "update").get()
    assert event.changes["role"] == ["rep", "manager"]
    assert event.changes["team"][1] == other_team.pk


def test_update_without_change_records_nothing(admin_user, rep):
    services.user_update(user=rep, actor=admin_user, role="rep")
    assert not _events(rep, "update").exists()


def test_promoting_to_admin_grants_staff_and_demoting_removes_it(admin_user, rep):
    services.user_update(user=rep, actor=admin_user, role="admin")
    rep.refresh_from_db()
    assert rep.is_staff and rep.is_superuser
    services.user_update(user=rep, actor=admin_user, role="rep")
    rep.refresh_from_db()
    assert not rep.is_staff and not rep.is_superuser


def test_update_refuses_unknown_fields(admin_user, rep):
    with pytest.raises(ValidationFailed) as exc:
        services.user_update(user=rep, actor=admin_user, username="hijack", password="x")
    assert _fields(exc) == {"username", "password"}


def test_update_refuses_bad_values(admin_user, rep):
    with pytest.raises(ValidationFailed) as exc:
        services.user_update(user=rep, actor=admin_user, role="boss", email="nope", language="xx")
    assert _fields(exc) == {"role", "email", "language"}
    rep.refresh_from_db()
    assert rep.role == "rep"


@pytest.mark.parametrize("fixture", ["rep", "manager", "finance"])
def test_only_admin_updates_users(request, fixture, rep2):
    actor = request.getfixturevalue(fixture)
    with pytest.raises(PermissionDenied):
        services.user_update(user=rep2, actor=actor, role="admin")


def test_admin_cannot_deactivate_themselves(admin_user, rep):
    services.user_update(user=rep, actor=admin_user, role="admin")  # not the last admin any more
    with pytest.raises(Conflict) as exc:
        services.user_update(user=admin_user, actor=admin_user, is_active=False)
    assert exc.value.field == "is_active"


def test_admin_cannot_demote_themselves(admin_user, rep):
    services.user_update(user=rep, actor=admin_user, role="admin")
    with pytest.raises(Conflict) as exc:
        services.user_update(user=admin_user, actor=admin_user, role="rep")
    assert exc.value.field == "role"


def test_last_active_admin_stays(db, admin_user):
    # given: the CLI (no actor) tries to demote or deactivate the only admin
    for change in ({"role": "rep"}, {"is_active": False}):
        with pytest.raises(Conflict) as exc:
            services.user_update(user=admin_user, actor=None, **change)
        assert exc.value.code == "last_admin"
    admin_user.refresh_from_db()
    assert admin_user.role == "admin" and admin_user.is_active


def test_another_admin_can_be_demoted_and_deactivated(admin_user, rep):
    services.user_update(user=rep, actor=admin_user, role="admin")
    services.user_update(user=rep, actor=admin_user, role="rep", is_active=False)
    rep.refresh_from_db()
    assert rep.role == "rep" and not rep.is_active


# --- passwords and lock-out -------------------------------------------------------------------

def test_admin_resets_password_audited_without_the_secret(admin_user, rep):
    services.user_set_password(user=rep, password=STRONG, actor=admin_user)
    rep.refresh_from_db()
    assert rep.check_password(STRONG)
    event = _events(rep, "access").get()
    assert STRONG not in str(event.changes) and rep.password not in str(event.changes)


def test_user_sets_own_password_but_not_others(rep, rep2):
    services.user_set_password(user=rep, password=STRONG, actor=rep)
    with pytest.raises(PermissionDenied):
        services.user_set_password(user=rep2, password=STRONG, actor=rep)
    rep2.refresh_from_db()
    assert not rep2.check_password(STRONG)


@pytest.mark.parametrize("password", ["", "short", "12345678901", "password123"])
def test_weak_password_is_refused(admin_user, rep, password):
    with pytest.raises(ValidationFailed) as exc:
        services.user_set_password(user=rep, password=password, actor=admin_user)
    assert _fields(exc) == {"password"}
    rep.refresh_from_db()
    assert rep.check_password("pw-rep")


def _lock(username, failures=5):
    from axes.models import AccessAttempt

    return AccessAttempt.objects.create(username=username, ip_address="203.0.113.7", user_agent="test",
                                        failures_since_start=failures, get_data="", post_data="", http_accept="",
                                        path_info="/login/")


def test_unlock_clears_attempts_and_is_audited(admin_user, rep):
    from l2c.identity import selectors

    _lock("rep")
    assert selectors.is_locked(rep)
    assert services.user_unlock(user=rep, actor=admin_user) == 1
    assert not selectors.is_locked(rep)
    assert _events(rep, "access").get().changes == {"lockout": ["locked", "unlocked"]}


def test_unlock_of_unlocked_user_records_nothing(admin_user, rep):
    assert services.user_unlock(user=rep, actor=admin_user) == 0
    assert not _events(rep, "access").exists()


def test_only_admin_unlocks(manager, rep):
    _lock("rep")
    with pytest.raises(PermissionDenied):
        services.user_unlock(user=rep, actor=manager)


def test_locked_means_limit_reached_within_cool_off(rep, rep2, manager):
    from axes.models import AccessAttempt

    from l2c.identity import selectors

    _lock("rep", failures=5)
    _lock("rep2", failures=4)  # below the limit
    old = _lock("manager", failures=9)
    AccessAttempt.objects.filter(pk=old.pk).update(attempt_time=timezone.now() - timedelta(minutes=16))
    assert selectors.locked_usernames() == {"rep"}


# --- teams ------------------------------------------------------------------------------------

def test_team_create_and_update_are_audited(admin_user):
    team = services.team_create(name="  North  ", description="Nordics", actor=admin_user)
    assert team.name == "North"
    services.team_update(team=team, name="North Europe", actor=admin_user)
    team.refresh_from_db()
    assert team.name == "North Europe" and team.description == "Nordics"
    assert _events(team, "create").exists()
    assert _events(team, "update").get().changes == {"name": ["North", "North Europe"]}


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"name": ""}, "name"), ({"name": "   "}, "name"), ({"name": "x" * 101}, "name"),
    ({"name": "east"}, "name"),  # exists as "East"
    ({"name": "Fine", "description": "d" * 301}, "description"),
])
def test_team_create_refuses_bad_input(admin_user, team, kwargs, field):
    with pytest.raises(ValidationFailed) as exc:
        services.team_create(actor=admin_user, **kwargs)
    assert _fields(exc) == {field}
    assert Team.objects.count() == 1


def test_team_rename_to_existing_name_is_refused(admin_user, team, other_team):
    with pytest.raises(ValidationFailed):
        services.team_update(team=other_team, name="EAST", actor=admin_user)
    other_team.refresh_from_db()
    assert other_team.name == "West"


def test_team_update_keeping_own_name_is_fine(admin_user, team):
    services.team_update(team=team, name="East", description="Boston", actor=admin_user)
    team.refresh_from_db()
    assert team.description == "Boston"


@pytest.mark.parametrize("fixture", ["rep", "manager", "finance"])
def test_only_admin_manages_teams(request, fixture, team):
    actor = request.getfixturevalue(fixture)
    with pytest.raises(PermissionDenied):
        services.team_create(name="Mine", actor=actor)
    with pytest.raises(PermissionDenied):
        services.team_update(team=team, name="Mine", actor=actor)


# --- tokens -----------------------------------------------------------------------------------

def test_token_is_stored_hashed_only(rep):
    token, raw = services.token_create(user=rep, name="Zapier", actor=rep)
    assert raw.startswith("l2c_" + token.prefix + "_")
    stored = ApiToken.objects.filter(pk=token.pk).values().get()
    assert raw not in {str(v) for v in stored.values()}
    assert stored["token_hash"] == tokens.hash_token(raw)
    assert tokens.user_for_token(raw) == rep
    event = _events(token, "access").get()
    assert raw not in str(event.changes) and stored["token_hash"] not in str(event.changes)


def test_token_name_defaults_and_is_limited(rep):
    token, _ = services.token_create(user=rep, name="  ", actor=rep)
    assert token.name == "API token"
    with pytest.raises(ValidationFailed) as exc:
        services.token_create(user=rep, name="x" * 101, actor=rep)
    assert _fields(exc) == {"name"}


def test_token_expiry_must_be_in_the_future(rep):
    with pytest.raises(ValidationFailed) as exc:
        services.token_create(user=rep, name="old", actor=rep, expires_at=timezone.now() - timedelta(seconds=1))
    assert _fields(exc) == {"expires_at"}
    token, _ = services.token_create(user=rep, name="new", actor=rep, expires_at=timezone.now() + timedelta(days=1))
    assert token.is_active


def test_no_token_for_deactivated_user(admin_user, rep):
    services.user_update(user=rep, actor=admin_user, is_active=False)
    with pytest.raises(ValidationFailed):
        services.token_create(user=rep, name="x", actor=admin_user)


def test_tokens_for_others_only_by_admin(admin_user, rep, rep2):
    with pytest.raises(PermissionDenied):
        services.token_create(user=rep2, name="x", actor=rep)
    token, _ = services.token_create(user=rep2, name="x", actor=admin_user)
    with pytest.raises(PermissionDenied):
        services.token_revoke(token=token, actor=rep)
    services.token_revoke(token=token, actor=admin_user)


def test_revoke_twice_is_a_conflict(rep):
    token, raw = services.token_create(user=rep, name="x", actor=rep)
    services.token_revoke(token=token, actor=rep)
    assert tokens.user_for_token(raw) is None
    with pytest.raises(Conflict):
        services.token_revoke(token=token, actor=rep)
    assert _events(token, "access").count() == 2
