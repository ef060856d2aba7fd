"""The /accounts and /contacts API: each role, other people's ids, bad input, pagination, history."""
import pytest

from l2c.core.models import AuditEvent
from l2c.customers.models import Account, Contact

from .factories import AccountFactory, ContactFactory

ROLES = ["admin_user", "manager", "rep", "rep2", "outsider", "finance"]
# Who sees a record owned by `rep` (team East): admin, the team's manager, rep, and finance (master data).
SEES_REPS_RECORD = {"admin_user": True, "manager": True, "rep": True, "rep2": False, "outsider": False, "finance": True}


@pytest.fixture
def users(request):
    return {name: request.getfixturevalue(name) for name in ROLES}


@pytest.mark.parametrize("role", ROLES)
def test_account_detail_list_and_history_per_role(role, users, api_for):
    account = AccountFactory(owner=users["rep"])
    client = api_for(users[role])

    detail = client.get(f"/api/v1/accounts/{account.pk}")
    history = client.get(f"/api/v1/accounts/{account.pk}/history")
    listing = client.get("/api/v1/accounts")

    if SEES_REPS_RECORD[role]:
        assert detail.status_code == 200 and detail.json()["name"] == account.name
        assert history.status_code == 200
        assert [a["id"] for a in listing.json()["items"]] == [account.pk]
    else:
        assert detail.status_code == 404 and detail.json()["code"] == "not_found"
        assert history.status_code == 404
        assert listing.json() == {"items": [], "count": 0}


@pytest.mark.parametrize("role", ROLES)
def test_contact_detail_list_and_history_per_role(role, users, api_for):
    contact = ContactFactory(owner=users["rep"])
    client = api_for(users[role])

    detail = client.get(f"/api/v1/contacts/{contact.pk}")
    history = client.get(f"/api/v1/contacts/{contact.pk}/history")
    listing = client.get("/api/v1/contacts")

    if SEES_REPS_RECORD[role]:
        assert detail.status_code == 200 and detail.json()["account"]["id"] == contact.account_id
        assert history.status_code == 200
        assert listing.json()["count"] == 1
    else:
        assert detail.status_code == 404
        assert history.status_code == 404
        assert listing.json()["count"] == 0


@pytest.mark.parametrize("role", ROLES)
def test_patch_someone_elses_account_is_404_and_changes_nothing(role, users, api_for):
    account = AccountFactory(owner=users["rep"], city="Berlin")
    response = api_for(users[role]).patch(f"/api/v1/accounts/{account.pk}", {"city": "Paris"})
    account.refresh_from_db()
    if role in ("admin_user", "manager", "rep"):
        assert response.status_code == 200 and account.city == "Paris"
    elif role == "finance":
        assert response.status_code == 403 and account.city == "Berlin"
    else:
        assert response.status_code == 404 and account.city == "Berlin"


def test_missing_record_and_unauthenticated(rep, api_for, client):
    assert api_for(rep).get("/api/v1/accounts/999999").status_code == 404
    assert client.get("/api/v1/accounts").status_code == 401


def test_create_account_201_defaults_owner_and_audits(rep, api_for):
    response = api_for(rep).post("/api/v1/accounts", {"name": "Acme", "country": "cn", "size": "11-50"})
    assert response.status_code == 201
    body = response.json()
    assert body["owner"]["id"] == rep.pk and body["country"] == "CN"
    assert AuditEvent.objects.filter(object_type="customers.account", object_id=str(body["id"])).count() == 1
    history = api_for(rep).get(f"/api/v1/accounts/{body['id']}/history").json()
    assert history["count"] == 1 and history["items"][0]["action"] == "create"
    assert history["items"][0]["actor"] == "rep"


def test_finance_cannot_create_accounts(finance, api_for):
    response = api_for(finance).post("/api/v1/accounts", {"name": "Acme"})
    assert response.status_code == 403
    assert Account.objects.count() == 0


