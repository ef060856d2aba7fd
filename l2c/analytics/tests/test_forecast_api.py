"""The forecast's API and pages: figures, overrides CRUD with roles, snapshots, accuracy, exports, bad params."""
import csv
import datetime as dt
import io
from decimal import Decimal

import pytest

from l2c.analytics.models import ForecastOverride, ForecastSnapshot

from .test_forecast import RANGE, history  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db
D = Decimal


def test_forecast_api_figures_and_visibility(history, api_for, admin_user, rep, finance):  # noqa: F811
    response = api_for(admin_user).get("/api/v1/reports/forecast", RANGE)
    assert response.status_code == 200, response.content
    body = response.json()
    march = body["totals"][0]
    assert (march["month"], march["commit_forecast"], march["best_case_forecast"], march["weighted"]) == (
        "2026-03-01", "24000.00", "28000.00", "20300.00")
    assert body["unconverted"] == [{"currency": "GBP", "amount": "500.00"}]
    mine = api_for(rep).get("/api/v1/reports/forecast", RANGE).json()
    assert {r["owner"] for r in mine["rows"]} == {"Rep"} and mine["teams"] == [] and mine["contracted"] is None
    assert mine["totals"][0]["commit_forecast"] == "13000.00"
    finance_view = api_for(finance).get("/api/v1/reports/forecast", RANGE).json()
    assert finance_view["pipeline"] is False and finance_view["rows"] == []
    assert [m["amount"] for m in finance_view["contracted"]["months"]] == ["0.00", "0.00"]


def test_forecast_api_bad_parameters_are_422_naming_them(api_for, manager):
    client = api_for(manager)
    for params, name in (({"date_from": "2026-02-30"}, "date_from"), ({"owner": "abc"}, "owner"),
                         ({"date_from": "2026-05", "date_to": "2026-01"}, "date_to")):
        response = client.get("/api/v1/reports/forecast", params)
        assert response.status_code == 422, params
        assert response.json()["errors"][0]["field"] == name
    response = client.get("/api/v1/reports/forecast/export", {"table": "nope"})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "table"


def test_anonymous_gets_401(client):
    assert client.get("/api/v1/reports/forecast").status_code == 401
    assert client.get("/api/v1/forecast-overrides").status_code == 401


