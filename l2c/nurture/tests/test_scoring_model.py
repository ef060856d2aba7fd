"""The predictive model: trained on a generated history where conversion depends on country and form fills."""
from __future__ import annotations

import datetime as dt
import math
import random

import pytest

from l2c.leads.models import Lead, Touch
from l2c.nurture.models import LeadScore, ScoringModel
from l2c.nurture.scoring import model, services

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
COUNTRY_EFFECT = {"CN": 1.6, "DE": 0.8, "US": 0.0, "FR": -0.8, "BR": -1.6}


def make_history(n: int, *, seed: int = 1, open_leads: int = 0) -> None:
    """n leads with an outcome drawn from a logistic in country and form fills, plus `open_leads` new ones."""
    rng = random.Random(seed)
    leads, fills = [], []
    for i in range(n + open_leads):
        country = rng.choice(list(COUNTRY_EFFECT))
        forms = rng.randint(0, 4)
        logit = -1.2 + COUNTRY_EFFECT[country] + 0.9 * forms - 0.0 * rng.random()
        converted = rng.random() < 1 / (1 + math.exp(-logit))
        status = "new" if i >= n else ("converted" if converted else "disqualified")
        leads.append(Lead(last_name=f"L{i}", country=country, industry=rng.choice(["Software", "Retail", "Energy"]),
                          status=status))
        fills.append(forms)
    created = Lead.objects.bulk_create(leads)
    Touch.objects.bulk_create([Touch(lead=lead, kind="form_submission", occurred_at=NOW - dt.timedelta(days=k * 5))
                               for lead, forms in zip(created, fills, strict=True) for k in range(forms)])


def test_model_learns_the_history_and_explains_scores(manager):
    # given a history of 1,000 outcomes and a few open leads
    make_history(1000, open_leads=20)
    # when the model is trained
    trained = model.train(actor=manager, now=NOW)
    # then it ranks held-out leads well and its calibration bins hold every test lead
    metrics = trained.metrics
    assert trained.status == "active"
    assert metrics["auc"] > 0.75
    assert metrics["test_count"] == 250 and metrics["train_count"] == 750
    assert sum(row["count"] for row in metrics["calibration"]) == metrics["test_count"]
    assert len(metrics["calibration"]) == 10
    weights = dict(zip(trained.feature_names, trained.coefficients, strict=True))
    assert weights["field:country=CN"] > weights["field:country=US"] > weights["field:country=BR"]
    assert weights["touches:form_submission"] > 0
    # and each lead's score is the model's probability with factors naming country and form fills
    services.rescore_all(now=NOW)
    good = Lead.objects.create(last_name="Good", country="CN", industry="Software")
    Touch.objects.bulk_create([Touch(lead=good, kind="form_submission", occurred_at=NOW) for _i in range(4)])
    bad = Lead.objects.create(last_name="Bad", country="BR", industry="Software")
    good_score, bad_score = services.rescore_lead(good, now=NOW), services.rescore_lead(bad, now=NOW)
    assert good_score.probability is not None and good_score.score == round(100 * good_score.probability)
    assert good_score.score > 80 > 20 > bad_score.score
    assert good_score.grade == "A" and bad_score.grade == "D"
    ups = [f for f in good_score.factors if f.get("weight", 0) > 0]
    downs = [f for f in bad_score.factors if f.get("weight", 0) < 0]
    assert {"feature": "country", "value": "CN"}.items() <= ups[0].items() or any(
        f["feature"] == "country" and f["value"] == "CN" for f in ups)
    assert any(f["feature"] == "touches" and f["touch_kind"] == "form_submission" and f["count"] == 4 for f in ups)
    assert any(f["feature"] == "country" and f["value"] == "BR" for f in downs)
    texts = [f["text"] for f in good_score.factors]
    assert any(t.startswith("Country is CN: +") for t in texts)
    assert any(t.startswith("4 × Form submission: +") for t in texts)
    assert LeadScore.objects.count() == Lead.objects.count()


def test_training_again_supersedes_the_previous_model(manager):
    make_history(400)
    first = model.train(actor=manager, now=NOW)
    second = model.train(actor=manager, now=NOW)
    first.refresh_from_db()
    assert first.status == "superseded" and second.status == "active"
    assert second.coefficients == first.coefficients  # fixed seed: the same data gives the same model


def test_too_little_history_says_so_and_uses_the_rule_score(manager, api_for):
    services.rule_create(actor=manager, kind="fit", field="country", operator="equals", value="CN", points=70)
    make_history(150, open_leads=1)
    trained = model.train(actor=manager, now=NOW)
    assert trained.status == "insufficient" and not trained.coefficients
    assert services.compiled_model() is None
    services.rescore_all(now=NOW)
    cn = LeadScore.objects.filter(lead__country="CN").first()
    assert cn.probability is None and cn.score == cn.rule_score == 70
    state = api_for(manager).get("/api/v1/scoring-model").json()
    assert state["status"] == "not_enough_history" and state["auc"] is None
    assert state["counts"]["outcomes"] == 150
    assert "Not enough history" in state["message"] and "rule score alone" in state["message"]


def test_too_few_of_one_class_is_not_enough(manager):
    Lead.objects.bulk_create([Lead(last_name=f"L{i}", status="converted" if i < 20 else "disqualified")
                              for i in range(300)])
    assert model.train(actor=manager).status == "insufficient"
    assert not ScoringModel.objects.filter(status="active").exists()


def test_nightly_job_is_scheduled_and_trains_then_rescores(manager):
    from l2c.celery import BEAT_SCHEDULE
    from l2c.nurture.tasks import train_scoring_model_and_rescore

    assert any(e["task"] == "l2c.nurture.tasks.train_scoring_model_and_rescore" for e in BEAT_SCHEDULE.values())
    make_history(300, open_leads=5)
    assert train_scoring_model_and_rescore() == 305
    assert ScoringModel.objects.get().status == "active"
    assert LeadScore.objects.filter(probability__isnull=False).count() == 305
