"""Quotas: who may set them, the checks (each bad field named), the audit trail, the API and the page."""
import datetime as dt
from decimal import Decimal

import pytest
from django.test import Client

from l2c.core.errors import PermissionDenied, ValidationFailed
from l2c.core.models import AuditEvent
from l2c.identity import quotas
from l2c.identity.models import Quota

pytestmark = pytest.mark.django_db

Q1 = {"period_start": "2026-01-01", "period_end": "2026-03-31", "amount": "5000.00", "currency": "USD"}


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


def test_manager_sets_a_quota_for_a_rep_of_the_team_and_it_is_audited(manager, rep):
    quota = quotas.quota_create(actor=manager, user=rep, **Q1)
    assert (quota.user, quota.team, quota.amount, quota.currency) == (rep, None, Decimal("5000.00"), "USD")
    assert (quota.period_start, quota.period_end) == (dt.date(2026, 1, 1), dt.date(2026, 3, 31))
    event = AuditEvent.objects.get(object_type="identity.quota", object_id=str(quota.pk))
    assert event.action == "create" and event.actor == manager and event.changes["amount"] == [None, "5000.00"]
    quotas.quota_update(actor=manager, quota=quota, amount="6000")
    quota.refresh_from_db()
    assert quota.amount == Decimal("6000.00")
    assert AuditEvent.objects.filter(object_type="identity.quota", action="update").get().changes == {
        "amount": ["5000.00", "6000.00"]}
    quotas.quota_delete(actor=manager, quota=quota)
    assert not Quota.objects.exists()
    assert AuditEvent.objects.filter(object_type="identity.quota", action="delete").count() == 1


@pytest.mark.parametrize("who", ["rep", "finance"])
def test_reps_and_finance_cannot_set_quotas(request, who, rep2):
    actor = request.getfixturevalue(who)
    with pytest.raises(PermissionDenied):
        quotas.quota_create(actor=actor, user=rep2, **Q1)
    assert not Quota.objects.exists()


def test_a_manager_only_for_the_reps_of_the_team(manager, outsider, team, admin_user):
    with pytest.raises(PermissionDenied):
        quotas.quota_create(actor=manager, user=outsider, **Q1)
    with pytest.raises(PermissionDenied):
        quotas.quota_create(actor=manager, user=manager, **Q1)
    with pytest.raises(PermissionDenied):
        quotas.quota_create(actor=manager, team=team, **Q1)
    # an admin sets any, including a team's; the manager may not change that one
    team_quota = quotas.quota_create(actor=admin_user, team=team, **Q1)
    with pytest.raises(PermissionDenied):
        quotas.quota_update(actor=manager, quota=team_quota, amount="1")
    with pytest.raises(PermissionDenied):
        quotas.quota_delete(actor=manager, quota=team_quota)


@pytest.mark.parametrize("values,field,code", [
    ({"user": None, "team": None}, "user", "required"),
    ({"team": "team"}, "team", "user_and_team"),
    ({"user": 999999}, "user", "not_found"),
    ({"period_end": "2025-12-31"}, "period_end", "before_start"),
    ({"period_start": "01/01/2026"}, "period_start", "invalid"),
    ({"amount": "0"}, "amount", "min_value"),
    ({"amount": "-5"}, "amount", "min_value"),
    ({"amount": "12.345"}, "amount", "max_decimal_places"),
    ({"amount": "lots"}, "amount", "invalid_amount"),
    ({"currency": "XYZ"}, "currency", "invalid_currency"),
    ({"currency": ""}, "currency", "required"),
])
def test_bad_input_names_the_field(admin_user, rep, team, values, field, code):
    data = {"user": rep, "team": None, **Q1, **values}
    if data["team"] == "team":
        data["team"] = team
    with pytest.raises(ValidationFailed) as failed:
        quotas.quota_create(actor=admin_user, **data)
    assert [(e.field, e.code) for e in failed.value.errors][:1] == [(field, code)]
    assert not Quota.objects.exists()


def test_periods_of_the_same_rep_may_not_overlap(admin_user, rep, rep2):
    first = quotas.quota_create(actor=admin_user, user=rep, **Q1)
    with pytest.raises(ValidationFailed) as failed:
        quotas.quota_create(actor=admin_user, user=rep, **{**Q1, "period_start": "2026-03-31",
                                                           "period_end": "2026-06-30"})
    assert failed.value.errors[0].field == "period_start" and failed.value.errors[0].code == "overlap"
    # the next quarter, another rep, and an update of the quota itself are fine
    quotas.quota_create(actor=admin_user, user=rep, **{**Q1, "period_start": "2026-04-01", "period_end": "2026-06-30"})
    quotas.quota_create(actor=admin_user, user=rep2, **Q1)
    quotas.quota_update(actor=admin_user, quota=first, period_end="2026-03-30")
    assert Quota.objects.count() == 3


