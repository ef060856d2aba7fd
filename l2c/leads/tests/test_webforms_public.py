"""The public endpoint POST /f/<key>: form posts and JSON, honeypot, limits, consent, UTM, repeats, CORS."""
import json

import pytest
from django.test import Client

from l2c.core.models import AuditEvent
from l2c.leads.choices import LeadStatus, TouchKind
from l2c.leads.models import Lead, Touch, WebForm
from l2c.leads.webforms import selectors, services

from .factories import CampaignFactory, LeadFactory

FIELDS = [{"name": "first_name", "label": "", "required": False},
          {"name": "last_name", "label": "Family name", "required": True},
          {"name": "email", "label": "", "required": True},
          {"name": "phone", "label": "", "required": False},
          {"name": "company", "label": "", "required": False},
          {"name": "country", "label": "", "required": False}]


@pytest.fixture
def webform(admin_user, rep):
    return services.webform_create(
        actor=admin_user, name="Demo request", fields=FIELDS, campaign=CampaignFactory(name="Spring"),
        owner=rep, consent_text="I agree that ACME may contact me.", consent_required=True,
        thank_you_text="Thanks, we'll call you.")


@pytest.fixture
def anon():
    return Client(REMOTE_ADDR="203.0.113.7")


def post_json(client, key, data, **headers):
    return client.post(f"/f/{key}", json.dumps(data), content_type="application/json", **headers)


GOOD = {"first_name": "Wei", "last_name": "Wang", "email": "Wei.Wang@Example.COM", "consent": "yes"}


def test_form_post_creates_lead_with_consent_utm_and_touch(anon, webform, rep, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = anon.post(f"/f/{webform.key}", {**GOOD, "utm_source": "newsletter", "utm_campaign": "spring",
                                                   "phone": "+86 138 1234 5678"},
                             HTTP_USER_AGENT="Mozilla/5.0 test", HTTP_REFERER="https://www.example.com/demo?x=1")

    assert response.status_code == 200
    assert "Thanks, we&#x27;ll call you." in response.content.decode()
    lead = Lead.objects.get()
    assert (lead.last_name, lead.email, lead.phone) == ("Wang", "Wei.Wang@example.com", "+8613812345678")
    assert (lead.source, lead.campaign.name, lead.owner, lead.status) == ("web_form", "Spring", rep, LeadStatus.NEW)
    assert (lead.utm_source, lead.utm_campaign) == ("newsletter", "spring")
    assert lead.consent_basis == "consent" and lead.consent_text == "I agree that ACME may contact me."
    assert lead.consent_ip == "203.0.113.7" and lead.consent_source == "web form Demo request"
    assert lead.consent_at is not None
    touch = Touch.objects.get()
    assert (touch.lead, touch.kind, touch.form, touch.ip) == (lead, TouchKind.FORM_SUBMISSION, webform, "203.0.113.7")
    assert (touch.user_agent, touch.referrer, touch.utm_source) == ("Mozilla/5.0 test",
                                                                    "https://www.example.com/demo?x=1", "newsletter")
    assert touch.data["last_name"] == "Wang" and touch.data["consent"] is True
    event = AuditEvent.objects.get(object_type="leads.lead")
    assert (event.action, event.actor_id, event.actor_label) == ("create", None, "web form Demo request")
    assert selectors.webform_submission_count(form=webform) == 1


def test_json_post_answers_without_ids_and_reads_utm_from_referrer(anon, webform):
    response = post_json(anon, webform.key, {**GOOD, "consent": True},
                         HTTP_REFERER="https://www.example.com/?utm_source=ads&utm_medium=cpc")

    assert response.status_code == 201
    assert response.json() == {"status": "ok", "message": "Thanks, we'll call you."}
    lead = Lead.objects.get()
    assert (lead.utm_source, lead.utm_medium) == ("ads", "cpc")


def test_redirect_after_submit_is_303(anon, webform, admin_user):
    services.webform_update(form=webform, actor=admin_user, redirect_url="https://www.example.com/thanks")
    response = anon.post(f"/f/{webform.key}", GOOD)
    assert response.status_code == 303 and response["Location"] == "https://www.example.com/thanks"


def test_honeypot_pretends_success_and_stores_nothing(anon, webform):
    form_post = anon.post(f"/f/{webform.key}", {**GOOD, "l2c_hp": "http://spam.example"})
    json_post = post_json(anon, webform.key, {**GOOD, "l2c_hp": "buy now"})

    assert form_post.status_code == 200 and "Thanks, we&#x27;ll call you." in form_post.content.decode()
    assert json_post.status_code == 201 and json_post.json() == {"status": "ok", "message": "Thanks, we'll call you."}
    assert not Lead.objects.exists() and not Touch.objects.exists()
    assert not AuditEvent.objects.filter(object_type="leads.lead").exists()


def test_field_errors_reshow_the_form_or_answer_problem_json(anon, webform):
    bad = {"last_name": "", "email": "not-an-email", "country": "XX", "first_name": "<b>Wei</b>"}

    page = anon.post(f"/f/{webform.key}", bad)
    problem = post_json(anon, webform.key, bad)

    assert page.status_code == 422
    body = page.content.decode()
    assert "This field is required." in body and "is not a valid e-mail address" in body
    assert "Please agree to continue." in body
    assert 'value="&lt;b&gt;Wei&lt;/b&gt;"' in body  # what the visitor typed comes back, escaped
    assert problem.status_code == 422 and problem["Content-Type"] == "application/problem+json"
    fields = {e["field"]: e["code"] for e in problem.json()["errors"]}
    assert fields == {"last_name": "required", "email": "invalid_email", "consent": "required",
                      "country": "invalid_country"}
    assert not Lead.objects.exists() and not Touch.objects.exists()


def test_field_longer_than_allowed_is_422(anon, webform):
    response = post_json(anon, webform.key, {**GOOD, "company": "x" * 201})
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "company", "message": "At most 200 characters (got 201).",
                                          "code": "max_length"}]


