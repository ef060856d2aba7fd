"""Scoring reads: rules, the model's state (the active model, or why there is none) and a lead's score."""
from __future__ import annotations

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from l2c.core.errors import NotFound, PermissionDenied

from ..choices import ModelStatus
from ..models import LeadScore, ScoringModel, ScoringRule
from . import engine
from .model import enough_history, history_counts, not_enough_message
from .services import can_view


def _require_view(user) -> None:
    if not can_view(user):
        raise PermissionDenied(_("Sign in to see lead scoring."))


def rule_list(*, user, kind: str = "") -> QuerySet[ScoringRule]:
    _require_view(user)
    qs = ScoringRule.objects.all()
    if kind:
        qs = qs.filter(kind=kind)
    return qs.order_by("kind", "id")


def rule_get(*, user, pk) -> ScoringRule:
    found = rule_list(user=user).filter(pk=pk).first()
    if found is None:
        raise NotFound(_("No scoring rule with id %(id)s.") % {"id": pk})
    return found


def model_state(*, user) -> dict:
    """The active model's metrics, or "not enough history" with the counts, and the latest training."""
    _require_view(user)
    active = ScoringModel.objects.filter(status=ModelStatus.ACTIVE).order_by("-created_at", "-id").first()
    latest = ScoringModel.objects.order_by("-created_at", "-id").first()
    counts = history_counts()
    state = {"active": active, "latest": latest, "counts": counts, "enough_history": enough_history(counts),
             "message": ""}
    if active is None:
        state["message"] = (not_enough_message(counts) if not enough_history(counts) else
                            _("No model is trained yet: the score is the rule score alone. Train one now or "
                              "wait for the nightly training."))
    return state


def lead_score(*, lead) -> LeadScore | None:
    """The lead's score detail (the lead was checked visible by the caller), factors worded in the active
    language."""
    found = LeadScore.objects.filter(lead_id=getattr(lead, "pk", lead)).first()
    if found is not None:
        found.worded = engine.with_text(found.factors)
        found.rule_factors = [f for f in found.worded if "rule" in f]
        found.up = [f for f in found.worded if f.get("weight", 0) > 0]
        found.down = [f for f in found.worded if f.get("weight", 0) < 0]
    return found
