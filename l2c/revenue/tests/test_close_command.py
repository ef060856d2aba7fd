"""`l2c close-period` and the monthly job: the way operators close a month, with their bad input."""
import datetime as dt
import json

import pytest
from django.core.management import CommandError, call_command

from l2c.revenue import services
from l2c.revenue.models import PeriodClose
from l2c.revenue.tasks import close_previous_month

from .factories import D, balance
from .test_modifications import support_year

pytestmark = pytest.mark.django_db


def run(*args):
    from io import StringIO

    out = StringIO()
    call_command("close_period", *args, stdout=out)
    return out.getvalue()


def test_close_period_command_closes_once_and_says_so(finance):
    support_year()
    text = run("2026-01", "--as", finance.username)
    assert "2026-01 closed: 1 contracts" in text and "the month is locked" in text
    assert balance("4000") == D("-101.92")
    assert "already closed" in run("2026-01")
    summary = json.loads(run("2026-02", "--json"))
    assert summary["period"] == "2026-02" and summary["revenue"] == "92.05" and summary["entries"] == 1
    assert PeriodClose.objects.get(period=dt.date(2026, 1, 1)).closed_by == finance


@pytest.mark.parametrize("args, message", [
    (["2026-13"], "YYYY-MM"), (["november"], "YYYY-MM"), (["2026-01", "--as", "nobody"], "No active user"),
    (["2026-01", "--reopen", "--as", "finance", "--reason", "x"], "Only an admin"),
    (["2026-01", "--reopen", "--as", "admin", "--reason", "x"], "not closed"),
])
def test_bad_input_is_a_clear_error(finance, admin_user, args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)


def test_sales_users_cannot_close(rep):
    with pytest.raises(CommandError, match="Only finance and admin"):
        run("2026-01", "--as", rep.username)


def test_reopen_by_admin(admin_user):
    support_year()
    run("2026-01")
    with pytest.raises(CommandError, match="reason"):
        run("2026-01", "--reopen", "--as", admin_user.username)
    assert "reopened" in run("2026-01", "--reopen", "--as", admin_user.username, "--reason", "late invoice")
    assert balance("4000") == 0


def test_monthly_job_closes_the_previous_month_and_registers_new_contracts():
    support_year()
    result = close_previous_month("2026-02-03")
    assert result["period"] == "2026-01" and result["contracts"] == 1
    assert close_previous_month("2026-02-04")["already_closed"] is True
    assert services.register_missing() == 0


def test_a_month_that_is_not_over_cannot_be_closed(finance, monkeypatch):
    from l2c.revenue import close

    support_year()
    monkeypatch.setattr(close, "_today", lambda: dt.date(2026, 3, 31))
    with pytest.raises(CommandError, match="has not ended yet"):
        run("2026-03")
    assert "2026-02 closed" in run("2026-02")
