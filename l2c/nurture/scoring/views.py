"""Scoring pages: /nurture/scoring/rules/ (list and form; managers and admins edit, everyone else reads) and
/nurture/scoring/model/ (AUC, calibration, the strongest features, a Train button). Thin like the API."""
from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from l2c.core.errors import DomainError, NotFound
from l2c.core.forms import show_domain_error

from .. import tasks
from ..choices import RuleKind, RuleOperator
from . import engine, selectors, services
from . import model as scoring_model


class RuleForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), required=False, max_length=services.MAX_NAME)
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=RuleKind.choices)
    field = forms.ChoiceField(label=gettext_lazy("Lead field"), required=False,
                              help_text=gettext_lazy("Fit rules: the lead field to test."))
    operator = forms.ChoiceField(label=gettext_lazy("Operator"), required=False,
                                 choices=[("", "—"), *RuleOperator.choices])
    value = forms.CharField(label=gettext_lazy("Value"), required=False, max_length=services.MAX_VALUE,
                            help_text=gettext_lazy("For “is one of”, separate the values with commas."))
    touch_kind = forms.CharField(label=gettext_lazy("Touch kind"), required=False, max_length=40,
                                 help_text=gettext_lazy("Engagement rules: e.g. form_submission, email_open, "
                                                        "email_click, page_visit."))
    points = forms.IntegerField(label=gettext_lazy("Points"), min_value=-100, max_value=100,
                                help_text=gettext_lazy("Fit: when it matches. Engagement: per touch."))
    cap = forms.IntegerField(label=gettext_lazy("Cap"), required=False, min_value=1, max_value=100,
                             help_text=gettext_lazy("Engagement: at most this many points."))
    half_life_days = forms.IntegerField(label=gettext_lazy("Half-life in days"), required=False, min_value=1,
                                        max_value=3650,
                                        help_text=gettext_lazy("Engagement: a touch this old counts half. "
                                                               "Empty: no decay."))
    is_active = forms.BooleanField(label=gettext_lazy("Active"), required=False, initial=True)

    def __init__(self, *args, disabled=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["field"].choices = [("", "—")] + [(name, engine.field_label(name)) for name in engine.FIT_FIELDS]
        if disabled:
            for form_field in self.fields.values():
                form_field.disabled = True


def _rule_or_404(user, pk):
    try:
        return selectors.rule_get(user=user, pk=pk)
    except NotFound as exc:
        raise Http404(exc.message) from exc


def _require_editor(user):
    if not services.can_edit_scoring(user):
        raise DjangoPermissionDenied(_("Only a manager or an admin may change scoring rules or train the model."))


def _rules_page(request, form, rule=None, status=200):
    rules = list(selectors.rule_list(user=request.user))
    for item in rules:
        item.describe = _describe(item)
    return render(request, "nurture/scoring_rules.html", {
        "rules": rules, "form": form, "rule": rule, "can_edit": services.can_edit_scoring(request.user),
        "nav": "nurture"}, status=status)


def _describe(rule) -> str:
    if rule.kind == RuleKind.FIT:
        return engine.factor_reason({"rule": rule.pk, "field": rule.field, "op": rule.operator, "value": rule.value})
    words = _("each %(kind)s") % {"kind": engine.touch_label(rule.touch_kind)}
    if rule.half_life_days:
        words += " · " + _("half-life %(days)s days") % {"days": rule.half_life_days}
    if rule.cap:
        words += " · " + _("at most %(cap)s points") % {"cap": rule.cap}
    return words


def _save(request, form, rule):
    if not form.is_valid():
        return None
    values = dict(form.cleaned_data)
    try:
        if rule is None:
            saved = services.rule_create(actor=request.user, **values)
        else:
            saved = services.rule_update(actor=request.user, rule=rule, **values)
    except DomainError as exc:
        show_domain_error(form, exc)
        return None
    messages.success(request, _("The scoring rule was saved; leads are being re-scored."))
    return saved


@login_required
@require_http_methods(["GET", "POST"])
def rule_list(request):
    if request.method == "GET":
        return _rules_page(request, RuleForm(disabled=not services.can_edit_scoring(request.user)))
    _require_editor(request.user)
    form = RuleForm(request.POST)
    if _save(request, form, None) is not None:
        return redirect("nurture:scoring-rules")
    return _rules_page(request, form, status=422)


@login_required
@require_http_methods(["GET", "POST"])
def rule_edit(request, pk: int):
    rule = _rule_or_404(request.user, pk)
    can_edit = services.can_edit_scoring(request.user)
    if request.method == "GET":
        initial = {name: getattr(rule, name) for name in services.RULE_FIELDS}
        return _rules_page(request, RuleForm(initial=initial, disabled=not can_edit), rule=rule)
    _require_editor(request.user)
    form = RuleForm(request.POST)
    if _save(request, form, rule) is not None:
        return redirect("nurture:scoring-rules")
    return _rules_page(request, form, rule=rule, status=422)


@login_required
@require_POST
def rule_delete(request, pk: int):
    rule = _rule_or_404(request.user, pk)
    _require_editor(request.user)
    services.rule_delete(actor=request.user, rule=rule)
    messages.success(request, _("The scoring rule was deleted; leads are being re-scored."))
    return redirect("nurture:scoring-rules")


@login_required
@require_http_methods(["GET", "POST"])
def model_page(request):
    if request.method == "POST":
        _require_editor(request.user)
        trained = scoring_model.train(actor=request.user)
        transaction.on_commit(lambda: tasks.rescore_all_leads.delay())
        if trained.status == "active":
            messages.success(request, _("The model was trained (AUC %(auc)s); leads are being re-scored.")
                             % {"auc": trained.metrics.get("auc")})
        else:
            messages.warning(request, scoring_model.not_enough_message(trained.metrics))
        return redirect("nurture:scoring-model")
    state = selectors.model_state(user=request.user)
    active = state["active"]
    features = []
    if active is not None:
        for name, weight in sorted(zip(active.feature_names, active.coefficients, strict=True), key=lambda p: -abs(p[1]))[:15]:
            features.append({"name": _feature_words(name), "weight": weight})
    return render(request, "nurture/scoring_model.html", {
        **state, "features": features, "can_edit": services.can_edit_scoring(request.user), "nav": "nurture",
        "metrics": active.metrics if active else {}})


def _feature_words(name: str) -> str:
    kind, _sep, rest = name.partition(":")
    if kind == "field":
        field, _sep, value = rest.partition("=")
        if value == "*other*":
            return engine.factor_reason({"feature": field, "value": "", "other": True})
        return engine.factor_reason({"feature": field, "value": value})
    if kind == "touches":
        return _("Each %(kind)s (log scale)") % {"kind": engine.touch_label(rest)}
    return _("Rule score")
