"""Shared pytest fixtures: users per role, an API client with a bearer token."""
import os

import pytest

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "l2c.settings")


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def team(db):
    from l2c.identity.models import Team

    return Team.objects.create(name="East")


@pytest.fixture
def other_team(db):
    from l2c.identity.models import Team

    return Team.objects.create(name="West")


def _user(username, role, team=None):
    from l2c.identity.models import User

    user = User.objects.create_user(username=username, password="pw-" + username, role=role, team=team,
                                    first_name=username.capitalize())
    if role == "admin":
        user.is_staff = user.is_superuser = True
        user.save()
    return user


@pytest.fixture
def admin_user(db):
    return _user("admin", "admin")


@pytest.fixture
def manager(db, team):
    return _user("manager", "manager", team)


@pytest.fixture
def rep(db, team):
    return _user("rep", "rep", team)


@pytest.fixture
def rep2(db, team):
    """A rep in the same team as `rep`."""
    return _user("rep2", "rep", team)


@pytest.fixture
def outsider(db, other_team):
    """A rep in another team."""
    return _user("outsider", "rep", other_team)


@pytest.fixture
def finance(db):
    return _user("finance", "finance")


class ApiClient:
    """A Django test client that talks JSON with a bearer token."""

    def __init__(self, user):
        from django.test import Client

        from l2c.identity import services

        self.user = user
        self.client = Client()
        _, self.token = services.token_create(user=user, name="test", actor=None)

    def _headers(self, extra):
        headers = {"HTTP_AUTHORIZATION": f"Bearer {self.token}"}
        for key, value in (extra or {}).items():
            headers["HTTP_" + key.upper().replace("-", "_")] = value
        return headers

    def get(self, path, params=None, headers=None):
        return self.client.get(path, params or {}, **self._headers(headers))

    def post(self, path, data=None, headers=None, raw=None):
        import json

        body = raw if raw is not None else json.dumps(data if data is not None else {})
        return self.client.post(path, body, content_type="application/json", **self._headers(headers))

    def patch(self, path, data=None, headers=None):
        import json

        return self.client.patch(path, json.dumps(data or {}), content_type="application/json", **self._headers(headers))

    def put(self, path, data=None, headers=None):
        import json

        return self.client.put(path, json.dumps(data or {}), content_type="application/json", **self._headers(headers))

    def delete(self, path, headers=None):
        return self.client.delete(path, **self._headers(headers))


@pytest.fixture
def api_for(db):
    """api_for(user) -> ApiClient authenticated as that user."""
    return ApiClient
