"""Rule scoring: fit operators, engagement decay at exact ages, caps, clamp and grades, batch = per lead."""
from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from l2c.leads.models import Lead, Touch
from l2c.nurture.models import LeadScore
from l2c.nurture.scoring import engine, services

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


def _lead(**fields):
    values = {"first_name": "Jane", "last_name": "Doe", **fields}
    return Lead.objects.create(**values)


def _touches(lead, kind, *ages_days):
    Touch.objects.bulk_create([Touch(lead=lead, kind=kind, occurred_at=NOW - dt.timedelta(days=age))
                               for age in ages_days])


def _rule(manager, **values):
    return services.rule_create(actor=manager, **values)


def _score(lead) -> LeadScore:
    return services.rescore_lead(lead, now=NOW)


@pytest.mark.parametrize("operator, value, lead_value, matches", [
    ("equals", "cn", "CN", True),
    ("equals", "CN", "US", False),
    ("in", "US, CN ,DE", "CN", True),
    ("in", "US,DE", "CN", False),
    ("contains", "director", "Sales Director EMEA", True),
    ("contains", "vp", "Sales Director", False),
    ("gte", "50", "51-200", True),
    ("gte", "201", "51-200", False),
    ("lte", "200", "51-200", True),
    ("lte", "10", "51-200", False),
    ("gte", "10", "", False),
])
def test_fit_operators(manager, operator, value, lead_value, matches):
    field = {"equals": "country", "in": "country", "contains": "title"}.get(operator, "company_size")
    _rule(manager, kind="fit", field=field, operator=operator, value=value, points=20)
    lead = _lead(**{field: lead_value})
    scored = _score(lead)
    assert scored.fit == (20 if matches else 0)
    assert scored.rule_score == (20 if matches else 0)
    lead.refresh_from_db()
    assert lead.score == scored.score


def test_fit_points_add_up_and_negative_points_subtract(manager):
    _rule(manager, kind="fit", field="country", operator="equals", value="CN", points=30)
    _rule(manager, kind="fit", field="industry", operator="in", value="Software,Retail", points=25)
    _rule(manager, kind="fit", field="title", operator="contains", value="intern", points=-40)
    assert _score(_lead(country="CN", industry="software", title="CTO")).rule_score == 55
    assert _score(_lead(country="CN", industry="software", title="Marketing Intern")).rule_score == 15
    scored = _score(_lead(country="US", title="Intern"))
    assert scored.fit == -40 and scored.rule_score == 0 and scored.grade == "D"


@pytest.mark.parametrize("ages, expected", [
    ((0,), 10.0),
    ((30,), 5.0),  # one half-life: half the points
    ((60,), 2.5),
    ((90,), 1.25),
    ((0, 30, 60), 17.5),
])
def test_engagement_decays_by_half_life(manager, ages, expected):
    _rule(manager, kind="engagement", touch_kind="form_submission", points=10, half_life_days=30)
    lead = _lead()
    _touches(lead, "form_submission", *ages)
    _touches(lead, "page_visit", 0)  # another kind: no points from this rule
    scored = _score(lead)
    assert scored.engagement == pytest.approx(expected, abs=0.01)
    assert scored.rule_score == engine.clamp_score(expected)


def test_engagement_without_half_life_does_not_decay_and_cap_limits(manager):
    _rule(manager, kind="engagement", touch_kind="email_click", points=10, cap=25)
    _rule(manager, kind="engagement", touch_kind="email_open", points=2)
    lead = _lead()
    _touches(lead, "email_click", 0, 1, 400, 800)
    _touches(lead, "email_open", 365, 730)
    scored = _score(lead)
    assert scored.engagement == 29  # clicks 40 capped at 25, opens 2 × 2
    texts = [f["text"] for f in scored.factors]
    assert "4 × Link clicked: +25" in texts and "2 × E-mail opened: +4" in texts


def test_future_touch_kinds_are_accepted_by_name(manager):
    _rule(manager, kind="engagement", touch_kind="webinar_attended", points=15)
    lead = _lead()
    _touches(lead, "webinar_attended", 3)
    assert _score(lead).rule_score == 15


