"""The forecast: weighted pipeline by close month and category, overrides (owner and team), visibility per
role, currency conversion, contracted revenue, snapshots and their accuracy — exact numbers on a small
history built here."""
import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from l2c.analytics import forecast
from l2c.analytics.models import ForecastOverride, ForecastSnapshot, ForecastSnapshotLine
from l2c.core.errors import Conflict, PermissionDenied, ValidationFailed
from l2c.core.models import AuditEvent
from l2c.ledger.models import ExchangeRate
from l2c.pipeline.tests.factories import OpportunityFactory, stage_named

pytestmark = pytest.mark.django_db
D = Decimal
MAR, APR = dt.date(2026, 3, 1), dt.date(2026, 4, 1)
AS_OF = dt.date(2026, 3, 10)
RANGE = {"date_from": "2026-03", "date_to": "2026-04", "as_of": "2026-03-10"}


def at(day: str, hour: int = 12) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(hour=hour, tzinfo=dt.UTC)


def deal(owner, amount, category, probability, close, *, currency="USD", stage="Proposal", closed_at=None):
    return OpportunityFactory(owner=owner, amount=D(amount), currency=currency, forecast_category=category,
                              probability=probability, expected_close_date=dt.date.fromisoformat(close),
                              stage=stage_named(stage), closed_at=closed_at)


@pytest.fixture
def history(rep, rep2, outsider):
    """March and April 2026 (as of 10 March): see the module's expected figures in each test."""
    ExchangeRate.objects.create(currency="EUR", date=dt.date(2026, 3, 1), rate=D("1.10"))
    return {
        "rep_commit": deal(rep, "10000", "commit", 75, "2026-03-20"),
        "rep_best": deal(rep, "4000", "best_case", 50, "2026-03-25"),
        "rep_pipeline": deal(rep, "2000", "pipeline", 10, "2026-04-05"),
        "rep2_commit": deal(rep2, "6000", "commit", 80, "2026-03-31"),
        "rep_won": deal(rep, "3000", "closed", 100, "2026-03-30", stage="Closed Won", closed_at=at("2026-03-05")),
        "outsider_commit": deal(outsider, "5000", "commit", 60, "2026-03-15"),
        "rep_eur": deal(rep, "1000", "commit", 50, "2026-04-10", currency="EUR"),  # 1,100 USD at 1.10
        "rep_omitted": deal(rep, "7000", "omitted", 20, "2026-03-20"),
        "rep_later": deal(rep, "8000", "commit", 75, "2026-06-01"),
        "rep_lost": deal(rep, "9000", "omitted", 0, "2026-03-11", stage="Closed Lost", closed_at=at("2026-03-08")),
        "rep_gbp": deal(rep, "500", "commit", 50, "2026-03-12", currency="GBP"),  # no rate: left out
        "rep_won_february": deal(rep, "900", "closed", 100, "2026-02-20", stage="Closed Won",
                                 closed_at=at("2026-02-27")),
    }


def totals(report):
    return {t["month"]: t for t in report["totals"]}


def cells(report):
    return {(r["owner"], r["month"], r["category"]): (r["count"], r["computed"], r["weighted"], r["override"],
                                                      r["final"]) for r in report["rows"]}


def test_admin_sees_every_owner_by_month_and_category_with_weights(history, admin_user):
    report = forecast.forecast_report(user=admin_user, **RANGE)
    assert report["months"] == [MAR, APR] and report["currency"] == "USD"
    assert cells(report) == {
        ("Rep", MAR, "closed"): (1, D("3000.00"), D("3000.00"), None, D("3000.00")),
        ("Rep", MAR, "commit"): (1, D("10000.00"), D("7500.00"), None, D("10000.00")),
        ("Rep2", MAR, "commit"): (1, D("6000.00"), D("4800.00"), None, D("6000.00")),
        ("Outsider", MAR, "commit"): (1, D("5000.00"), D("3000.00"), None, D("5000.00")),
        ("Rep", MAR, "best_case"): (1, D("4000.00"), D("2000.00"), None, D("4000.00")),
        ("Rep", APR, "commit"): (1, D("1100.00"), D("550.00"), None, D("1100.00")),
        ("Rep", APR, "pipeline"): (1, D("2000.00"), D("200.00"), None, D("2000.00")),
    }
    march, april = totals(report)[MAR], totals(report)[APR]
    assert (march["closed"], march["commit"], march["best_case"], march["pipeline"]) == (
        D("3000.00"), D("21000.00"), D("4000.00"), D("0"))
    assert (march["commit_forecast"], march["best_case_forecast"], march["weighted"], march["count"]) == (
        D("24000.00"), D("28000.00"), D("20300.00"), 5)
    assert (april["commit_forecast"], april["best_case_forecast"], april["pipeline"], april["weighted"]) == (
        D("1100.00"), D("1100.00"), D("2000.00"), D("750.00"))
    assert report["unconverted"] == [{"currency": "GBP", "amount": D("500.00")}]
    assert report["contracted"] is not None  # admin sees revenue too
    assert {(t["team"], t["month"], t["category"]): t["final"] for t in report["teams"]}[("East", MAR, "commit")] \
        == D("16000.00")


