"""Operator commands: `l2c createuser` and `l2c token create|list|revoke`."""
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from l2c.identity import tokens
from l2c.identity.models import ApiToken, Team, User

STRONG = "Plum-Harbour-42!"


def test_createuser_with_team(db):
    out = StringIO()
    call_command("createuser", "lin", "--role", "manager", "--team", "APAC", "--password", STRONG, stdout=out)
    user = User.objects.get(username="lin")
    assert user.role == "manager" and user.team == Team.objects.get(name="APAC") and user.check_password(STRONG)
    assert "created user lin" in out.getvalue()


def test_createuser_reads_password_from_environment(db, monkeypatch):
    monkeypatch.setenv("L2C_PASSWORD", STRONG)
    call_command("createuser", "env", stdout=StringIO())
    assert User.objects.get(username="env").check_password(STRONG)


def test_createuser_refuses_weak_password_and_taken_name(db, rep):
    with pytest.raises(CommandError, match="password"):
        call_command("createuser", "weak", "--password", "123", stdout=StringIO())
    with pytest.raises(CommandError, match="taken"):
        call_command("createuser", "REP", "--password", STRONG, stdout=StringIO())
    assert not User.objects.filter(username="weak").exists()


def test_createuser_without_password_outside_a_terminal_fails(db, monkeypatch):
    monkeypatch.delenv("L2C_PASSWORD", raising=False)
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    with pytest.raises(CommandError, match="no password"):
        call_command("createuser", "nopw", stdout=StringIO())


def test_token_create_prints_once_and_stores_hash(rep):
    out, err = StringIO(), StringIO()
    call_command("token", "create", "rep", "--name", "cron", stdout=out, stderr=err)
    raw = out.getvalue().strip()
    token = ApiToken.objects.get(user=rep)
    assert token.token_hash == tokens.hash_token(raw) and token.name == "cron"
    assert "shown only once" in err.getvalue()
    listing = StringIO()
    call_command("token", "list", "rep", stdout=listing)
    assert token.prefix in listing.getvalue() and raw not in listing.getvalue() and "active" in listing.getvalue()
    call_command("token", "revoke", token.prefix, stdout=StringIO())
    assert tokens.user_for_token(raw) is None
    with pytest.raises(CommandError, match="already revoked"):
        call_command("token", "revoke", token.prefix, stdout=StringIO())


def test_token_for_unknown_user_or_prefix_fails(db):
    with pytest.raises(CommandError, match="ghost"):
        call_command("token", "create", "ghost", stdout=StringIO())
    with pytest.raises(CommandError, match="no token"):
        call_command("token", "revoke", "nope", stdout=StringIO())
