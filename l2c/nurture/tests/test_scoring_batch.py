"""The batch scorer (numpy, a column at a time) gives exactly what the per-lead reference engine gives, and a
re-score writes a lead's score only when it changed."""
from __future__ import annotations

import datetime as dt
import json
import random
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from l2c.leads.models import Lead, Touch
from l2c.nurture.models import LeadScore
from l2c.nurture.scoring import engine, services

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
KINDS = ["form_submission", "email_open", "email_click", "page_visit"]


def _rules(manager):
    for values in (
        {"kind": "fit", "field": "country", "operator": "in", "value": "CN,DE", "points": 25},
        {"kind": "fit", "field": "company_size", "operator": "gte", "value": "200", "points": 15},
        {"kind": "fit", "field": "title", "operator": "contains", "value": "intern", "points": -30},
        {"kind": "fit", "field": "industry", "operator": "equals", "value": "software", "points": 0},
        {"kind": "engagement", "touch_kind": "form_submission", "points": 10, "half_life_days": 30, "cap": 25},
        {"kind": "engagement", "touch_kind": "email_open", "points": 3, "cap": 7},  # no decay: int points
        {"kind": "engagement", "touch_kind": "email_click", "points": -4, "half_life_days": 7, "cap": 10},
        {"kind": "engagement", "touch_kind": "page_visit", "points": 2, "half_life_days": 14},
    ):
        services.rule_create(actor=manager, **values)


def _leads(n: int, seed: int = 3) -> None:
    rng = random.Random(seed)
    leads = Lead.objects.bulk_create([
        Lead(last_name=f"L{i}", country=rng.choice(["CN", "DE", "US", "FR", ""]),
             company_size=rng.choice(["1-10", "201-1000", "1000+", ""]), title=rng.choice(["CTO", "Intern", ""]),
             industry=rng.choice(["Software", "Retail", ""]), source=rng.choice(["web_form", "import"]))
        for i in range(n)])
    Touch.objects.bulk_create([
        Touch(lead=lead, kind=kind, occurred_at=NOW - dt.timedelta(days=rng.choice([0, 7, 30, 61.5, 200])))
        for lead in leads for kind in KINDS for _k in range(rng.choice([0, 0, 1, 2, 5]))])


def _model():
    """Coefficients with ties (two touch kinds weigh the same), fields with and without "any other value"."""
    names = ["field:country=CN", "field:country=DE", "field:country=*other*", "field:industry=Software",
             "field:industry=*other*", "field:title=CTO", "field:source=web_form", "field:source=*other*",
             "touches:form_submission", "touches:email_open", "touches:page_visit", "rule_score"]
    weights = [0.9, 0.4, -0.3, 0.25, -0.1, 0.2, 0.15, -0.15, 0.5, 0.5, -0.2, 1.1]
    return engine.CompiledModel(names, weights, -0.7, model_id=1)


def _reference(rules, model) -> dict:
    """The per-lead engine's result for every lead, as the batch gives it (factors as stored JSON)."""
    lo, hi = next(iter(services.id_ranges(10**9)))
    touches = services.touch_aggregates(lo, hi, NOW, services.half_lives(rules))
    out = {}
    for lead_id, _stored, _status, lead in services.lead_rows(lo, hi):
        r = engine.score_lead(lead_id, lead, touches.get(lead_id, {}), rules, model)
        out[lead_id] = (r.score, r.rule_score, r.fit, r.engagement, r.probability, r.grade,
                        engine.factors_json(r.factors, "en"))
    return out


@pytest.mark.parametrize("with_model", [False, True])
def test_batch_equals_reference_engine(manager, with_model):
    _rules(manager)
    _leads(300)
    rules = services.active_rules()
    model = _model() if with_model else None
    expected = _reference(rules, model)
    engine._factor_json.cache_clear()  # keyed by value, it would hand 7.0 the text made for 7
    got = {}
    for lo, hi in services.id_ranges(97):  # ranges that do not line up with anything
        batch = services.score_range(lo, hi, rules=rules, model=model, now=NOW, language="en")
        for row in batch.rows():
            got[row[0]] = row[1:]
    assert got == expected
    # the same types too (an int stays an int in the stored JSON: "points": 7, not 7.0)
    assert {k: [type(v) for v in row] for k, row in got.items()} == {
        k: [type(v) for v in row] for k, row in expected.items()}
    factors = [f for row in got.values() for f in json.loads(row[-1])]
    assert any(f.get("points") == 7 and isinstance(f["points"], int) for f in factors)  # capped, no decay
    assert any(f.get("points") == -10 for f in factors)  # a negative cap
    assert len({row[0] for row in got.values()}) > 10
    if with_model:
        assert all(row[4] is not None for row in got.values())
        assert any(f.get("feature") == "touches" for f in factors)


def test_touch_columns_leave_out_leads_not_in_the_batch():
    rows = [(5, "email_open", 2, 1.5), (7, "page_visit", 1, 0.25), (9, "email_open", 3, 2.0)]
    touches = engine.Touches.of_rows([5, 9], rows, [14])
    assert list(touches.counts) == ["email_open"]  # kinds in name order; lead 7 is not in the batch
    assert touches.counts["email_open"].tolist() == [2, 3]
    assert touches.decayed[("email_open", 14)].tolist() == [1.5, 2.0]


def _lead_updates(queries) -> list[str]:
    """The statements that wrote the lead table (executemany is logged as "N times: <sql>")."""
    table = re.escape(Lead._meta.db_table)
    return [q["sql"] for q in queries if re.search(rf'(^|: )UPDATE "?{table}"?\s', q["sql"])]


def test_unchanged_score_is_not_written_again_and_scored_at_is_the_last_run(manager):
    services.rule_create(actor=manager, kind="fit", field="country", operator="equals", value="CN", points=30)
    cn, us = Lead.objects.create(last_name="A", country="CN"), Lead.objects.create(last_name="B", country="US")
    services.rescore_all(now=NOW)
    assert dict(Lead.objects.values_list("pk", "score")) == {cn.pk: 30, us.pk: 0}
    later = NOW + dt.timedelta(days=1)
    with CaptureQueriesContext(connection) as queries:
        assert services.rescore_all(now=later) == 2
    assert _lead_updates(queries) == []
    # the LeadScore row says when the lead was last scored, changed or not
    assert set(LeadScore.objects.values_list("scored_at", flat=True)) == {later}
    Lead.objects.filter(pk=us.pk).update(country="CN")
    with CaptureQueriesContext(connection) as queries:
        services.rescore_all(now=later)
    assert len(_lead_updates(queries)) == 1 and dict(Lead.objects.values_list("pk", "score")) == {cn.pk: 30, us.pk: 30}


def test_a_lead_with_no_touches_and_no_rules_matching_scores_zero(manager):
    services.rule_create(actor=manager, kind="engagement", touch_kind="email_open", points=5)
    lead = Lead.objects.create(last_name="Quiet")
    scored = services.rescore_lead(lead, now=NOW)
    assert (scored.score, scored.rule_score, scored.engagement, scored.factors) == (0, 0, 0.0, [])
