"""The API under hostile input: every bug class a schema fuzzer (schemathesis) found, pinned down.

Each answer is a 4xx problem details naming what is wrong, never a 5xx, and nothing is written. The
classes: integers past the database's range (ids in filters, limit/offset), NUL characters and lone
surrogates (PostgreSQL and UTF-8 refuse them), non-ASCII digits ("²".isdigit() is True), date-times
that overflow when stored in UTC, NaN in JSON, empty bodies, a wrong method (405), an unknown path
with a session cookie (CSRF), an oversized body (413), an unhandled error (500), and the OpenAPI
schema documenting all of these answers.
"""
import datetime as dt
import json

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from l2c.core.api_types import MAX_LIMIT
from l2c.core.validation import MAX_ID, as_id
from l2c.customers.models import Account
from l2c.leads.choices import LeadStatus
from l2c.leads.models import Lead
from l2c.leads.tests.factories import LeadFactory
from l2c.pipeline.models import Activity, Opportunity
from l2c.pipeline.tests.factories import OpportunityFactory, stage_named

HUGE = 10**20  # past a 64-bit integer: OverflowError on SQLite, "out of range" on PostgreSQL
PROBLEM = "application/problem+json"
FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _problem(response, status, code=None):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM, response["Content-Type"]
    body = response.json()
    assert {"type", "title", "status", "detail", "code"} <= set(body)
    assert body["status"] == status
    if code:
        assert body["code"] == code, body
    return body


def _fields(body) -> list[str]:
    return [e["field"] for e in body.get("errors", [])]


# --- integers past the database's range ---------------------------------------------------------

@pytest.mark.parametrize(("path", "param"), [
    ("/api/v1/leads", "campaign"),
    ("/api/v1/contacts", "account"),
    ("/api/v1/opportunities", "stage"),
    ("/api/v1/opportunities", "owner"),
    ("/api/v1/opportunities", "account"),
    ("/api/v1/opportunities", "lead"),
    ("/api/v1/activities", "owner"),
    ("/api/v1/activities", "lead"),
    ("/api/v1/activities", "account"),
    ("/api/v1/activities", "contact"),
    ("/api/v1/activities", "opportunity"),
    ("/api/v1/users", "team_id"),
])
@pytest.mark.parametrize("value", [HUGE, MAX_ID + 1, 0, -1])
def test_id_filter_out_of_range_is_422_naming_it(api_for, admin_user, path, param, value):
    body = _problem(api_for(admin_user).get(path, {param: value}), 422, "validation_failed")
    assert _fields(body) == [param]


@pytest.mark.parametrize("path", ["/api/v1/leads", "/api/v1/accounts", "/api/v1/contacts", "/api/v1/campaigns"])
@pytest.mark.parametrize("value", [str(HUGE), "²", "١٢", "-3", "0"])
def test_owner_filter_that_is_no_user_id_is_422(api_for, admin_user, path, value):
    body = _problem(api_for(admin_user).get(path, {"owner": value}), 422)
    assert _fields(body) == ["owner"]


def test_largest_id_filter_is_accepted_and_matches_nothing(api_for, admin_user):
    response = api_for(admin_user).get("/api/v1/opportunities", {"account": MAX_ID})
    assert response.status_code == 200 and response.json() == {"items": [], "count": 0}


@pytest.mark.parametrize("path", ["/api/v1/leads/{}", "/api/v1/accounts/{}", "/api/v1/contacts/{}",
                                  "/api/v1/campaigns/{}", "/api/v1/opportunities/{}", "/api/v1/activities/{}",
                                  "/api/v1/opportunities/{}/stage-history", "/api/v1/leads/{}/history",
                                  "/api/v1/users/{}", "/api/v1/teams/{}"])
def test_huge_id_in_path_is_404(api_for, admin_user, path):
    _problem(api_for(admin_user).get(path.format(HUGE)), 404, "not_found")