def test_overrides_replace_the_computed_figure_owner_and_team(history, admin_user, manager, rep, rep2):
    # given: the manager lowers rep's March commit; the admin sets East's March best case
    forecast.override_create(actor=manager, owner=rep.pk, month="2026-03", category="commit", amount=D("8000"),
                             note="Slipping to April")
    forecast.override_create(actor=admin_user, team=rep.team_id, month="2026-03", category="best_case",
                             amount=D("5000.00"))
    # when
    report = forecast.forecast_report(user=admin_user, **RANGE)
    # then: computed and override side by side; the total uses the override
    assert cells(report)[("Rep", MAR, "commit")] == (1, D("10000.00"), D("7500.00"), D("8000.00"), D("8000.00"))
    assert [r["note"] for r in report["rows"] if r["override"] is not None] == ["Slipping to April"]
    march = totals(report)[MAR]
    assert (march["commit_computed"], march["commit"]) == (D("21000.00"), D("19000.00"))
    assert (march["best_case_computed"], march["best_case"]) == (D("4000.00"), D("5000.00"))
    assert (march["commit_forecast"], march["best_case_forecast"]) == (D("22000.00"), D("27000.00"))
    assert (march["commit_forecast_computed"], march["best_case_forecast_computed"]) == (D("24000.00"), D("28000.00"))
    east = {(t["month"], t["category"]): t for t in report["teams"] if t["team"] == "East"}
    assert (east[(MAR, "best_case")]["members_final"], east[(MAR, "best_case")]["final"]) == (D("4000.00"), D("5000.00"))
    assert (east[(MAR, "commit")]["computed"], east[(MAR, "commit")]["final"]) == (D("16000.00"), D("14000.00"))
    # audited
    assert AuditEvent.objects.filter(object_type="analytics.forecastoverride", action="create").count() == 2


def test_a_rep_counts_only_their_own_deals_and_sees_no_team_rows(history, manager, rep):
    forecast.override_create(actor=manager, owner=rep.pk, month="2026-03", category="commit", amount=D("8000"))
    forecast.override_create(actor=manager, team=rep.team_id, month="2026-03", category="best_case",
                             amount=D("5000"))
    report = forecast.forecast_report(user=rep, **RANGE)
    assert {owner for owner, _m, _c in cells(report)} == {"Rep"}
    assert report["teams"] == [] and report["contracted"] is None
    march = totals(report)[MAR]
    # the override of their own commit counts; the team's best-case override does not (not theirs)
    assert (march["closed"], march["commit"], march["best_case"]) == (D("3000.00"), D("8000.00"), D("4000.00"))
    assert (march["commit_forecast"], march["best_case_forecast"]) == (D("11000.00"), D("15000.00"))


def test_a_manager_sees_the_team_and_not_other_teams(history, manager):
    report = forecast.forecast_report(user=manager, **RANGE)
    assert {owner for owner, _m, _c in cells(report)} == {"Rep", "Rep2"}
    assert {t["team"] for t in report["teams"]} == {"East"}
    assert totals(report)[MAR]["commit"] == D("16000.00")
    # filters: one owner, or a team
    only_rep2 = forecast.forecast_report(user=manager, owner=str(history["rep2_commit"].owner_id), **RANGE)
    assert totals(only_rep2)[MAR]["commit_forecast"] == D("6000.00")


