"""Pipeline UI: opportunities, the Kanban board, activities, lead conversion, stage settings.

Views are thin: parse a form, call the service, show `DomainError.errors` beside the fields.
"""
from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from l2c.core import exports
from l2c.core.errors import DomainError, PermissionDenied, ValidationFailed
from l2c.core.history import history_rows
from l2c.core.paging import capped_page

from . import selectors, services
from .choices import STAGE_REQUIRABLE_FIELDS, ActivityKind, ForecastCategory
from .exports import ACTIVITY_COLUMNS, OPPORTUNITY_COLUMNS, OPPORTUNITY_RELATED
from .forms import ActivityEditForm, ActivityForm, ConvertForm, OpportunityForm, StageForm, apply_errors
from .models import Activity, Opportunity

ACTIVITY_TARGETS = ("lead", "account", "contact", "opportunity")


def _page(request, qs):
    return Paginator(qs, settings.L2C_PAGE_SIZE).get_page(request.GET.get("page"))


def _require_sales_ui(request):
    if not request.user.is_sales:
        raise Http404(_("The pipeline is for sales users."))


def _safe_next(request, fallback: str) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or request.headers.get("Referer") or ""
    if candidate and url_has_allowed_host_and_scheme(candidate, allowed_hosts={request.get_host()},
                                                    require_https=request.is_secure()):
        return candidate
    return fallback


# --- opportunities ----------------------------------------------------------------------------------

def _opportunity_filters(request) -> dict:
    """The list page's search and filters from the query string (shared by list and export)."""
    return {k: request.GET.get(k) or None for k in ("q", "stage", "owner", "account", "forecast_category",
                                                    "status", "close_before", "close_after")}


@login_required
@require_GET
def opportunity_list(request):
    _require_sales_ui(request)
    filters = _opportunity_filters(request)
    error = None
    try:
        qs = selectors.opportunity_list(user=request.user, ordering=request.GET.get("ordering") or None, **filters)
        # 200,000 deals: count at most 10,000 (shown as "more than 10,000"), read a page's ids first
        page = capped_page(request, qs, ids_first=True)
    except ValidationFailed as exc:
        error = exc.message
        page = capped_page(request, Opportunity.objects.none())
    return render(request, "pipeline/opportunity_list.html", {
        "page_obj": page, "ordering": request.GET.get("ordering", ""), "filters": filters, "error": error,
        "stages": selectors.stage_list(), "owners": selectors.assignable_owners(user=request.user),
        "forecast_categories": ForecastCategory.choices,
    })


@login_required
@require_http_methods(["GET", "POST"])
def opportunity_create(request):
    _require_sales_ui(request)
    initial = {k: request.GET[k] for k in ("account", "contact") if request.GET.get(k, "").isdigit()}
    form = OpportunityForm(request.POST or None, user=request.user, initial=initial)
    if request.method == "POST" and form.is_valid():
        values = form.service_values()
        try:
            opportunity = services.opportunity_create(actor=request.user, **values)
        except DomainError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("Opportunity created."))
            return redirect("pipeline:opportunity-detail", pk=opportunity.pk)
    return render(request, "pipeline/opportunity_form.html", {"form": form, "opportunity": None})


@login_required
@require_http_methods(["GET", "POST"])
def opportunity_edit(request, pk):
    _require_sales_ui(request)
    opportunity = selectors.opportunity_get(user=request.user, pk=pk)
    initial = {f: getattr(opportunity, f) for f in ("name", "amount", "currency", "expected_close_date", "probability",
                                                    "forecast_category", "next_step", "budget", "authority",
                                                    "need", "timeline", "competitor", "lost_reason", "description")}
    initial.update(account=opportunity.account_id, contact=opportunity.contact_id, owner=opportunity.owner_id)
    form = OpportunityForm(request.POST or None, user=request.user, opportunity=opportunity, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.opportunity_update(opportunity=opportunity, actor=request.user, **form.service_values())
        except DomainError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("Opportunity saved."))
            return redirect("pipeline:opportunity-detail", pk=opportunity.pk)
    return render(request, "pipeline/opportunity_form.html", {"form": form, "opportunity": opportunity})


STAGE_HISTORY_SHOWN = 50