@pytest.mark.parametrize(("params", "field"), [
    ({"limit": 0}, "limit"), ({"limit": -1}, "limit"), ({"limit": MAX_LIMIT + 1}, "limit"),
    ({"limit": HUGE}, "limit"), ({"offset": -1}, "offset"), ({"offset": HUGE}, "offset"),
    ({"limit": "ten"}, "limit"),
])
@pytest.mark.parametrize("path", ["/api/v1/leads", "/api/v1/opportunities", "/api/v1/users", "/api/v1/teams",
                                  "/api/v1/leads/1/history"])
def test_limit_and_offset_out_of_range_are_422(api_for, admin_user, path, params, field):
    body = _problem(api_for(admin_user).get(path, params), 422, "validation_failed")
    assert _fields(body) == [field]


def test_offset_past_the_end_is_an_empty_page(api_for, rep):
    LeadFactory.create_batch(2, owner=rep)
    page = api_for(rep).get("/api/v1/leads", {"offset": MAX_ID, "limit": MAX_LIMIT}).json()
    assert page == {"items": [], "count": 2}


@FUZZ
@given(value=st.integers())
def test_any_integer_as_an_id_filter_is_a_page_or_a_422(api_for, rep, value):
    response = api_for(rep).get("/api/v1/activities", {"opportunity": value})
    if 1 <= value <= MAX_ID:
        assert response.status_code == 200 and response.json()["count"] == 0
    else:
        assert _fields(_problem(response, 422)) == ["opportunity"]


@FUZZ
@given(value=st.one_of(st.integers(), st.text(max_size=30), st.booleans(), st.none()))
def test_as_id_accepts_only_ascii_digits_in_range(value):
    pk = as_id(value)
    if pk is not None:
        assert 1 <= pk <= MAX_ID and not isinstance(value, bool)
        assert str(pk) == str(value).strip().lstrip("0")


# --- text no database can store -----------------------------------------------------------------

def test_nul_in_body_is_422_naming_the_field_and_creates_nothing(api_for, rep):
    body = _problem(api_for(rep).post("/api/v1/leads", {"last_name": "Smith", "company": "Acme\x00 Ltd"}),
                    422, "validation_failed")
    assert body["errors"] == [{"field": "company", "message": "Text may not contain the NUL character (\\u0000).",
                               "code": "null_character"}]
    assert not Lead.objects.exists()


def test_nul_in_a_nested_field_names_its_path(api_for, rep):
    opportunity = OpportunityFactory(owner=rep)
    response = api_for(rep).post(f"/api/v1/opportunities/{opportunity.pk}/move",
                                 {"stage_id": stage_named("Closed Lost").pk, "fields": {"lost_reason": "pri\x00ce"}})
    assert _fields(_problem(response, 422)) == ["fields.lost_reason"]
    opportunity.refresh_from_db()
    assert opportunity.stage.name == "Prospecting" and opportunity.lost_reason == ""


def test_nul_in_a_patch_changes_nothing(api_for, rep):
    lead = LeadFactory(owner=rep, city="Berlin")
    _problem(api_for(rep).patch(f"/api/v1/leads/{lead.pk}", {"city": "\x00"}), 422)
    lead.refresh_from_db()
    assert lead.city == "Berlin"


@pytest.mark.parametrize("path", ["/api/v1/leads", "/api/v1/accounts", "/api/v1/opportunities", "/api/v1/users"])
def test_nul_in_query_is_422_naming_the_parameter(api_for, admin_user, path):
    body = _problem(api_for(admin_user).get(path, {"q": "a\x00b"}), 422, "validation_failed")
    assert body["errors"][0] == {"field": "q", "message": "Text may not contain the NUL character (\\u0000).",
                                 "code": "null_character"}


def test_lone_surrogate_is_422(api_for, admin_user):
    raw = '{"name": "East \\ud800 team"}'
    body = _problem(api_for(admin_user).post("/api/v1/teams", raw=raw), 422, "validation_failed")
    assert body["errors"][0]["field"] == "name" and body["errors"][0]["code"] == "invalid_unicode"


