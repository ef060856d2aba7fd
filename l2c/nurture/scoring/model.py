"""The predictive model: logistic regression on the company's own converted (1) vs disqualified (0) leads.

Features: one-hot of the fit fields (the TOP_N most frequent values per field, the rest as "other"),
log(1 + touches) per touch kind, and the rule score / 100. Explainable: a lead's factor is coefficient ×
value. A stratified split with a fixed seed holds out TEST_SHARE for the AUC and a 10-bin calibration table;
the coefficients (not a pickle) are stored on a ScoringModel row. Below MIN_OUTCOMES outcomes, or fewer
than MIN_PER_CLASS of either, the row says "not enough history" and scoring uses the rule score alone.
"""
from __future__ import annotations

import math
from collections import Counter

from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _

from l2c.core import audit

from ..choices import ModelStatus
from ..models import ScoringModel
from . import engine, services

MIN_OUTCOMES = 200
MIN_PER_CLASS = 30
TOP_N = 10
TEST_SHARE = 0.25
SEED = 7
BINS = 10


def _outcomes(now):
    """(lead dict, touch counts, rule score, label) of every converted or disqualified lead."""
    from l2c.leads.choices import LeadStatus

    rules = services.active_rules()
    lives = services.half_lives(rules)
    rows = []
    for lo, hi in list(services.id_ranges()):
        statuses = [LeadStatus.CONVERTED, LeadStatus.DISQUALIFIED]
        leads = services.lead_rows(lo, hi, statuses=statuses)
        if not leads:
            continue
        touches = services.touch_aggregates(lo, hi, now, lives)
        for lead_id, _score, status, lead in leads:
            lead_touches = touches.get(lead_id, {})
            fit, engagement, _factors = engine.rule_points(rules, lead, lead_touches)
            counts = {kind: value[0] for kind, value in lead_touches.items()}
            rows.append((lead, counts, engine.clamp_score(fit + engagement), 1 if status == LeadStatus.CONVERTED else 0))
    return rows


def feature_names_for(rows) -> list[str]:
    names = []
    for field in engine.MODEL_FIELDS:
        common = Counter(engine.category(lead.get(field)) for lead, *_rest in rows).most_common(TOP_N)
        names += [f"field:{field}={value}" for value, _n in sorted(common)]
        names.append(f"field:{field}=*other*")
    kinds = sorted({kind for _lead, counts, *_rest in rows for kind in counts})
    names += [f"touches:{kind}" for kind in kinds]
    names.append("rule_score")
    return names


def matrix(rows, names: list[str]):
    import numpy as np

    index = {name: i for i, name in enumerate(names)}
    x = np.zeros((len(rows), len(names)))
    for r, (lead, counts, rule_score, _label) in enumerate(rows):
        for field in engine.MODEL_FIELDS:
            column = index.get(f"field:{field}={engine.category(lead.get(field))}", index[f"field:{field}=*other*"])
            x[r, column] = 1.0
        for kind, count in counts.items():
            if f"touches:{kind}" in index:
                x[r, index[f"touches:{kind}"]] = math.log1p(count)
        x[r, index["rule_score"]] = rule_score / 100.0
    return x


def calibration(y_true, y_prob) -> list[dict]:
    """BINS equal-width bins of predicted probability: count, mean predicted, observed conversion rate."""
    table = []
    for b in range(BINS):
        members = [(t, p) for t, p in zip(y_true, y_prob, strict=True)
                   if min(int(p * BINS), BINS - 1) == b]
        count = len(members)
        table.append({"bin": f"{b / BINS:.1f}–{(b + 1) / BINS:.1f}", "count": count,
                      "mean_predicted": round(sum(p for _t, p in members) / count, 4) if count else None,
                      "observed": round(sum(t for t, _p in members) / count, 4) if count else None})
    return table


def history_counts() -> dict:
    from l2c.leads.choices import LeadStatus
    from l2c.leads.models import Lead

    found = dict(Lead.objects.filter(status__in=[LeadStatus.CONVERTED, LeadStatus.DISQUALIFIED])
                 .values_list("status").annotate(n=Count("id")))
    converted, disqualified = found.get(LeadStatus.CONVERTED, 0), found.get(LeadStatus.DISQUALIFIED, 0)
    return {"converted": converted, "disqualified": disqualified, "outcomes": converted + disqualified,
            "min_outcomes": MIN_OUTCOMES, "min_per_class": MIN_PER_CLASS}


def enough_history(counts: dict) -> bool:
    return (counts["outcomes"] >= MIN_OUTCOMES and counts["converted"] >= MIN_PER_CLASS
            and counts["disqualified"] >= MIN_PER_CLASS)


def not_enough_message(counts: dict) -> str:
    return _("Not enough history to train the model: %(converted)s converted and %(disqualified)s disqualified "
             "leads; it needs at least %(min_outcomes)s outcomes with %(min_per_class)s of each. Until then the "
             "score is the rule score alone.") % counts


def fit(rows):
    """(names, coefficients, intercept, metrics) trained on `rows` with a held-out test split."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    names = feature_names_for(rows)
    x = matrix(rows, names)
    y = np.array([label for *_rest, label in rows])
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=TEST_SHARE, stratify=y, random_state=SEED)
    classifier = LogisticRegression(C=1.0, max_iter=2000)
    classifier.fit(x_train, y_train)
    probabilities = classifier.predict_proba(x_test)[:, 1]
    metrics = {"auc": round(float(roc_auc_score(y_test, probabilities)), 4),
               "train_count": len(y_train), "test_count": len(y_test),
               "test_converted": int(y_test.sum()), "calibration": calibration(y_test.tolist(), probabilities.tolist())}
    return names, [round(float(c), 6) for c in classifier.coef_[0]], float(classifier.intercept_[0]), metrics


@transaction.atomic
def train(*, actor=None, now=None) -> ScoringModel:
    """Train on the outcomes so far. Enough history: a new active model (the previous one superseded).
    Too little: a row saying so, and no active model (scores are rule scores)."""
    if actor is not None:
        services.require_scoring_editor(actor)
    now = now or timezone.now()
    counts = history_counts()
    ScoringModel.objects.filter(status=ModelStatus.ACTIVE).update(status=ModelStatus.SUPERSEDED)
    if not enough_history(counts):
        model = ScoringModel.objects.create(created_by=actor, status=ModelStatus.INSUFFICIENT, metrics=counts)
    else:
        names, coefficients, intercept, metrics = fit(_outcomes(now))
        model = ScoringModel.objects.create(created_by=actor, status=ModelStatus.ACTIVE, metrics={**counts, **metrics},
                                            feature_names=names, coefficients=coefficients, intercept=intercept)
    audit.record(actor=actor, action=audit.Action.CREATE, instance=model, actor_label=None if actor else "nightly training",
                 changes={"status": [None, model.status], "auc": [None, model.metrics.get("auc")]})
    return model