def test_finance_sees_contracted_revenue_and_no_pipeline(finance):
    from l2c.revenue.tests.test_reports import subscription

    # 7,310 over 731 days from 1 March 2026: 10 a day
    subscription(None, MAR, dt.date(2028, 2, 29), "7310.00")
    report = forecast.forecast_report(user=finance, **RANGE)
    assert report["pipeline"] is False and report["rows"] == [] and report["teams"] == []
    assert [(m["month"], m["amount"]) for m in report["contracted"]["months"]] == [(MAR, D("310.00")),
                                                                                   (APR, D("300.00"))]
    assert report["contracted"]["total"] == D("7310.00")
    assert report["contracted"]["beyond_report"] == D("7310.00") - D("610.00")


def test_bad_parameters_name_the_parameter(admin_user):
    for params, name in (({"date_from": "2026-13"}, "date_from"), ({"date_to": "soon"}, "date_to"),
                         ({"date_from": "2026-05", "date_to": "2026-04"}, "date_to"),
                         ({"date_from": "2026-01", "date_to": "2029-01"}, "date_to"),
                         ({"owner": "x"}, "owner"), ({"team": "1.5"}, "team"), ({"as_of": "yesterday"}, "as_of")):
        with pytest.raises(ValidationFailed) as caught:
            forecast.forecast_report(user=admin_user, **params)
        assert caught.value.errors[0].field == name, params


def test_override_rules(history, admin_user, manager, rep, outsider, other_team):
    with pytest.raises(PermissionDenied):
        forecast.override_create(actor=rep, owner=rep.pk, month="2026-03", category="commit", amount=D("1"))
    with pytest.raises(PermissionDenied):  # not the manager's team
        forecast.override_create(actor=manager, owner=outsider.pk, month="2026-03", category="commit", amount=D("1"))
    with pytest.raises(PermissionDenied):
        forecast.override_create(actor=manager, team=other_team.pk, month="2026-03", category="commit",
                                 amount=D("1"))
    for values, field in (({"month": "March"}, "month"), ({"category": "closed"}, "category"),
                          ({"amount": D("-1")}, "amount"), ({"amount": D("1.001")}, "amount"),
                          ({"owner": None}, "owner"), ({"team": rep.team_id}, "owner")):
        args = {"owner": rep.pk, "month": "2026-03", "category": "commit", "amount": D("100"), **values}
        with pytest.raises(ValidationFailed) as caught:
            forecast.override_create(actor=manager, **args)
        assert caught.value.errors[0].field == field, values
    first = forecast.override_create(actor=manager, owner=rep.pk, month="2026-03-17", category="commit",
                                     amount=D("100"))
    assert first.month == MAR
    with pytest.raises(Conflict):
        forecast.override_create(actor=admin_user, owner=rep.pk, month="2026-03", category="commit", amount=D("5"))
    updated = forecast.override_update(actor=manager, override=first, amount=D("250.50"), note="call on Friday")
    assert (updated.amount, updated.note) == (D("250.50"), "call on Friday")
    with pytest.raises(PermissionDenied):
        forecast.override_delete(actor=rep, override=first)
    forecast.override_delete(actor=admin_user, override=first)
    assert not ForecastOverride.objects.exists()
    assert list(AuditEvent.objects.filter(object_type="analytics.forecastoverride").values_list(
        "action", flat=True).order_by("id")) == ["create", "update", "delete"]