def test_escaped_backslash_u0000_is_ordinary_text(api_for, rep):
    response = api_for(rep).post("/api/v1/leads", {"last_name": "back\\u0000slash"})
    assert response.status_code == 201 and response.json()["last_name"] == "back\\u0000slash"


@FUZZ
@given(text=st.text(min_size=1, max_size=40).filter(str.strip))
def test_any_text_as_a_name_is_stored_exactly_or_refused_with_422(api_for, rep, text):
    response = api_for(rep).post("/api/v1/accounts", {"name": text, "city": text[:100]})
    if "\x00" in text or any("\ud800" <= ch <= "\udfff" for ch in text):
        _problem(response, 422)
    elif response.status_code == 422:  # a business rule (e.g. a duplicate name), with the field
        assert _fields(response.json())
    else:
        assert response.status_code == 201, response.content
        assert Account.objects.get(pk=response.json()["id"]).name == text.strip()


@FUZZ
@given(q=st.text(max_size=30))
def test_any_search_text_is_a_page_or_a_422(api_for, rep, q):
    response = api_for(rep).get("/api/v1/leads", {"q": q})
    if "\x00" in q:
        _problem(response, 422)
    else:
        assert response.status_code in (200, 422), response.content
        if response.status_code == 422:
            assert _fields(response.json()) == ["q"]  # over 200 characters


def test_non_ascii_round_trips(api_for, rep):
    api = api_for(rep)
    created = api.post("/api/v1/leads", {"first_name": "晓明", "last_name": "王", "company": "Ünïcødé GmbH 🚀",
                                         "city": "北京"})
    assert created.status_code == 201, created.content
    assert created.json()["full_name"] == "王晓明"  # Chinese names: family name first, no space
    found = api.get("/api/v1/leads", {"q": "🚀 王"}).json()
    assert [item["id"] for item in found["items"]] == [created.json()["id"]]


# --- non-ASCII digits and other odd values where an id or number is read from text -----------------

def test_move_fields_with_non_ascii_digits_are_field_errors(api_for, rep):
    opportunity = OpportunityFactory(owner=rep)
    response = api_for(rep).post(f"/api/v1/opportunities/{opportunity.pk}/move", {
        "stage_id": stage_named("Qualification").pk,
        "fields": {"probability": "²", "contact": "²", "owner": "١", "amount": "²"},
    })
    body = _problem(response, 422, "validation_failed")
    assert {"probability", "contact", "owner", "amount"} <= set(_fields(body))
    opportunity.refresh_from_db()
    assert opportunity.stage.name == "Prospecting"


def test_move_fields_with_huge_ids_are_field_errors(api_for, rep):
    opportunity = OpportunityFactory(owner=rep)
    response = api_for(rep).post(f"/api/v1/opportunities/{opportunity.pk}/move", {
        "stage_id": stage_named("Qualification").pk, "fields": {"contact": HUGE, "owner": str(HUGE)},
    })
    assert {"contact", "owner"} <= set(_fields(_problem(response, 422)))


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/api/v1/opportunities/{opp}/move", {"stage_id": HUGE}, "stage_id"),
    ("/api/v1/stages/reorder", {"stage_ids": [HUGE]}, "stage_ids"),
    ("/api/v1/leads", {"last_name": "X", "campaign": HUGE}, "campaign"),
    ("/api/v1/leads", {"last_name": "X", "owner": HUGE}, "owner"),
    ("/api/v1/contacts", {"last_name": "X", "account": HUGE}, "account"),
    ("/api/v1/opportunities", {"name": "X", "account": HUGE}, "account"),
    ("/api/v1/activities", {"subject": "X", "kind": "note", "opportunity": HUGE}, "opportunity"),
])
def test_huge_ids_in_bodies_are_field_errors(api_for, admin_user, path, body, field):
    opportunity = OpportunityFactory(owner=admin_user)
    before = (Lead.objects.count(), Opportunity.objects.count(), Activity.objects.count())
    response = api_for(admin_user).post(path.format(opp=opportunity.pk), body)
    assert field in _fields(_problem(response, 422))
    assert (Lead.objects.count(), Opportunity.objects.count(), Activity.objects.count()) == before


