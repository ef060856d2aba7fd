"""Shared pytest fixtures: users per role, an API client with a bearer token."""
import os

import pytest

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "l2c.settings")


@pytest.fixture(autouse=True)
def _english_by_default():
    """Each test starts in the default language: a request or test that switched to Chinese in this
    thread must not change the next test's messages."""
    from django.conf import settings as django_settings
    from django.utils import translation

    translation.activate(django_settings.LANGUAGE_CODE)
    yield
    translation.activate(django_settings.LANGUAGE_CODE)


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


# Reference rows that data migrations seed; a transaction=True test flushes every table when it ends, so
# the tests after it would find them gone. Put back what is missing (each seed function is idempotent).
_SEEDS = [("l2c.ledger.migrations.0002_seed_chart_and_journals", "ledger", "Journal"),
          ("l2c.receivables.migrations.0002_seed_dunning_levels", "receivables", "DunningLevel"),
          ("l2c.quoting.migrations.0002_defaults", "quoting", "TaxRate"),
          ("l2c.pipeline.migrations.0002_default_stages", "pipeline", "Stage")]


@pytest.fixture(autouse=True)
def _reference_data(request):
    marker = request.node.get_closest_marker("django_db")
    if marker is None and not {"db", "transactional_db"} & set(request.fixturenames):
        return
    import importlib

    from django.apps import apps

    transactional = bool(marker and marker.kwargs.get("transaction")) or "transactional_db" in request.fixturenames
    request.getfixturevalue("transactional_db" if transactional else "db")
    for module, app_label, model in _SEEDS:
        if not apps.get_model(app_label, model).objects.exists():
            importlib.import_module(module).seed(apps, None)


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


# --- browser tests (Playwright for Python driving Debian's chromium; never `playwright install`) ---------

CHROMIUM = os.environ.get("L2C_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-background-networking", "--disable-quic", "--no-first-run",
                  "--disable-component-update", "--disable-sync"]
# Set L2C_E2E_SHOTS=/tmp/e2e-shots to keep screenshots of the key steps (`shot` fixture); a failing browser
# test always leaves its last screen there (default /tmp/e2e-shots), never in the repository.
E2E_SHOTS = os.environ.get("L2C_E2E_SHOTS", "")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, "_l2c_report_" + report.when, report)
    return report


@pytest.fixture(scope="module")
def browser():
    """One headless chromium per test module.

    Not per session: while Playwright's sync API is active its event loop counts as running in this
    thread, so Django's ORM must be told that is safe (DJANGO_ALLOW_ASYNC_UNSAFE) — and that must not
    leak into the rest of the suite, where it would hide real async-safety bugs.
    """
    import shutil

    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        pytest.fail(f"chromium not found at {CHROMIUM}: apt-get install -y chromium (or set L2C_CHROMIUM)")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=10_000)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
            yield browser
            browser.close()


@pytest.fixture
def page(request, browser, live_server):
    """A fresh browser context (no cookies) on the live server, in English; relative URLs work."""
    context = browser.new_context(base_url=live_server.url, locale="en-US", viewport={"width": 1360, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    report = getattr(request.node, "_l2c_report_call", None)
    if report is not None and report.failed:
        from pathlib import Path

        folder = Path(E2E_SHOTS or "/tmp/e2e-shots")
        folder.mkdir(parents=True, exist_ok=True)
        try:
            page.screenshot(path=str(folder / f"FAILED-{request.node.name}.png"), full_page=True)
        except Exception as exc:  # the page may be gone; the test's own error is what matters
            print(f"no screenshot of the failed page: {exc}")
    context.close()


@pytest.fixture
def shot(request, page):
    """shot("step") saves a full-page screenshot to $L2C_E2E_SHOTS (only when that is set)."""
    counter = iter(range(1, 1000))

    def take(name: str) -> None:
        if E2E_SHOTS:
            from pathlib import Path

            folder = Path(E2E_SHOTS)
            folder.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(folder / f"{request.node.name}-{next(counter):02d}-{name}.png"), full_page=True)

    return take


@pytest.fixture
def login(page):
    """login(username) logs in through the form with the fixture users' password ("pw-<username>")."""

    def do(username: str, password: str | None = None) -> None:
        page.goto("/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", password if password is not None else "pw-" + username)
        page.click("button[type=submit].btn-primary")
        page.wait_for_url(lambda url: "/login/" not in url)

    return do