def test_body_over_the_size_limit_is_413(anon, webform, settings):
    settings.L2C_WEBFORM_MAX_BYTES = 1000
    response = post_json(anon, webform.key, {**GOOD, "description": "y" * 2000})
    page = anon.post(f"/f/{webform.key}", {**GOOD, "company": "z" * 2000})
    assert response.status_code == 413 and response.json()["code"] == "payload_too_large"
    assert page.status_code == 413
    assert not Lead.objects.exists()


def test_rate_limit_per_form_and_ip_answers_429_with_retry_after(webform, settings):
    settings.L2C_WEBFORM_RATE_PER_MINUTE = 2
    client = Client(REMOTE_ADDR="198.51.100.9")
    other = Client(REMOTE_ADDR="198.51.100.10")

    statuses = [post_json(client, webform.key, {**GOOD, "email": f"p{i}@example.com"}).status_code for i in range(3)]
    limited = post_json(client, webform.key, {**GOOD, "email": "p9@example.com"})
    elsewhere = post_json(other, webform.key, {**GOOD, "email": "q@example.com"})

    assert statuses == [201, 201, 429]
    assert limited.status_code == 429 and 1 <= int(limited["Retry-After"]) <= 60
    assert limited.json()["code"] == "rate_limited"
    assert elsewhere.status_code == 201  # another address has its own budget
    assert Lead.objects.count() == 3


def test_hourly_limit_per_ip_spans_forms(webform, admin_user, settings):
    settings.L2C_WEBFORM_RATE_PER_HOUR = 1
    second = services.webform_create(actor=admin_user, name="Other", fields=FIELDS)
    client = Client(REMOTE_ADDR="198.51.100.20")
    assert post_json(client, webform.key, GOOD).status_code == 201
    response = client.post(f"/f/{second.key}", {"last_name": "Li", "email": "li@example.com"})
    assert response.status_code == 429 and int(response["Retry-After"]) > 0


def test_repeat_submission_adds_a_touch_to_the_open_lead(anon, webform):
    first = anon.post(f"/f/{webform.key}", {**GOOD, "company": ""})
    again = post_json(anon, webform.key, {**GOOD, "email": "wei.wang@example.com", "company": "ACME",
                                          "first_name": "Changed", "utm_source": "retarget"})

    assert first.status_code == 200 and again.status_code == 201
    lead = Lead.objects.get()
    assert lead.touches.count() == 2
    assert lead.company == "ACME"  # an empty field is filled
    assert lead.first_name == "Wei"  # a filled one is kept
    assert lead.utm_source == "retarget"  # empty before, so filled too
    latest = lead.touches.order_by("-id").first()
    assert latest.utm_source == "retarget" and latest.data["first_name"] == "Changed"
    update = AuditEvent.objects.get(object_type="leads.lead", action="update")
    assert update.changes == {"company": ["", "ACME"], "utm_source": ["", "retarget"]}
    assert update.actor_id is None and update.actor_label == "web form Demo request"


def test_repeat_after_conversion_or_disqualification_creates_a_new_lead(anon, webform):
    LeadFactory(email="wei.wang@example.com", status=LeadStatus.CONVERTED)
    LeadFactory(email="Wei.Wang@example.com", status=LeadStatus.DISQUALIFIED)

    response = anon.post(f"/f/{webform.key}", GOOD)

    assert response.status_code == 200
    assert Lead.objects.count() == 3
    new = Lead.objects.order_by("-id").first()
    assert new.status == LeadStatus.NEW and new.touches.count() == 1


def test_merged_lead_is_not_matched(anon, webform):
    survivor = LeadFactory(email="someone@else.example")
    LeadFactory(email="wei.wang@example.com", merged_into=survivor)
    anon.post(f"/f/{webform.key}", GOOD)
    assert Lead.objects.count() == 3


def test_unknown_or_inactive_key_is_404(anon, webform, admin_user):
    assert anon.post("/f/nope", GOOD).status_code == 404
    assert post_json(anon, "nope", GOOD).json()["code"] == "not_found"
    services.webform_update(form=webform, actor=admin_user, is_active=False)
    assert anon.get(f"/f/{webform.key}").status_code == 404
    assert anon.post(f"/f/{webform.key}", GOOD).status_code == 404
    assert not Lead.objects.exists()