def test_overrides_crud_by_role(history, api_for, manager, rep, rep2, outsider, admin_user):  # noqa: F811
    as_manager = api_for(manager)
    denied = api_for(rep).post("/api/v1/forecast-overrides", {"owner": rep.pk, "month": "2026-03",
                                                              "category": "commit", "amount": "1"})
    assert denied.status_code == 403
    bad = as_manager.post("/api/v1/forecast-overrides", {"owner": rep.pk, "month": "2026-03", "category": "closed",
                                                         "amount": "1"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "category"
    created = as_manager.post("/api/v1/forecast-overrides", {"owner": rep.pk, "month": "2026-03",
                                                             "category": "commit", "amount": "8000.00",
                                                             "note": "slipping"})
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    assert created.json()["month"] == "2026-03-01" and created.json()["currency"] == "USD"
    again = as_manager.post("/api/v1/forecast-overrides", {"owner": rep.pk, "month": "2026-03",
                                                           "category": "commit", "amount": "1"})
    assert again.status_code == 409
    # the rep sees the override of their own figure; another team's rep does not see it at all
    assert api_for(rep).get(f"/api/v1/forecast-overrides/{pk}").status_code == 200
    assert api_for(outsider).get(f"/api/v1/forecast-overrides/{pk}").status_code == 404
    assert api_for(outsider).get("/api/v1/forecast-overrides").json()["items"] == []
    # a rep may read the override of their own figure but not change it; a team mate cannot even see it
    assert api_for(rep).patch(f"/api/v1/forecast-overrides/{pk}", {"amount": "1"}).status_code == 403
    assert api_for(rep).delete(f"/api/v1/forecast-overrides/{pk}").status_code == 403
    assert api_for(rep2).patch(f"/api/v1/forecast-overrides/{pk}", {"amount": "1"}).status_code == 404
    changed = as_manager.patch(f"/api/v1/forecast-overrides/{pk}", {"amount": "7500.00"})
    assert changed.status_code == 200 and changed.json()["amount"] == "7500.00"
    assert as_manager.patch(f"/api/v1/forecast-overrides/{pk}", {"amount": "-3"}).status_code == 422
    report = api_for(admin_user).get("/api/v1/reports/forecast", RANGE).json()
    assert report["totals"][0]["commit"] == "18500.00" and report["totals"][0]["commit_computed"] == "21000.00"
    assert as_manager.delete(f"/api/v1/forecast-overrides/{pk}").status_code == 204
    assert not ForecastOverride.objects.exists()


def test_snapshots_api(history, api_for, manager, rep):  # noqa: F811
    assert api_for(rep).post("/api/v1/reports/forecast/snapshots").status_code == 403
    taken = api_for(manager).post("/api/v1/reports/forecast/snapshots")
    assert taken.status_code == 201, taken.content
    assert taken.json()["kind"] == "manual" and taken.json()["taken_by"] == "manager"
    listed = api_for(rep).get("/api/v1/reports/forecast/snapshots").json()
    assert [s["id"] for s in listed] == [taken.json()["id"]] and ForecastSnapshot.objects.count() == 1


def test_accuracy_api_and_export(history, api_for, admin_user):  # noqa: F811
    from l2c.analytics import forecast

    forecast.snapshot_take(actor=None, now=dt.datetime(2026, 3, 9, 6, tzinfo=dt.UTC))
    params = {"date_from": "2026-03-01", "date_to": "2026-03-31"}
    body = api_for(admin_user).get("/api/v1/reports/forecast/accuracy", params).json()
    # March is over whatever today is (these tests run after 2026-03): closed won 3,000
    assert body["months"][0]["actual"] == "3000.00"
    assert body["rows"][0]["commit_forecast"] == "24000.00" and body["rows"][0]["commit_accuracy"] == "0.0"
    response = api_for(admin_user).get("/api/v1/reports/forecast/accuracy/export", params)
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert rows[0][:3] == ["Month", "Snapshot week", "Taken at"] and rows[1][0] == "2026-03"
    assert rows[1][3] == "24000.00" and rows[1][5] == "3000.00"


def test_forecast_export_csv_and_xlsx(history, api_for, manager):  # noqa: F811
    client = api_for(manager)
    response = client.get("/api/v1/reports/forecast/export", {**RANGE, "table": "totals"})
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert rows[0][:3] == ["Month", "Closed won", "Commit"]
    assert rows[1][:3] == ["2026-03", "3000.00", "16000.00"] and rows[2][0] == "2026-04"
    xlsx = client.get("/api/v1/reports/forecast/export", {**RANGE, "table": "owners", "format": "xlsx"})
    assert xlsx.status_code == 200 and xlsx["Content-Type"].startswith("application/vnd.openxmlformats")


# --- pages --------------------------------------------------------------------------------------------

def test_pages_render_per_role(history, client, admin_user, manager, rep, finance, outsider):  # noqa: F811
    for user in (admin_user, manager, rep, finance):
        client.force_login(user)
        page = client.get("/reports/forecast/", RANGE)
        assert page.status_code == 200, user
        assert b"<svg" in page.content
    client.force_login(rep)
    page = client.get("/reports/forecast/", RANGE).content.decode()
    assert "13000.00" in page and "Outsider" not in page and "Override a forecast figure" not in page
    client.force_login(finance)
    page = client.get("/reports/forecast/", RANGE).content.decode()
    assert "Contracted revenue" in page and "Per owner" not in page
    assert client.get("/reports/forecast/accuracy/").status_code == 403
    client.force_login(manager)
    assert client.get("/reports/forecast/accuracy/", {"date_from": "2026-03-01", "date_to": "2026-03-31"}) \
        .status_code == 200
    assert client.get("/reports/forecast/", {"date_from": "bad"}).status_code == 400
    export = client.get("/reports/forecast/export/owners/", {**RANGE, "format": "csv"})
    assert export.status_code == 200
    assert "Outsider" not in b"".join(export.streaming_content).decode("utf-8-sig")
    assert client.get("/reports/forecast/export/nope/").status_code == 404


def test_override_and_snapshot_forms(history, client, manager, rep):  # noqa: F811
    client.force_login(manager)
    response = client.post("/reports/forecast/overrides/", {"owner": rep.pk, "month": "2026-03",
                                                            "category": "commit", "amount": "9000", "note": "n",
                                                            "next": "/reports/forecast/?date_from=2026-03"})
    assert response.status_code == 302 and response["Location"] == "/reports/forecast/?date_from=2026-03"
    # the same key again changes it
    client.post("/reports/forecast/overrides/", {"owner": rep.pk, "month": "2026-03", "category": "commit",
                                                 "amount": "9500"})
    override = ForecastOverride.objects.get()
    assert override.amount == D("9500.00")
    page = client.get("/reports/forecast/", RANGE).content.decode()
    assert "9500.00" in page and f"/reports/forecast/overrides/{override.pk}/delete/" in page
    assert client.post("/reports/forecast/snapshots/").status_code == 302
    assert ForecastSnapshot.objects.count() == 1
    client.post(f"/reports/forecast/overrides/{override.pk}/delete/")
    assert not ForecastOverride.objects.exists()
    client.force_login(rep)
    client.post("/reports/forecast/overrides/", {"owner": rep.pk, "month": "2026-03", "category": "commit",
                                                 "amount": "1"})
    assert not ForecastOverride.objects.exists()
    client.post("/reports/forecast/snapshots/")
    assert ForecastSnapshot.objects.count() == 1


def test_openapi_documents_the_forecast_routes(client):
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    for path in ("/api/v1/reports/forecast", "/api/v1/reports/forecast/snapshots", "/api/v1/reports/forecast/accuracy",
                 "/api/v1/forecast-overrides", "/api/v1/forecast-overrides/{override_id}"):
        assert path in paths, path


def test_pages_need_a_login(client):
    response = client.get("/reports/forecast/")
    assert response.status_code == 302 and "/login" in response["Location"]