def _detail_context(request, opportunity, **extra) -> dict:
    # A deal moved back and forth for years has hundreds of stays: show the latest ones unless asked.
    history = selectors.stage_history(opportunity=opportunity)
    history_more = False
    if request.GET.get("history") != "all":
        latest = list(history.reverse()[:STAGE_HISTORY_SHOWN + 1])
        history_more = len(latest) > STAGE_HISTORY_SHOWN
        history = latest[:STAGE_HISTORY_SHOWN][::-1]
    return {
        "opportunity": opportunity,
        "progress": selectors.stage_progress(opportunity=opportunity),
        "stages": selectors.stage_list(active_only=True),
        "stage_history": list(history),
        "stage_history_more": history_more,
        "stage_history_shown": STAGE_HISTORY_SHOWN,
        "audit_events": history_rows(opportunity, limit=50),
        **extra,
    }


@login_required
@require_GET
def opportunity_detail(request, pk):
    _require_sales_ui(request)
    opportunity = selectors.opportunity_get(user=request.user, pk=pk)
    return render(request, "pipeline/opportunity_detail.html", _detail_context(request, opportunity))


def missing_inputs(opportunity: Opportunity, errors, posted=None) -> list[dict]:
    """Inputs for the fields a stage still needs, for the small inline form on a card or the detail page."""
    posted = posted or {}
    inputs = []
    for error in errors:
        if error.field not in STAGE_REQUIRABLE_FIELDS:
            continue
        field = Opportunity._meta.get_field(error.field)
        item = {"name": error.field, "label": field.verbose_name.capitalize(), "message": error.message,
                "value": posted.get(error.field, ""), "type": "text", "max_length": getattr(field, "max_length", None)}
        if error.field == "amount":
            item["type"] = "number"
        elif error.field == "expected_close_date":
            item["type"] = "date"
        elif error.field == "contact":
            from l2c.customers.models import Contact

            item["type"] = "select"
            item["choices"] = [(c.pk, c.full_name) for c in Contact.objects.filter(account_id=opportunity.account_id)
                               .order_by("last_name", "first_name")[:200]]
        inputs.append(item)
    return inputs


def _move_fields_from_post(post) -> dict:
    fields = {}
    for name in STAGE_REQUIRABLE_FIELDS:
        if name in post:
            value = post.get(name, "").strip()
            if value != "":
                fields[name] = value
    return fields


@login_required
@require_POST
def opportunity_move(request, pk):
    """The stage buttons on the detail page (works without JavaScript)."""
    _require_sales_ui(request)
    opportunity = selectors.opportunity_get(user=request.user, pk=pk)
    stage_id = request.POST.get("stage", "")
    fields = _move_fields_from_post(request.POST)
    try:
        moved = services.opportunity_move(opportunity=opportunity, stage=stage_id, actor=request.user, fields=fields)
    except DomainError as exc:
        target = selectors.stage_list().filter(pk=stage_id).first() if stage_id.isdigit() else None
        context = _detail_context(request, selectors.opportunity_get(user=request.user, pk=pk),
                                  move_error=exc, move_target=target,
                                  move_inputs=missing_inputs(opportunity, exc.errors, request.POST))
        return render(request, "pipeline/opportunity_detail.html", context, status=exc.status)
    messages.success(request, _("Moved to %(stage)s.") % {"stage": moved.stage.name})
    return redirect("pipeline:opportunity-detail", pk=pk)


@login_required
@require_GET
def opportunity_panel(request):
    """HTML fragment for an account page: its opportunities and a link to add one.

    Any signed-in user may load it (finance sees account pages); it lists only what they may see."""
    account_id = request.GET.get("account", "")
    if not account_id.isdigit():
        raise Http404(_("Give ?account=ID."))
    from l2c.customers.models import Account

    account = get_object_or_404(Account.objects.restrict(request.user), pk=account_id)
    opportunities = selectors.opportunity_list(user=request.user, account=account.pk, ordering="-created_at")[:50]
    return render(request, "pipeline/_opportunity_panel.html", {"account": account, "opportunities": opportunities})


# --- board ------------------------------------------------------------------------------------------

def _board_owner(request):
    owner = request.GET.get("owner") or request.POST.get("owner") or ""
    return owner if owner.isdigit() else None