def test_hosted_page_shows_the_form_without_login(anon, webform):
    response = anon.get(f"/f/{webform.key}")
    body = response.content.decode()
    assert response.status_code == 200
    assert "Family name" in body and 'name="l2c_hp"' in body and "I agree that ACME may contact me." in body
    assert "frame-ancestors" in response["Content-Security-Policy"]
    assert "X-Frame-Options" not in response


def test_html_in_names_is_stored_verbatim_and_escaped_on_the_lead_page(anon, webform, client, admin_user):
    post_json(anon, webform.key, {**GOOD, "first_name": "<img src=x onerror=alert(1)>",
                                  "last_name": "<script>alert(2)</script>"})
    lead = Lead.objects.get()
    assert lead.last_name == "<script>alert(2)</script>"
    client.force_login(admin_user)

    page = client.get(f"/leads/{lead.pk}/").content.decode()
    form_page = client.get(f"/leads/forms/{webform.pk}/").content.decode()

    for body in (page, form_page):
        assert "<script>alert(2)</script>" not in body and "<img src=x" not in body
        assert "&lt;script&gt;alert(2)&lt;/script&gt;" in body


def test_cors_for_allowed_origins(anon, webform, admin_user):
    services.webform_update(form=webform, actor=admin_user, allowed_origins="https://www.example.com")

    preflight = anon.options(f"/f/{webform.key}", HTTP_ORIGIN="https://www.example.com",
                             HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
                             HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type")
    refused_preflight = anon.options(f"/f/{webform.key}", HTTP_ORIGIN="https://evil.example")
    allowed = post_json(anon, webform.key, GOOD, HTTP_ORIGIN="https://www.example.com")
    refused = post_json(anon, webform.key, {**GOOD, "email": "x@example.com"}, HTTP_ORIGIN="https://evil.example")

    assert preflight.status_code == 204
    assert preflight["Access-Control-Allow-Origin"] == "https://www.example.com"
    assert "POST" in preflight["Access-Control-Allow-Methods"]
    assert "content-type" in preflight["Access-Control-Allow-Headers"].lower()
    assert refused_preflight.status_code == 403 and "Access-Control-Allow-Origin" not in refused_preflight
    assert allowed.status_code == 201 and allowed["Access-Control-Allow-Origin"] == "https://www.example.com"
    assert refused.status_code == 403 and "Access-Control-Allow-Origin" not in refused
    assert Lead.objects.count() == 1


def test_any_origin_when_none_listed_and_own_host_always(anon, webform):
    response = post_json(anon, webform.key, GOOD, HTTP_ORIGIN="https://partner.example")
    assert response.status_code == 201 and response["Access-Control-Allow-Origin"] == "https://partner.example"


def test_no_fixed_owner_uses_assignment_rules_or_leaves_unassigned(anon, admin_user):
    webform = services.webform_create(actor=admin_user, name="Rules", fields=FIELDS)
    anon.post(f"/f/{webform.key}", {"last_name": "Li", "email": "li@example.com", "country": "CN"})
    lead = Lead.objects.get()
    assert lead.owner is None  # no rule matches


def test_multipart_post_is_accepted(anon, webform):
    response = anon.post(f"/f/{webform.key}", GOOD)  # the test client sends multipart/form-data
    assert response.status_code == 200 and Lead.objects.count() == 1


def test_urlencoded_post_is_accepted(anon, webform):
    from urllib.parse import urlencode

    response = anon.post(f"/f/{webform.key}", urlencode(GOOD), content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200 and Lead.objects.count() == 1


def test_json_that_is_not_an_object_is_refused(anon, webform):
    assert anon.post(f"/f/{webform.key}", "[1,2]", content_type="application/json").status_code == 400
    response = post_json(anon, webform.key, {**GOOD, "company": {"nested": 1}})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "company"
    assert not Lead.objects.exists()


def test_get_other_methods(anon, webform):
    assert anon.put(f"/f/{webform.key}").status_code == 405
    assert WebForm.objects.count() == 1


def test_shared_cache_counters_are_atomic_statements(db):
    """The embedded default cache (l2c.core.cache.DatabaseCache): add of an int wins once, incr counts,
    both read back through get; a missing or expired key is Django's ValueError."""
    from django.core.cache import caches

    from l2c.core.cache import DatabaseCache

    cache = caches["default"]
    assert isinstance(cache, DatabaseCache)
    assert cache.add("rl-test", 1, timeout=60) is True
    assert cache.add("rl-test", 1, timeout=60) is False
    assert [cache.incr("rl-test") for _ in range(3)] == [2, 3, 4]
    assert cache.get("rl-test") == 4
    with pytest.raises(ValueError):
        cache.incr("missing")
    assert cache.add("expired", 5, timeout=-1) is True
    with pytest.raises(ValueError):
        cache.incr("expired")
    assert cache.add("expired", 7, timeout=60) is True  # an expired entry is taken over
    assert cache.get("expired") == 7
    cache.set("pickled", {"a": 1})
    assert cache.get("pickled") == {"a": 1}
