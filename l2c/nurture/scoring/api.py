"""API routes of lead scoring: rules (list, create, read, change, delete, re-score all) and the model (state,
train). Reads: every signed-in user; writes and training: managers and admins. Bad input is a 422 naming the
field (points, field, operator, value, touch_kind, cap, half_life_days, kind).
"""
from __future__ import annotations

import datetime as dt

from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate
from pydantic import ConfigDict

from l2c.core.api_types import LimitOffsetPagination

from .. import tasks
from . import model as scoring_model
from . import selectors, services

router = Router(tags=["scoring"])


class StrictSchema(Schema):
    model_config = ConfigDict(extra="forbid")


class RuleIn(StrictSchema):
    name: str = ""
    kind: str = Field(..., description='"fit" or "engagement"')
    field: str = Field("", description="Fit: industry, company_size, country, title, source, campaign, city, utm_*")
    operator: str = Field("", description="Fit: equals, in, contains, gte, lte")
    value: str = Field("", description='Fit: the value; for "in" a comma-separated list')
    touch_kind: str = Field("", description="Engagement: form_submission, email_open, email_click, page_visit, …")
    points: int | str | None = Field(None, description="-100 to 100: fit when it matches; engagement per touch")
    cap: int | str | None = Field(None, description="Engagement: at most this many points (1-100)")
    half_life_days: int | str | None = Field(None, description="Engagement: a touch this old counts half")
    is_active: bool = True


class RulePatch(StrictSchema):
    name: str | None = None
    kind: str | None = None
    field: str | None = None
    operator: str | None = None
    value: str | None = None
    touch_kind: str | None = None
    points: int | str | None = None
    cap: int | str | None = None
    half_life_days: int | str | None = None
    is_active: bool | None = None


class RuleOut(Schema):
    id: int
    name: str
    kind: str
    field: str
    operator: str
    value: str
    touch_kind: str
    points: int
    cap: int | None
    half_life_days: int | None
    is_active: bool
    created_at: dt.datetime
    updated_at: dt.datetime


class ModelOut(Schema):
    status: str = Field(..., description='"active", or "not_enough_history" / "not_trained" (rule score alone)')
    message: str
    counts: dict
    model_id: int | None = None
    trained_at: dt.datetime | None = None
    auc: float | None = None
    test_count: int | None = None
    calibration: list[dict] = []
    features: list[dict] = Field([], description="Each feature's coefficient (log-odds), largest first")


class RescoreOut(Schema):
    scored: int


def _model_out(state: dict) -> dict:
    active = state["active"]
    if active is None:
        return {"status": "not_enough_history" if not state["enough_history"] else "not_trained",
                "message": state["message"], "counts": state["counts"]}
    metrics = active.metrics
    features = sorted(({"name": n, "weight": w} for n, w in zip(active.feature_names, active.coefficients, strict=True)),
                      key=lambda f: -abs(f["weight"]))
    return {"status": "active", "message": "", "counts": state["counts"], "model_id": active.pk,
            "trained_at": active.created_at, "auc": metrics.get("auc"), "test_count": metrics.get("test_count"),
            "calibration": metrics.get("calibration", []), "features": features}


@router.get("/scoring-rules", response=list[RuleOut])
@paginate(LimitOffsetPagination)
def list_rules(request, kind: str = ""):
    return selectors.rule_list(user=request.auth, kind=kind)


@router.post("/scoring-rules", response={201: RuleOut})
def create_rule(request, data: RuleIn):
    rule = services.rule_create(actor=request.auth, **data.model_dump())
    return Status(201, rule)


@router.post("/scoring-rules/rescore", response=RescoreOut)
def rescore(request):
    """Re-score every lead now (managers and admins); the nightly job does the same."""
    services.require_scoring_editor(request.auth)
    return {"scored": services.rescore_all()}


@router.get("/scoring-rules/{int:rule_id}", response=RuleOut)
def get_rule(request, rule_id: int):
    return selectors.rule_get(user=request.auth, pk=rule_id)


@router.patch("/scoring-rules/{int:rule_id}", response=RuleOut)
def update_rule(request, rule_id: int, data: RulePatch):
    services.require_scoring_editor(request.auth)
    rule = selectors.rule_get(user=request.auth, pk=rule_id)
    return services.rule_update(actor=request.auth, rule=rule, **data.model_dump(exclude_unset=True))


@router.delete("/scoring-rules/{int:rule_id}", response={204: None})
def delete_rule(request, rule_id: int):
    services.require_scoring_editor(request.auth)
    rule = selectors.rule_get(user=request.auth, pk=rule_id)
    services.rule_delete(actor=request.auth, rule=rule)
    return Status(204, None)


@router.get("/scoring-model", response=ModelOut)
def get_model(request):
    return _model_out(selectors.model_state(user=request.auth))


@router.post("/scoring-model/train", response=ModelOut)
def train_model(request):
    """Train now (managers and admins); the leads are re-scored in the background afterwards."""
    from django.db import transaction

    scoring_model.train(actor=request.auth)
    transaction.on_commit(lambda: tasks.rescore_all_leads.delay())
    return _model_out(selectors.model_state(user=request.auth))