@login_required
@require_GET
def board(request):
    _require_sales_ui(request)
    owner = _board_owner(request)
    columns = selectors.board(user=request.user, owner=owner, q=request.GET.get("q"))
    return render(request, "pipeline/board.html", {
        "columns": columns, "owner": owner, "q": request.GET.get("q", ""),
        "owners": selectors.assignable_owners(user=request.user) if request.user.is_admin or request.user.is_manager
        else None,
        "closed_days": selectors.BOARD_CLOSED_DAYS,
    })


@login_required
@require_POST
def board_move(request):
    """Drag and drop: move a card. Answers the card (and the two column heads) for HTMX; on a
    requirement error, the card in its old column with the error and a small form to fill in."""
    _require_sales_ui(request)
    opportunity_id = request.POST.get("opportunity", "")
    stage_id = request.POST.get("stage", "")
    owner = _board_owner(request)
    if not opportunity_id.isdigit():
        raise Http404(_("No such opportunity."))
    opportunity = selectors.opportunity_get(user=request.user, pk=opportunity_id)
    from_stage = opportunity.stage
    fields = _move_fields_from_post(request.POST)
    try:
        moved = services.opportunity_move(opportunity=opportunity, stage=stage_id, actor=request.user, fields=fields)
    except DomainError as exc:
        if not request.htmx:
            messages.error(request, exc.message)
            return redirect(reverse("pipeline:board") + (f"?owner={owner}" if owner else ""))
        target = selectors.stage_list().filter(pk=stage_id).first() if stage_id.isdigit() else None
        card = selectors.opportunity_get(user=request.user, pk=opportunity.pk)
        return render(request, "pipeline/_card.html", {
            "opp": card, "error": exc, "target": target, "owner": owner,
            "inputs": missing_inputs(card, exc.errors, request.POST),
        }, status=exc.status)
    if not request.htmx:
        messages.success(request, _("%(name)s moved to %(stage)s.") % {"name": moved.name, "stage": moved.stage.name})
        return redirect(reverse("pipeline:board") + (f"?owner={owner}" if owner else ""))
    columns = {c.stage.pk: c for c in selectors.board(user=request.user, owner=owner)}
    heads = [columns[pk] for pk in dict.fromkeys([from_stage.pk, moved.stage_id]) if pk in columns]
    card = selectors.opportunity_get(user=request.user, pk=opportunity.pk)
    return render(request, "pipeline/_card_moved.html", {"opp": card, "heads": heads, "owner": owner})


# --- lead conversion --------------------------------------------------------------------------------

@login_required
@require_http_methods(["GET", "POST"])
def lead_convert(request, pk):
    _require_sales_ui(request)
    from l2c.leads.choices import LeadStatus
    from l2c.leads.models import Lead

    lead = get_object_or_404(Lead.objects.restrict(request.user).select_related("campaign", "owner"), pk=pk)
    matches = services.matching_accounts(lead=lead, user=request.user)
    initial = {"opportunity_name": lead.company or lead.full_name, "create_account_name": lead.company or lead.full_name,
               "account_choice": str(matches[0].pk) if matches else "new", "create_opportunity": True}
    form = ConvertForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        choice = data["account_choice"] or "new"
        try:
            result = services.lead_convert(
                lead=lead, actor=request.user,
                account=int(choice) if choice.isdigit() else None,
                create_account_name=(data["create_account_name"] or lead.company or lead.full_name)
                if not choice.isdigit() else None,
                opportunity_name=data["opportunity_name"], amount=data["amount"], currency=data["currency"],
                expected_close_date=data["expected_close_date"], create_opportunity=data["create_opportunity"],
            )
        except DomainError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("Lead converted."))
            if result.opportunity is not None:
                return redirect("pipeline:opportunity-detail", pk=result.opportunity.pk)
            return redirect(f"/accounts/{result.account.pk}/")
    return render(request, "pipeline/lead_convert.html", {
        "lead": lead, "form": form, "matches": matches, "can_convert": lead.status == LeadStatus.QUALIFIED,
        "choice": form["account_choice"].value() or initial["account_choice"],
    })


# --- activities -------------------------------------------------------------------------------------