# --- dates and date-times -------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00"])
@pytest.mark.parametrize(("path", "body", "field"), [
    ("/api/v1/leads", {"last_name": "X"}, "consent_at"),
    ("/api/v1/tokens", {"name": "ci"}, "expires_at"),
    ("/api/v1/activities", {"subject": "Call", "kind": "call", "lead": "{lead}"}, "due_at"),
])
def test_datetime_that_overflows_in_utc_is_422(api_for, rep, value, path, body, field):
    lead = LeadFactory(owner=rep)
    body = {key: (lead.pk if val == "{lead}" else val) for key, val in body.items()} | {field: value}
    response = api_for(rep).post(path, body)
    errors = _problem(response, 422)["errors"]
    assert errors == [{"field": field, "code": "datetime_out_of_range",
                       "message": "The date-time must lie between 0001-01-01 and 9999-12-31 in UTC."}]
    assert not Activity.objects.exists() and Lead.objects.count() == 1


@pytest.mark.parametrize(("sent", "stored"), [
    ("2024-05-01T12:00:00+16:31", "2024-04-30T19:29:00Z"),  # ISO 8601 allows it; PostgreSQL refuses +16:31
    ("2024-05-01T12:00:00-23:59", "2024-05-02T11:59:00Z"),
    ("2024-05-01T12:00:00", "2024-05-01T12:00:00Z"),  # no offset: the server's time zone (UTC here)
])
def test_datetime_with_any_offset_is_stored_as_the_same_instant(api_for, rep, sent, stored):
    response = api_for(rep).post("/api/v1/leads", {"last_name": "X", "consent_at": sent})
    assert response.status_code == 201, response.content
    assert response.json()["consent_at"] == stored
    assert Lead.objects.get().consent_at.isoformat().replace("+00:00", "Z") == stored


@FUZZ
@given(moment=st.datetimes(timezones=st.timezones() | st.builds(
    dt.timezone, st.timedeltas(min_value=dt.timedelta(hours=-23, minutes=-59), max_value=dt.timedelta(hours=23, minutes=59)))))
def test_any_due_date_time_is_stored_or_refused_with_422(api_for, rep, moment):
    lead = Lead.objects.filter(owner=rep).first() or LeadFactory(owner=rep)
    response = api_for(rep).post("/api/v1/activities", {"subject": "Call", "kind": "call", "lead": lead.pk,
                                                        "due_at": moment.isoformat()})
    if response.status_code == 422:
        assert _fields(response.json()) == ["due_at"]
    else:
        assert response.status_code == 201, response.content


@pytest.mark.parametrize("value", ["2025-02-30", "0000-01-01", "10000-01-01", "2025-1-1", "yesterday", "²"])
def test_invalid_dates_are_422(api_for, rep, value):
    body = _problem(api_for(rep).get("/api/v1/opportunities", {"close_before": value}), 422)
    assert _fields(body) == ["close_before"]


# --- bodies -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw", ['{"last_name": NaN}', '{"last_name": "x", "score": Infinity}', '{"a": -Infinity}'])
def test_nan_and_infinity_are_not_json(api_for, rep, raw):
    _problem(api_for(rep).post("/api/v1/leads", raw=raw), 400, "invalid_json")
    assert not Lead.objects.exists()


def test_empty_body_reports_the_missing_fields_by_name(api_for, rep):
    body = _problem(api_for(rep).post("/api/v1/leads", raw=""), 422, "validation_failed")
    assert _fields(body) == ["last_name"]


def test_empty_patch_body_changes_nothing(api_for, rep):
    lead = LeadFactory(owner=rep, city="Oslo")
    response = api_for(rep).client.patch(f"/api/v1/leads/{lead.pk}", "", content_type="application/json",
                                         HTTP_AUTHORIZATION=f"Bearer {api_for(rep).token}")
    assert response.status_code == 200 and response.json()["city"] == "Oslo"