def test_snapshots_are_kept_weekly_and_measure_accuracy(history, admin_user, manager, rep):
    forecast.override_create(actor=manager, owner=rep.pk, month="2026-03", category="commit", amount=D("8000"))
    forecast.override_create(actor=admin_user, team=rep.team_id, month="2026-03", category="best_case",
                             amount=D("5000"))
    # given: the Monday job, run twice in the week of 9 March, and a snapshot taken by hand on 20 March
    monday = forecast.snapshot_take(actor=None, kind=ForecastSnapshot.Kind.SCHEDULED, now=at("2026-03-09", 6))
    again = forecast.snapshot_take(actor=None, kind=ForecastSnapshot.Kind.SCHEDULED, now=at("2026-03-10", 6))
    assert again.pk == monday.pk and ForecastSnapshot.objects.count() == 1
    assert (monday.week, monday.first_month, monday.last_month) == (dt.date(2026, 3, 9), MAR, dt.date(2026, 8, 1))
    line = ForecastSnapshotLine.objects.get(snapshot=monday, owner=rep, month=MAR, category="commit")
    assert (line.count, line.computed, line.weighted, line.override, line.final) == (
        1, D("10000.00"), D("7500.00"), D("8000.00"), D("8000.00"))
    assert ForecastSnapshotLine.objects.filter(snapshot=monday, level="team").count() == 1
    assert monday.unconverted == [{"currency": "GBP", "amount": "500.00"}]
    # then the deals move: rep's commit is won on 28 March, rep2's slips to April
    history["rep_commit"].stage = stage_named("Closed Won")
    history["rep_commit"].closed_at = at("2026-03-28")
    history["rep_commit"].save()
    history["rep2_commit"].expected_close_date = dt.date(2026, 4, 15)
    history["rep2_commit"].save()
    late = forecast.snapshot_take(actor=manager, now=at("2026-03-29"))
    forecast.snapshot_take(actor=admin_user, now=at("2026-04-02"))  # after March: not a forecast of it
    # when
    report = forecast.forecast_accuracy(user=admin_user, date_from="2026-03-01", date_to="2026-04-20",
                                        today="2026-04-20")
    # then: March only (April is not over); closed won 3,000 + 10,000
    assert report["months"] == [{"month": MAR, "actual": D("13000.00"), "snapshots": 2}]
    first, second = report["rows"]
    assert (first["snapshot_id"], first["commit_forecast"], first["best_case_forecast"]) == (
        monday.pk, D("22000.00"), D("27000.00"))
    assert (first["commit_error"], first["commit_accuracy"]) == (D("9000.00"), D("30.8"))
    assert (first["best_case_error"], first["best_case_accuracy"]) == (D("14000.00"), D("0"))
    # 29 March: closed 13,000, commit: rep's 8,000 override (its deal is won), outsider 5,000
    assert (second["snapshot_id"], second["commit_forecast"]) == (late.pk, D("26000.00"))
    # a rep measures their own forecast only: 3,000 + 8,000 against 13,000
    mine = forecast.forecast_accuracy(user=rep, date_from="2026-03-01", date_to="2026-03-31", today="2026-04-20")
    assert (mine["rows"][0]["commit_forecast"], mine["rows"][0]["actual"], mine["rows"][0]["commit_accuracy"]) == (
        D("11000.00"), D("13000.00"), D("84.6"))
    assert (mine["rows"][0]["best_case_forecast"], mine["rows"][0]["best_case_accuracy"]) == (D("15000.00"), D("84.6"))


def test_who_may_take_a_snapshot(rep, finance, manager):
    for user in (rep, finance):
        with pytest.raises(PermissionDenied):
            forecast.snapshot_take(actor=user)
    snapshot = forecast.snapshot_take(actor=manager)
    assert snapshot.kind == "manual" and snapshot.taken_by == manager
    assert snapshot.week == timezone.localdate() - dt.timedelta(days=timezone.localdate().weekday())
    assert AuditEvent.objects.filter(object_type="analytics.forecastsnapshot", action="create").count() == 1


def test_the_weekly_task_and_its_beat_entry(history):
    from celery.schedules import crontab

    from l2c.analytics.tasks import take_weekly_forecast_snapshot
    from l2c.celery import BEAT_SCHEDULE

    entry = BEAT_SCHEDULE["analytics-forecast-snapshot-weekly"]
    assert entry["task"] == "l2c.analytics.tasks.take_weekly_forecast_snapshot"
    assert entry["schedule"] == crontab(day_of_week="mon", hour="6", minute="0")
    pk = take_weekly_forecast_snapshot.delay().get()
    assert take_weekly_forecast_snapshot.delay().get() == pk
    assert ForecastSnapshot.objects.get().kind == "scheduled"


def test_the_report_reads_a_fixed_number_of_queries(history, manager, rep, django_assert_max_num_queries):
    # grouped queries: open deals, won deals, rates, overrides, users, teams — not one per deal or owner
    for _ in range(3):
        deal(rep, "100", "commit", 50, "2026-03-20")
    forecast.company_currency()  # the company profile is made on first use
    with django_assert_max_num_queries(12):
        forecast.forecast_report(user=manager, **RANGE)


@pytest.mark.django_db(transaction=True)
def test_an_admin_report_reads_pipeline_and_contracted_revenue_side_by_side(history, admin_user):
    # outside a transaction on PostgreSQL the two reads run on their own connections: the same figures
    report = forecast.forecast_report(user=admin_user, **RANGE)
    assert totals(report)[MAR]["commit_forecast"] == D("24000.00")
    assert [m["amount"] for m in report["contracted"]["months"]] == [D("0.00"), D("0.00")]
    assert report["unconverted"] == [{"currency": "GBP", "amount": D("500.00")}]