@pytest.mark.parametrize("body, field", [
    ({"name": "x" * 201}, "name"),
    ({"name": "A", "country": "USA"}, "country"),
    ({"name": "A", "country": "QQ"}, "country"),
    ({"name": ""}, "name"),
    ({}, "name"),
    ({"name": "A", "owner": 999999}, "owner"),
    ({"name": "A", "size": "enormous"}, "size"),
    ({"name": "A", "unknown": 1}, "unknown"),
])
def test_bad_account_input_is_a_422_problem_and_creates_nothing(rep, api_for, body, field):
    response = api_for(rep).post("/api/v1/accounts", body)
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "validation_failed"
    assert field in [e["field"] for e in problem["errors"]]
    assert Account.objects.count() == 0


def test_invalid_json_is_a_400_problem(rep, api_for):
    for path in ("/api/v1/accounts", "/api/v1/contacts"):
        response = api_for(rep).post(path, raw='{"name": "Acme",')
        assert response.status_code == 400
        assert response.json()["code"] == "invalid_json"
    assert Account.objects.count() == Contact.objects.count() == 0


def test_create_contact_and_bad_email(rep, api_for):
    account = AccountFactory(owner=rep)
    client = api_for(rep)
    bad = client.post("/api/v1/contacts", {"account": account.pk, "last_name": "Li", "email": "li@"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "email"
    assert Contact.objects.count() == 0
    good = client.post("/api/v1/contacts", {"account": account.pk, "last_name": "Li", "email": "li@ACME.com"})
    assert good.status_code == 201 and good.json()["email"] == "li@acme.com"


def test_contact_on_someone_elses_account_is_refused(rep, outsider, api_for):
    foreign = AccountFactory(owner=outsider)
    response = api_for(rep).post("/api/v1/contacts", {"account": foreign.pk, "last_name": "Li"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "account"
    assert Contact.objects.count() == 0


def test_patch_over_long_field_names_the_field(rep, api_for):
    contact = ContactFactory(owner=rep)
    response = api_for(rep).patch(f"/api/v1/contacts/{contact.pk}", {"title": "t" * 151})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "title"


def test_list_search_filter_order_and_paginate(rep, api_for):
    AccountFactory(owner=rep, name="Beta GmbH", country="DE")
    AccountFactory(owner=rep, name="Alpha Ltd", country="GB")
    AccountFactory(owner=rep, name="Gamma SA", country="DE")
    client = api_for(rep)

    by_name = client.get("/api/v1/accounts", {"ordering": "-name"}).json()
    assert [a["name"] for a in by_name["items"]] == ["Gamma SA", "Beta GmbH", "Alpha Ltd"]
    german = client.get("/api/v1/accounts", {"country": "de", "ordering": "name"}).json()
    assert [a["name"] for a in german["items"]] == ["Beta GmbH", "Gamma SA"]
    found = client.get("/api/v1/accounts", {"q": "alpha"}).json()
    assert found["count"] == 1 and found["items"][0]["contacts_count"] == 0
    page = client.get("/api/v1/accounts", {"limit": 2, "offset": 2, "ordering": "name"}).json()
    assert page["count"] == 3 and [a["name"] for a in page["items"]] == ["Gamma SA"]


def test_unknown_ordering_or_owner_filter_is_422(rep, api_for):
    client = api_for(rep)
    response = client.get("/api/v1/accounts", {"ordering": "password"})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "ordering"
    response = client.get("/api/v1/contacts", {"ordering": "-nope"})
    assert response.status_code == 422
    response = client.get("/api/v1/accounts", {"owner": "somebody"})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "owner"


def test_owner_filter_me_and_none(manager, rep, admin_user, api_for):
    mine = AccountFactory(owner=manager)
    AccountFactory(owner=rep)
    unowned = AccountFactory(owner=None)
    client = api_for(manager)
    assert [a["id"] for a in client.get("/api/v1/accounts", {"owner": "me"}).json()["items"]] == [mine.pk]
    assert client.get("/api/v1/accounts", {"owner": "none"}).json()["count"] == 0  # accounts have no unassigned queue
    admin_unowned = api_for(admin_user).get("/api/v1/accounts", {"owner": "none"}).json()
    assert [a["id"] for a in admin_unowned["items"]] == [unowned.pk]