def test_empty_body_runs_an_action_whose_fields_are_optional(api_for, rep):
    lead = LeadFactory(owner=rep, status=LeadStatus.QUALIFIED)
    response = api_for(rep).post(f"/api/v1/leads/{lead.pk}/convert", raw="")
    assert response.status_code == 201, response.content
    assert response.json()["opportunity_id"] is not None


def test_unknown_field_is_named(api_for, rep):
    body = _problem(api_for(rep).post("/api/v1/leads", {"last_name": "X", "lastname": "Y"}), 422)
    assert _fields(body) == ["lastname"]


# --- errors made outside the API's handlers ---------------------------------------------------------

@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("delete", "/api/v1/leads/1", {"GET", "PATCH"}),
    ("put", "/api/v1/leads", {"GET", "POST"}),
    ("post", "/api/v1/me", {"GET"}),
])
def test_wrong_method_is_405_problem_with_allow(api_for, rep, method, path, allowed):
    api = api_for(rep)
    response = api.delete(path) if method == "delete" else getattr(api, method)(path, {})
    body = _problem(response, 405, "method_not_allowed")
    assert {m.strip() for m in response["Allow"].split(",")} == allowed
    assert method.upper() in body["detail"]


def test_post_to_unknown_path_with_a_session_is_404_not_csrf_page(rep):
    client = Client(enforce_csrf_checks=True)
    client.force_login(rep)
    _problem(client.post("/api/v1/nope", "{}", content_type="application/json"), 404, "not_found")


def test_body_over_the_limit_is_413_and_creates_nothing(api_for, rep, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    api = api_for(rep)
    response = api.post("/api/v1/leads", {"last_name": "X", "description": "x" * 2000},
                        headers={"Idempotency-Key": "big"})
    body = _problem(response, 413, "payload_too_large")
    assert "1000" in body["detail"]
    assert not Lead.objects.exists()


def test_unhandled_error_is_a_500_problem(api_for, rep, monkeypatch):
    from l2c.leads import selectors

    def broken(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(selectors, "lead_list", broken)
    api = api_for(rep)
    api.client.raise_request_exception = False
    body = _problem(api.get("/api/v1/leads"), 500, "internal_error")
    assert "boom" not in json.dumps(body)  # nothing internal leaks


# --- the schema says all of this ----------------------------------------------------------------------

@pytest.fixture
def openapi(client, db):
    return client.get("/api/v1/openapi.json").json()


def test_schema_documents_problem_responses(openapi):
    assert openapi["components"]["schemas"]["ProblemDetails"]["required"] == ["type", "title", "status", "detail",
                                                                               "code"]
    create = openapi["paths"]["/api/v1/leads"]["post"]["responses"]
    assert {"400", "401", "403", "409", "413", "422"} <= {str(code) for code in create}
    problem = create[next(code for code in create if str(code) == "422")]["content"]["application/problem+json"]
    assert problem["schema"] == {"$ref": "#/components/schemas/ProblemDetails"}
    read = openapi["paths"]["/api/v1/leads/{lead_id}"]["get"]["responses"]
    assert {"401", "403", "404", "422"} <= {str(code) for code in read}
    for operations in openapi["paths"].values():
        for operation in operations.values():
            assert {"401", "403"} <= {str(code) for code in operation["responses"]}


def test_schema_documents_idempotency_key_on_posts(openapi):
    for path, operations in openapi["paths"].items():
        for method, operation in operations.items():
            names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "header"]
            assert ("Idempotency-Key" in names) == (method == "post"), (method, path)


def test_schema_bounds_ids_and_pages(openapi):
    params = {p["name"]: p["schema"] for p in openapi["paths"]["/api/v1/opportunities"]["get"]["parameters"]}
    for name in ("stage", "owner", "account", "lead"):
        bounds = next(s for s in params[name].get("anyOf", [params[name]]) if s.get("type") == "integer")
        assert (bounds["minimum"], bounds["maximum"]) == (1, MAX_ID)
    assert (params["limit"]["minimum"], params["limit"]["maximum"]) == (1, MAX_LIMIT)
    assert (params["offset"]["minimum"], params["offset"]["maximum"]) == (0, MAX_ID)
