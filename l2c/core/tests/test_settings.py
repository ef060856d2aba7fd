"""Settings come from the environment; a bad value stops the start with ImproperlyConfigured naming the
variable, and production settings pass `check --deploy` without a warning."""
from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from l2c import settings as l2c_settings

ROOT = Path(__file__).resolve().parents[3]


def run_python(code: str, tmp_path, **env) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "SECRET_KEY", "DEBUG"}}
    environ.update({"L2C_VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "l2c.settings", **env})
    return subprocess.run([sys.executable, "-c", code], env=environ, capture_output=True, text=True, cwd=ROOT,
                          timeout=60)


@pytest.mark.parametrize("name, value", [
    ("DEBUG", "maybe"),
    ("L2C_SECURE", "perhaps"),
    ("EMAIL_USE_TLS", "2"),
    ("EMAIL_PORT", "twenty-five"),
    ("DB_CONN_MAX_AGE", "soon"),
    ("L2C_LOGIN_FAILURE_LIMIT", "five"),
    ("DATABASE_URL", "nosuchdb://somewhere/x"),
])
def test_an_invalid_value_fails_at_start_naming_the_variable(tmp_path, name, value):
    result = run_python("import django; django.setup()", tmp_path, **{name: value})

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert name in result.stderr.strip().splitlines()[-1]


def test_env_helpers_name_the_variable(monkeypatch):
    monkeypatch.setenv("L2C_TEST_FLAG", "nope")
    with pytest.raises(ImproperlyConfigured, match="L2C_TEST_FLAG"):
        l2c_settings.env_bool("L2C_TEST_FLAG")
    monkeypatch.setenv("L2C_TEST_NUMBER", "1.5")
    with pytest.raises(ImproperlyConfigured, match="L2C_TEST_NUMBER"):
        l2c_settings.env_int("L2C_TEST_NUMBER", 3)
    monkeypatch.setenv("L2C_TEST_FLAG", "Yes")
    assert l2c_settings.env_bool("L2C_TEST_FLAG") is True
    monkeypatch.delenv("L2C_TEST_NUMBER")
    assert l2c_settings.env_int("L2C_TEST_NUMBER", 3) == 3
    monkeypatch.setenv("L2C_TEST_LIST", " a.example , ,b.example ")
    assert l2c_settings.env_list("L2C_TEST_LIST") == ["a.example", "b.example"]


def test_defaults_are_the_embedded_setup_and_the_secret_is_generated_once(tmp_path):
    code = ("from django.conf import settings as s; import django; django.setup(); "
            "print(s.DATABASES['default']['ENGINE'], s.DATABASES['default']['NAME'], s.DEBUG, "
            "s.CELERY_BROKER_URL, s.SECRET_KEY)")
    first = run_python(code, tmp_path)
    second = run_python(code, tmp_path)

    assert first.returncode == 0, first.stderr
    engine, name, debug, broker, secret = first.stdout.split()
    assert engine == "django.db.backends.sqlite3" and name == str(tmp_path / "l2c.sqlite3")
    assert debug == "False" and broker == "filesystem://"
    assert len(secret) >= 50 and second.stdout.split()[-1] == secret
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def test_production_settings_pass_the_deploy_check_without_warnings(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], cwd=ROOT,
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "L2C_VAR_DIR": str(tmp_path), "SECRET_KEY": secrets.token_urlsafe(64), "L2C_SECURE": "1",
             "ALLOWED_HOSTS": "l2c.example.com", "DEBUG": "0"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
    assert "WARNING" not in result.stderr
