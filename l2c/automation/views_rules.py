"""Workflow rule pages (/automation/rules/): list, create and edit (trigger, conditions and actions as rows),
the rule's page with its recent runs, the run log of every rule, and each user's notifications. Rules and runs:
admins and managers; others get the 403 page. Thin: parse, call a selector or service, render."""
from __future__ import annotations

import json

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from l2c.core import automation_registry as registry
from l2c.core.errors import DomainError, NotFound
from l2c.core.history import history_rows

from . import rule_selectors as selectors
from . import rule_services as services
from .choices import LIST_OPERATORS, NO_VALUE_OPERATORS, RunStatus, TriggerKind

PAGE_SIZE = 25
EXTRA_ROWS = 2  # empty condition and action rows under the filled ones (save to get more)


def _require_manager(user) -> None:
    if not services.can_manage_rules(user):
        raise DjangoPermissionDenied(_("Only admins and managers may see or change automation rules."))


def _rule_or_404(user, pk):
    _require_manager(user)
    try:
        return selectors.rule_get(user=user, pk=pk)
    except NotFound as exc:
        raise Http404(exc.message) from exc


class RuleForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=services.MAX_NAME)
    record_type = forms.ChoiceField(label=gettext_lazy("Record type"))
    trigger = forms.ChoiceField(label=gettext_lazy("Trigger"), choices=TriggerKind.choices)
    trigger_event = forms.ChoiceField(label=gettext_lazy("Event (for a domain-event trigger)"), required=False)
    trigger_fields = forms.CharField(label=gettext_lazy("Fields (for a field-changed trigger)"), required=False,
                                     help_text=gettext_lazy("Field names, separated by commas."))
    date_field = forms.CharField(label=gettext_lazy("Date field (for a time-based trigger)"), required=False)
    offset_days = forms.IntegerField(label=gettext_lazy("Days after the date (negative: before)"), required=False)
    is_active = forms.BooleanField(label=gettext_lazy("Active"), required=False, initial=True)
    description = forms.CharField(label=gettext_lazy("Description"), required=False,
                                  max_length=services.MAX_DESCRIPTION, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["record_type"].choices = [(name, str(rt.label)) for name, rt in registry.record_types().items()]
        self.fields["trigger_event"].choices = [("", "—"), *[(name, name) for name in selectors.event_names()]]


class ConditionRow(forms.Form):
    field = forms.CharField(label=gettext_lazy("Field"), required=False)
    operator = forms.ChoiceField(label=gettext_lazy("Operator"), required=False)
    value = forms.CharField(label=gettext_lazy("Value"), required=False,
                            help_text=gettext_lazy("For “is one of”: values separated by commas."))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["operator"].choices = [("", "—"), *selectors.operator_choices()]


class ActionRow(forms.Form):
    type = forms.ChoiceField(label=gettext_lazy("Action"), required=False)
    params = forms.CharField(label=gettext_lazy("Parameters (JSON)"), required=False,
                             widget=forms.TextInput(attrs={"placeholder": '{"subject": "Call", "due_in_days": 2}'}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["type"].choices = [("", "—"), *[(name, str(a.label)) for name, a in registry.actions().items()]]


ConditionRows = forms.formset_factory(ConditionRow, extra=EXTRA_ROWS)
ActionRows = forms.formset_factory(ActionRow, extra=EXTRA_ROWS)


def _initial(rule) -> tuple[dict, list[dict], list[dict]]:
    config = rule.trigger_config or {}
    head = {"name": rule.name, "record_type": rule.record_type, "trigger": rule.trigger,
            "trigger_event": config.get("event", ""), "trigger_fields": ", ".join(config.get("fields") or []),
            "date_field": config.get("date_field", ""), "offset_days": config.get("offset_days"),
            "is_active": rule.is_active, "description": rule.description}
    conditions = [{"field": c["field"], "operator": c["operator"],
                   "value": ", ".join(map(str, c["value"])) if isinstance(c.get("value"), list) else
                   ("" if c.get("value") is None else str(c["value"]))} for c in rule.conditions]
    actions = [{"type": a["type"], "params": json.dumps(a.get("params") or {}, ensure_ascii=False)}
               for a in rule.actions]
    return head, conditions, actions


def _values(form, condition_rows, action_rows) -> tuple[dict, list[str]]:
    """The rule as the services take it, and the problems only the form can see (bad JSON)."""
    data = form.cleaned_data
    trigger = data["trigger"]
    config: dict = {}
    if trigger == TriggerKind.EVENT:
        config = {"event": data.get("trigger_event") or ""}
    elif trigger == TriggerKind.FIELD_CHANGED:
        config = {"fields": [f.strip() for f in (data.get("trigger_fields") or "").split(",") if f.strip()]}
    elif trigger == TriggerKind.TIME:
        config = {"date_field": (data.get("date_field") or "").strip(), "offset_days": data.get("offset_days") or 0}
    conditions = []
    for row in condition_rows.cleaned_data:
        if not row or not row.get("field"):
            continue
        operator, raw = row.get("operator"), row.get("value") or ""
        if operator in NO_VALUE_OPERATORS:
            value = None
        elif operator in LIST_OPERATORS:
            value = [part.strip() for part in raw.split(",") if part.strip()]
        else:
            value = raw.strip()
        conditions.append({"field": row["field"].strip(), "operator": operator, "value": value})
    actions, problems = [], []
    for index, row in enumerate(action_rows.cleaned_data):
        if not row or not row.get("type"):
            continue
        try:
            params = json.loads(row.get("params") or "{}")
        except ValueError:
            problems.append(_("Action %(n)d: the parameters are not valid JSON.") % {"n": index + 1})
            continue
        actions.append({"type": row["type"], "params": params})
    return {"name": data["name"], "description": data.get("description") or "", "is_active": data["is_active"],
            "record_type": data["record_type"], "trigger": trigger, "trigger_config": config,
            "conditions": conditions, "actions": actions}, problems


def _form_page(request, rule):
    head, conditions, actions = _initial(rule) if rule else ({}, [], [])
    data = request.POST or None
    adding = request.method == "POST" and ("add_condition" in request.POST or "add_action" in request.POST)
    if adding:  # one more empty row of that kind, nothing saved
        data = request.POST.copy()
        prefix = "conditions" if "add_condition" in request.POST else "actions"
        total = f"{prefix}-TOTAL_FORMS"
        data[total] = str(int(data.get(total) or 0) + 1)
    form = RuleForm(data, initial=head or None)
    # a bound formset gets no initial rows: a row posted unchanged would otherwise count as empty and be lost
    posted = request.method == "POST"
    condition_rows = ConditionRows(data, prefix="conditions", initial=None if posted else conditions)
    action_rows = ActionRows(data, prefix="actions", initial=None if posted else actions)
    if adding:
        return render(request, "automation/rule_form.html", {
            "form": RuleForm(data, initial=head or None), "condition_rows": condition_rows,
            "action_rows": action_rows, "rule": rule, "nav": "automation_rules",
            "catalogue": selectors.record_type_catalogue(user=request.user)})
    if request.method == "POST" and form.is_valid() and condition_rows.is_valid() and action_rows.is_valid():
        values, problems = _values(form, condition_rows, action_rows)
        for problem in problems:
            form.add_error(None, problem)
        if not problems:
            try:
                if rule is None:
                    rule = services.rule_create(actor=request.user, **values)
                else:
                    rule = services.rule_update(actor=request.user, rule=rule, **values)
            except DomainError as exc:
                for error in exc.errors or []:
                    if error.field in form.fields:
                        form.add_error(error.field, error.message)
                    else:
                        form.add_error(None, f"{error.field}: {error.message}")
                if not exc.errors:
                    form.add_error(None, exc.message)
            else:
                messages.success(request, _("Rule %(name)s was saved.") % {"name": rule.name})
                return redirect("automation:rule-detail", pk=rule.pk)
    return render(request, "automation/rule_form.html", {
        "form": form, "condition_rows": condition_rows, "action_rows": action_rows, "rule": rule,
        "catalogue": selectors.record_type_catalogue(user=request.user), "nav": "automation_rules"})


@login_required
@require_GET
def rule_list(request):
    _require_manager(request.user)
    return render(request, "automation/rule_list.html",
                  {"rules": selectors.rule_list(user=request.user), "nav": "automation_rules"})


@login_required
def rule_create(request):
    _require_manager(request.user)
    return _form_page(request, None)


@login_required
def rule_edit(request, pk: int):
    return _form_page(request, _rule_or_404(request.user, pk))


@login_required
@require_GET
def rule_detail(request, pk: int):
    rule = _rule_or_404(request.user, pk)
    page = Paginator(selectors.run_list(user=request.user, rule=rule), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "automation/rule_detail.html", {
        "rule": rule, "page": page, "runs": page.object_list, "events": history_rows(rule),
        "nav": "automation_rules"})


@login_required
@require_POST
def rule_delete(request, pk: int):
    rule = _rule_or_404(request.user, pk)
    services.rule_delete(actor=request.user, rule=rule)
    messages.success(request, _("Rule %(name)s was deleted.") % {"name": rule.name})
    return redirect("automation:rule-list")


@login_required
@require_GET
def run_list(request):
    _require_manager(request.user)
    status = request.GET.get("status") or None
    if status not in RunStatus.values:
        status = None
    page = Paginator(selectors.run_list(user=request.user, status=status), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "automation/run_list.html", {
        "page": page, "runs": page.object_list, "status": status, "statuses": RunStatus.choices,
        "nav": "automation_runs"})


@login_required
@require_GET
def notification_list(request):
    page = Paginator(selectors.notification_list(user=request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "automation/notification_list.html",
                  {"page": page, "notifications": page.object_list, "nav": "notifications"})


@login_required
@require_POST
def notification_read(request, pk: int):
    try:
        notification = services.notification_mark_read(actor=request.user, notification=pk)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    if request.POST.get("open") and notification.link and url_has_allowed_host_and_scheme(
            notification.link, allowed_hosts={request.get_host()}):
        return redirect(notification.link)
    return redirect("automation:notification-list")


@login_required
@require_POST
def notification_read_all(request):
    count = services.notifications_mark_all_read(actor=request.user)
    messages.success(request, _("%(n)d notifications marked read.") % {"n": count})
    return redirect("automation:notification-list")


@login_required
@require_GET
def notification_count(request):
    """The unread badge of the navigation, loaded after the page (so no page pays a query for it)."""
    count = selectors.unread_notification_count(user=request.user)
    return HttpResponse(f'<span class="badge">{count}</span>' if count else "<span></span>")