def _activity_filters(request) -> tuple[dict, str]:
    """The list page's filters (open ones, mine, by default) and the owner choice as given."""
    filters = {
        "kind": request.GET.get("kind") or None,
        "status": request.GET.get("status", "open") or None,
        "due": request.GET.get("due") or None,
        "q": request.GET.get("q") or None,
        **{f: request.GET.get(f) or None for f in ACTIVITY_TARGETS},
    }
    owner = request.GET.get("owner", "me")
    filters["owner"] = request.user.pk if owner == "me" else (owner or None)
    return filters, owner


@login_required
@require_GET
def activity_list(request):
    _require_sales_ui(request)
    filters, owner = _activity_filters(request)
    error = None
    try:
        qs = selectors.activity_list(user=request.user, ordering=request.GET.get("ordering") or None, **filters)
        page = _page(request, qs)
    except ValidationFailed as exc:
        error = exc.message
        page = _page(request, Activity.objects.none())
    return render(request, "pipeline/activity_list.html", {
        "page_obj": page, "ordering": request.GET.get("ordering", ""), "filters": filters, "owner": owner,
        "error": error, "kinds": ActivityKind.choices, "owners": selectors.assignable_owners(user=request.user),
        "record_filters": [(f, filters[f]) for f in ACTIVITY_TARGETS if filters[f]],
    })


def _panel_target(request):
    """(field, record) from ?lead=ID|account=ID|contact=ID|opportunity=ID; the record must be visible."""
    from django.apps import apps

    labels = {"lead": "leads.Lead", "account": "customers.Account", "contact": "customers.Contact",
              "opportunity": "pipeline.Opportunity"}
    for field in ACTIVITY_TARGETS:
        value = request.GET.get(field) or request.POST.get(f"target_{field}")
        if value:
            if not str(value).isdigit():
                raise Http404
            model = apps.get_model(labels[field])
            return field, get_object_or_404(model.objects.restrict(request.user), pk=value)
    raise Http404(_("Give one of ?lead=, ?account=, ?contact=, ?opportunity=."))