def test_who_reads_which_quotas(admin_user, manager, rep, rep2, outsider, finance, team):
    mine = quotas.quota_create(actor=admin_user, user=rep, **Q1)
    theirs = quotas.quota_create(actor=admin_user, user=rep2, **Q1)
    team_quota = quotas.quota_create(actor=admin_user, team=team, **Q1)
    far = quotas.quota_create(actor=admin_user, user=outsider, **Q1)
    assert set(quotas.quota_list(user=rep)) == {mine, team_quota}
    assert set(quotas.quota_list(user=manager)) == {mine, theirs, team_quota}
    assert set(quotas.quota_list(user=admin_user)) == {mine, theirs, team_quota, far}
    assert list(quotas.quota_list(user=finance)) == []
    assert list(quotas.quota_list(user=admin_user, date_from="2026-04-01")) == []
    with pytest.raises(ValidationFailed) as failed:
        quotas.quota_list(user=admin_user, date_to="soon")
    assert failed.value.errors[0].field == "date_to"


def test_api_quotas(api_for, manager, rep, rep2, outsider):
    as_manager = api_for(manager)
    created = as_manager.post("/api/v1/quotas", {"user": rep.pk, **Q1})
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["user"], body["user_name"], body["team"], body["amount"]) == (rep.pk, "Rep", None, "5000.00")
    quota_id = body["id"]
    # the rep reads it, the outsider does not see it
    assert api_for(rep).get(f"/api/v1/quotas/{quota_id}").status_code == 200
    assert api_for(outsider).get(f"/api/v1/quotas/{quota_id}").status_code == 404
    assert api_for(outsider).get("/api/v1/quotas").json()["count"] == 0
    # a rep may not change it
    assert api_for(rep).patch(f"/api/v1/quotas/{quota_id}", {"amount": "1.00"}).status_code == 403
    changed = as_manager.patch(f"/api/v1/quotas/{quota_id}", {"amount": "7500.50"})
    assert changed.status_code == 200 and changed.json()["amount"] == "7500.50"
    # bad input: 422 naming the field; unknown fields are refused
    bad = as_manager.post("/api/v1/quotas", {"user": rep2.pk, **Q1, "currency": "ABC"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "currency"
    bad = as_manager.post("/api/v1/quotas", {"user": rep2.pk, **Q1, "period_end": "2025-01-01"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "period_end"
    assert as_manager.post("/api/v1/quotas", {"user": rep2.pk, **Q1, "owner": 1}).status_code == 422
    assert as_manager.post("/api/v1/quotas", {"user": outsider.pk, **Q1}).status_code == 403
    assert as_manager.delete(f"/api/v1/quotas/{quota_id}").status_code == 204
    assert as_manager.get(f"/api/v1/quotas/{quota_id}").status_code == 404


def test_quota_page(manager, rep, outsider):
    client = client_for(manager)
    page = client.get("/reports/quotas/")
    assert page.status_code == 200 and "New quota" in page.content.decode()
    saved = client.post("/reports/quotas/", {"user": rep.pk, **Q1})
    assert saved.status_code == 302
    quota = Quota.objects.get()
    # the outsider is not offered, and a bad amount is shown beside the form
    refused = client.post("/reports/quotas/", {"user": rep.pk, **Q1, "period_start": "2026-02-01"})
    assert refused.status_code == 400 and "periods may not overlap" in refused.content.decode()
    assert client.post("/reports/quotas/", {"user": outsider.pk, **Q1}).status_code == 400
    edit = client.post(f"/reports/quotas/{quota.pk}/edit/", {"user": rep.pk, **Q1, "amount": "4000"})
    assert edit.status_code == 302
    quota.refresh_from_db()
    assert quota.amount == Decimal("4000.00")
    # a rep reads the page without the form, and may neither edit nor delete
    as_rep = client_for(rep)
    html = as_rep.get("/reports/quotas/").content.decode()
    assert "4000.00 USD" in html and "New quota" not in html
    assert as_rep.post("/reports/quotas/", {"user": rep.pk, **Q1}).status_code == 403
    assert as_rep.get(f"/reports/quotas/{quota.pk}/edit/").status_code == 403
    assert as_rep.post(f"/reports/quotas/{quota.pk}/delete/").status_code == 403
    assert client.post(f"/reports/quotas/{quota.pk}/delete/").status_code == 302
    assert not Quota.objects.exists()