def test_clamp_and_grades(manager):
    _rule(manager, kind="fit", field="country", operator="equals", value="CN", points=100)
    _rule(manager, kind="fit", field="source", operator="equals", value="referral", points=60)
    top = _score(_lead(country="CN", source="referral"))
    assert top.fit == 160 and top.rule_score == 100 and top.grade == "A"
    assert [engine.grade_for(s) for s in (100, 80, 79, 60, 59, 40, 39, 0)] == ["A", "A", "B", "B", "C", "C", "D", "D"]
    assert engine.grade_for(None) == ""
    assert engine.clamp_score(-5) == 0 and engine.clamp_score(79.5) == 80 and engine.clamp_score(79.49) == 79


def test_batch_rescore_equals_per_lead_rescore(manager):
    _rule(manager, kind="fit", field="country", operator="in", value="CN,DE", points=30)
    _rule(manager, kind="fit", field="company_size", operator="gte", value="200", points=20)
    _rule(manager, kind="engagement", touch_kind="form_submission", points=12, half_life_days=14, cap=40)
    _rule(manager, kind="engagement", touch_kind="page_visit", points=1, half_life_days=7)
    leads = []
    for i in range(40):
        lead = _lead(country=["CN", "US", "DE", ""][i % 4], company_size=["1-10", "201-500", "1000+", ""][i % 3 + 1 if i % 5 else 0])
        _touches(lead, "form_submission", *range(0, i % 6 * 9, 9))
        _touches(lead, "page_visit", *range(i % 4))
        leads.append(lead)
    assert services.rescore_all(now=NOW, batch=7) == 40
    batch = {s.lead_id: (s.score, s.rule_score, s.fit, s.engagement, s.grade, s.factors) for s in LeadScore.objects.all()}
    LeadScore.objects.all().delete()
    Lead.objects.update(score=None)
    single = {}
    for lead in leads:
        s = services.rescore_lead(lead, now=NOW)
        single[s.lead_id] = (s.score, s.rule_score, s.fit, s.engagement, s.grade, s.factors)
    assert batch == single
    assert dict(Lead.objects.values_list("pk", "score")) == {pk: v[0] for pk, v in batch.items()}
    assert len({v[0] for v in batch.values()}) > 5  # the rules made a spread of scores


def test_rescore_twice_keeps_one_row_per_lead(manager):
    _rule(manager, kind="fit", field="country", operator="equals", value="CN", points=30)
    _lead(country="CN")
    services.rescore_all(now=NOW)
    services.rescore_all(now=NOW)
    assert LeadScore.objects.count() == 1 and LeadScore.objects.get().score == 30


def test_new_lead_is_scored_on_lead_created(manager, django_capture_on_commit_callbacks):
    from l2c.leads import services as lead_services

    _rule(manager, kind="fit", field="country", operator="equals", value="CN", points=45)
    with django_capture_on_commit_callbacks(execute=True):
        lead = lead_services.lead_create(actor=manager, last_name="Li", country="CN")
    lead.refresh_from_db()
    assert lead.score == 45 and LeadScore.objects.get(lead=lead).grade == "C"


def test_nothing_to_score_with_queues_no_scoring(manager, monkeypatch, django_capture_on_commit_callbacks):
    from l2c.leads import services as lead_services
    from l2c.nurture import tasks

    queued = []
    monkeypatch.setattr(tasks.rescore_lead, "delay", queued.append)
    with django_capture_on_commit_callbacks(execute=True):
        lead = lead_services.lead_create(actor=manager, last_name="Li", country="CN")
    assert queued == [] and Lead.objects.get(pk=lead.pk).score is None
    _rule(manager, kind="fit", field="country", operator="equals", value="CN", points=45)
    with django_capture_on_commit_callbacks(execute=True):
        other = lead_services.lead_create(actor=manager, last_name="Wu", country="CN")
    assert queued == [other.pk]  # scored on the worker, not in the request


def test_rule_change_is_audited(manager):
    from l2c.core.models import AuditEvent

    rule = _rule(manager, kind="fit", field="country", operator="equals", value="CN", points=30)
    services.rule_update(actor=manager, rule=rule, points=35)
    actions = list(AuditEvent.objects.filter(object_id=str(rule.pk), object_type__contains="scoringrule")
                   .values_list("action", flat=True).order_by("id"))
    assert actions == ["create", "update"]


def test_scored_at_defaults_to_now(manager):
    _rule(manager, kind="fit", field="country", operator="equals", value="CN", points=30)
    lead = _lead(country="CN")
    before = timezone.now()
    assert services.rescore_lead(lead).scored_at >= before
