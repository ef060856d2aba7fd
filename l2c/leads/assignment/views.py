"""Pages for lead assignment: the unassigned queue, reassigning a lead, and the rules (settings).
Admins and managers only. Thin: parse with a form, call a selector or service, render."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import transaction
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_POST

from l2c.core.errors import DomainError
from l2c.core.errors import PermissionDenied as L2CPermissionDenied
from l2c.core.forms import show_domain_error
from l2c.core.validation import as_id
from l2c.customers.forms import valid_filters
from l2c.customers.views import page_of, visible_or_404
from l2c.identity.models import User

from .. import selectors as lead_selectors
from .. import services as lead_services
from ..choices import LeadStatus
from . import selectors, services
from .forms import AUTO, AssignForm, QueueFilterForm, RuleForm, RuleTestForm


def _require_assigner(user) -> None:
    try:
        selectors.require_assigner(user)
    except L2CPermissionDenied as exc:
        raise DjangoPermissionDenied(exc.message) from exc


def _owner_of(form: AssignForm):
    value = form.cleaned_data["owner"]
    if value in (AUTO, "none"):
        return None
    return User.objects.get(pk=int(value))


def _summarise(request, outcome: dict[int, str]) -> None:
    counts: dict[str, int] = {}
    for result in outcome.values():
        counts[result] = counts.get(result, 0) + 1
    if counts.get("assigned"):
        messages.success(request, ngettext("%(count)d lead assigned.", "%(count)d leads assigned.", counts["assigned"])
                         % {"count": counts["assigned"]})
    if counts.get("no_rule"):
        messages.warning(request, ngettext("No rule matched %(count)d lead; it stays unassigned.",
                                           "No rule matched %(count)d leads; they stay unassigned.", counts["no_rule"])
                         % {"count": counts["no_rule"]})
    skipped = sum(n for key, n in counts.items() if key in ("already_assigned", "converted", "merged"))
    if skipped:
        messages.warning(request, ngettext("%(count)d lead was left alone (already assigned, converted or merged).",
                                           "%(count)d leads were left alone (already assigned, converted or merged).",
                                           skipped) % {"count": skipped})
    if not outcome or set(counts) == {"unchanged"}:
        messages.warning(request, _("Nothing changed."))


# --- the unassigned queue -----------------------------------------------------------------------------

@login_required
@require_http_methods(["GET", "POST"])
def unassigned_queue(request):
    """Open leads without an owner; select some and give them to someone, or to the rules."""
    _require_assigner(request.user)
    filter_form = QueueFilterForm(request.GET or None, user=request.user)
    filters = valid_filters(filter_form)
    if filters.get("campaign") is not None:
        filters["campaign"] = filters["campaign"].pk
    if request.method == "POST":
        ids = [pk for pk in (as_id(v) for v in request.POST.getlist("lead")) if pk is not None]
        form = AssignForm(request.POST, user=request.user, lead_ids=ids)
        if form.is_valid():
            leads, _missing = selectors.leads_for_assignment(user=request.user, ids=form.cleaned_data["lead"])
            try:
                if form.cleaned_data["owner"] == AUTO:
                    outcome = services.leads_auto_assign(leads=leads, actor=request.user)
                else:
                    outcome = lead_services.leads_assign(leads=leads, owner=_owner_of(form), actor=request.user)
            except DomainError as exc:
                messages.error(request, exc.message)
            else:
                _summarise(request, outcome)
                return redirect(request.get_full_path())
        else:
            for errors in form.errors.values():
                for error in errors:
                    messages.error(request, error)
    form = AssignForm(user=request.user)
    page_obj = page_of(request, selectors.unassigned_leads(user=request.user, filters=filters))
    return render(request, "leads/assignment/unassigned.html", {
        "filter_form": filter_form, "form": form, "page_obj": page_obj,
        "rules_count": selectors.rule_list(user=request.user).filter(is_active=True).count(),
    })


@login_required
@require_http_methods(["GET", "POST"])
def lead_reassign(request, pk: int):
    """Give one lead to someone else (or back to the queue, or to the rules)."""
    _require_assigner(request.user)
    lead = visible_or_404(lead_selectors.lead_get, user=request.user, pk=pk)
    if lead.status == LeadStatus.CONVERTED:
        messages.error(request, _("A converted lead can no longer be reassigned."))
        return redirect("leads:lead-detail", pk=lead.pk)
    form = AssignForm(request.POST or None, user=request.user, lead_ids=[lead.pk], allow_unassign=True,
                      initial={"owner": str(lead.owner_id) if lead.owner_id else ""})
    if request.method == "POST" and form.is_valid():
        try:
            if form.cleaned_data["owner"] == AUTO:
                with transaction.atomic():  # the rules place unassigned leads: unassign, then route
                    if lead.owner_id is not None:
                        lead_services.lead_assign(lead=lead, owner=None, actor=request.user)
                    lead = services.lead_auto_assign(lead=lead, actor=request.user)
                if lead.owner_id is None:
                    messages.warning(request, _("No rule matched this lead; it is now in the unassigned queue."))
                else:
                    messages.success(request, _("The rules gave the lead to %(user)s.") % {"user": lead.owner})
            else:
                lead = lead_services.lead_assign(lead=lead, owner=_owner_of(form), actor=request.user)
                messages.success(request, _("Lead assigned to %(user)s.") % {"user": lead.owner} if lead.owner
                                 else _("The lead is back in the unassigned queue."))
        except DomainError as exc:
            show_domain_error(form, exc)
        else:
            # the new owner may be outside the manager's team: then the lead is no longer theirs to see
            if lead_selectors.lead_list(user=request.user).filter(pk=lead.pk).exists():
                return redirect("leads:lead-detail", pk=lead.pk)
            return redirect("leads:assignment-unassigned")
    return render(request, "leads/assignment/reassign.html", {"lead": lead, "form": form})


# --- rules (settings) -------------------------------------------------------------------------------

@login_required
def rule_list(request):
    """The rules in the order they are tried, with up/down buttons and a "test a lead" box."""
    _require_assigner(request.user)
    rules = list(selectors.rule_list(user=request.user))
    for rule in rules:
        rule.can_edit = services.can_manage_rule(request.user, rule)
    test_form = RuleTestForm(request.GET if "test" in request.GET else None, user=request.user)
    decision = None
    if test_form.is_bound and test_form.is_valid():
        data = test_form.cleaned_data
        decision = selectors.rule_preview(user=request.user, values={
            "country": data["country"], "source": data["source"],
            "campaign": data["campaign"].pk if data["campaign"] else None})
    return render(request, "leads/assignment/rule_list.html", {
        "rules": rules, "test_form": test_form, "decision": decision,
    })


@login_required
@require_http_methods(["GET", "POST"])
def rule_create(request):
    _require_assigner(request.user)
    form = RuleForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            rule = services.rule_create(actor=request.user, **form.values())
        except DomainError as exc:
            show_domain_error(form, exc)
        else:
            messages.success(request, _("Rule “%(name)s” created.") % {"name": rule.name})
            return redirect("leads:assignment-rules")
    return render(request, "leads/assignment/rule_form.html", {"form": form, "rule": None})


@login_required
@require_http_methods(["GET", "POST"])
def rule_edit(request, pk: int):
    _require_assigner(request.user)
    rule = visible_or_404(selectors.rule_get, user=request.user, pk=pk)
    if not services.can_manage_rule(request.user, rule):
        raise DjangoPermissionDenied(_("This rule gives leads to another team; only an admin or that team's "
                                       "manager can change it."))
    form = RuleForm(request.POST or None, user=request.user, rule=rule)
    if request.method == "POST" and form.is_valid():
        try:
            services.rule_update(rule=rule, actor=request.user, **form.values())
        except DomainError as exc:
            show_domain_error(form, exc)
        else:
            messages.success(request, _("Rule saved."))
            return redirect("leads:assignment-rules")
    return render(request, "leads/assignment/rule_form.html", {"form": form, "rule": rule})


@login_required
@require_POST
def rule_delete(request, pk: int):
    _require_assigner(request.user)
    rule = visible_or_404(selectors.rule_get, user=request.user, pk=pk)
    try:
        services.rule_delete(rule=rule, actor=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Rule “%(name)s” deleted.") % {"name": rule.name})
    return redirect("leads:assignment-rules")


@login_required
@require_POST
def rule_move(request, pk: int):
    _require_assigner(request.user)
    rule = visible_or_404(selectors.rule_get, user=request.user, pk=pk)
    try:
        services.rule_move(rule=rule, direction=request.POST.get("direction", ""), actor=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect(reverse("leads:assignment-rules") + f"#rule-{rule.pk}")