def _render_panel(request, field, record, form=None, status=200):
    activities = selectors.activities_for(user=request.user, target=field, pk=record.pk,
                                          limit=selectors.ACTIVITIES_SHOWN)
    return render(request, "pipeline/_activity_panel.html", {
        "field": field, "record": record, "activities": activities,
        "form": form or ActivityForm(), "panel_query": f"{field}={record.pk}",
    }, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def activity_panel(request):
    """HTML fragment for a record's page: its activities, a quick-add form and complete buttons.

    Any signed-in user who may see the record may read it (finance sees account pages); adding
    and completing are for the sales roles."""
    field, record = _panel_target(request)
    if request.method == "GET":
        return _render_panel(request, field, record)
    _require_sales_ui(request)
    form = ActivityForm(request.POST)
    if form.is_valid():
        try:
            services.activity_create(actor=request.user, **{field: record}, **form.cleaned_data)
        except DomainError as exc:
            apply_errors(form, exc)
        else:
            if not request.htmx:
                messages.success(request, _("Activity added."))
                return redirect(_safe_next(request, "/activities/"))
            return _render_panel(request, field, record)
    if not request.htmx:
        messages.error(request, "; ".join(str(e) for errs in form.errors.values() for e in errs))
        return redirect(_safe_next(request, "/activities/"))
    return _render_panel(request, field, record, form=form, status=422)


def _activity_action(request, pk, action):
    _require_sales_ui(request)
    activity = selectors.activity_get(user=request.user, pk=pk)
    try:
        action(activity=activity, actor=request.user)
    except DomainError as exc:
        if not request.htmx:
            messages.error(request, exc.message)
    if request.htmx:
        field = next((f for f in ACTIVITY_TARGETS if request.GET.get(f)), None)
        if field:
            field, record = _panel_target(request)
            return _render_panel(request, field, record)
        activity = selectors.activity_get(user=request.user, pk=pk)
        return render(request, "pipeline/_activity_row.html", {"activity": activity})
    return redirect(_safe_next(request, "/activities/"))


@login_required
@require_POST
def activity_complete(request, pk):
    return _activity_action(request, pk, services.activity_complete)


@login_required
@require_POST
def activity_reopen(request, pk):
    return _activity_action(request, pk, services.activity_reopen)


@login_required
@require_http_methods(["GET", "POST"])
def activity_edit(request, pk):
    _require_sales_ui(request)
    activity = selectors.activity_get(user=request.user, pk=pk)
    initial = {"kind": activity.kind, "subject": activity.subject, "body": activity.body, "due_at": activity.due_at,
               "owner": activity.owner_id}
    form = ActivityEditForm(request.POST or None, user=request.user, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.activity_update(activity=activity, actor=request.user, **form.cleaned_data)
        except DomainError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("Activity saved."))
            return redirect(_safe_next(request, "/activities/") if request.POST.get("next") else "/activities/")
    return render(request, "pipeline/activity_form.html", {"form": form, "activity": activity,
                                                           "history": history_rows(activity, limit=30)})


# --- stage settings ---------------------------------------------------------------------------------

def _require_admin_ui(request):
    if not request.user.is_admin:
        raise Http404(_("Stage settings are for admins."))


@login_required
@require_http_methods(["GET", "POST"])
def stage_settings(request):
    _require_admin_ui(request)
    if request.method == "POST":
        stage = get_object_or_404(selectors.stage_list(), pk=request.POST.get("stage", "0") or 0)
        try:
            services.stage_move(stage=stage, actor=request.user, direction=request.POST.get("direction", "up"))
        except DomainError as exc:
            messages.error(request, exc.message)
        return redirect("pipeline:stage-settings")
    stages = selectors.stage_list()
    from django.db.models import Count, Q

    stages = stages.annotate(open_count=Count("opportunities", filter=Q(opportunities__closed_at__isnull=True)))
    return render(request, "pipeline/stage_list.html", {"stages": stages})


@login_required
@require_http_methods(["GET", "POST"])
def stage_edit(request, pk=None):
    _require_admin_ui(request)
    stage = selectors.stage_get(pk=pk) if pk else None
    initial = {"is_active": True, "outcome": "open"}
    if stage:
        initial = {"name": stage.name, "probability": stage.probability, "expected_days": stage.expected_days,
                   "outcome": "won" if stage.is_won else "lost" if stage.is_lost else "open",
                   "required_fields": stage.required_fields, "is_active": stage.is_active}
    form = StageForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            if stage:
                services.stage_update(stage=stage, actor=request.user, **form.service_values())
            else:
                services.stage_create(actor=request.user, **form.service_values())
        except PermissionDenied as exc:
            raise Http404(exc.message) from exc
        except DomainError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("Stage saved."))
            return redirect("pipeline:stage-settings")
    return render(request, "pipeline/stage_form.html", {"form": form, "stage": stage,
                                                        "history": history_rows(stage, limit=30) if stage else []})


# --- exports ----------------------------------------------------------------------------------------

@login_required
@require_GET
def opportunity_export(request):
    """The opportunity list as CSV or Excel (?format=csv|xlsx): exactly its search, filters and ordering."""
    _require_sales_ui(request)

    def build():
        filters = _opportunity_filters(request)
        ordering = request.GET.get("ordering") or None
        qs = selectors.opportunity_list(user=request.user, ordering=ordering, **filters)
        return qs.select_related(*OPPORTUNITY_RELATED), {**filters, "ordering": ordering}

    return exports.ui_export(request, build, columns=OPPORTUNITY_COLUMNS, stem="opportunities",
                             object_type="pipeline.opportunity", sheet_title=_("Opportunities"),
                             back_url=reverse("pipeline:opportunity-list"))


@login_required
@require_GET
def activity_export(request):
    """The activity list as CSV or Excel (?format=csv|xlsx): exactly its filters and ordering."""
    _require_sales_ui(request)

    def build():
        filters, _owner = _activity_filters(request)
        ordering = request.GET.get("ordering") or None
        qs = selectors.activity_list(user=request.user, ordering=ordering, **filters)
        return qs, {**filters, "ordering": ordering}

    return exports.ui_export(request, build, columns=ACTIVITY_COLUMNS, stem="activities",
                             object_type="pipeline.activity", sheet_title=_("Activities"),
                             back_url=reverse("pipeline:activity-list"))
