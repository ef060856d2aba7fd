"""Pages for leads and campaigns. Thin: parse with a form, call a selector or service, render."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from l2c.core import exports
from l2c.core.errors import DomainError
from l2c.core.forms import show_domain_error
from l2c.core.history import history_rows
from l2c.core.paging import capped_page
from l2c.customers.forms import valid_filters
from l2c.customers.views import list_page, page_of, visible_or_404

from . import selectors, services
from .choices import LeadStatus, allowed_status_changes, can_convert
from .exports import LEAD_COLUMNS
from .forms import CampaignFilterForm, CampaignForm, LeadFilterForm, LeadForm, StatusForm


def require_sales(user) -> None:
    if not user.is_sales:
        raise DjangoPermissionDenied(_("Your role does not work with leads."))


# --- leads ----------------------------------------------------------------------------------------

def _lead_query(request):
    """The list page's search, filters and ordering from the query string (shared by list and export)."""
    form = LeadFilterForm(request.GET or None, user=request.user)
    filters = valid_filters(form)
    q, ordering = filters.pop("q", ""), filters.pop("ordering", "") or "-created_at"
    if filters.get("campaign") is not None:
        filters["campaign"] = filters["campaign"].pk
    return form, q, filters, ordering


@login_required
def lead_list(request):
    require_sales(request.user)
    form, q, filters, ordering = _lead_query(request)
    qs = selectors.lead_list(user=request.user, q=q, filters=filters, ordering=ordering)
    # a million leads: count at most 10,000 (shown as "10,000+") and read a page's ids first
    context = {"form": form, "page_obj": capped_page(request, qs, ids_first=True), "ordering": ordering, "q": q,
               "statuses": LeadStatus.choices, "current_status": filters.get("status", "")}
    return list_page(request, template="leads/lead_list.html", partial="leads/_lead_table.html", context=context)


@login_required
def lead_board(request):
    """The lead board: a column per open status, hottest leads (score) first; drag a card to change its status."""
    require_sales(request.user)
    form, q, filters, _ordering = _lead_query(request)
    return render(request, "leads/board.html", {
        "form": form, "q": q, "columns": selectors.lead_board(user=request.user, filters=filters, q=q),
        "per_column": selectors.BOARD_CARDS_PER_COLUMN,
    })


@login_required
@require_POST
def lead_board_move(request):
    """Drag and drop on the board: change the lead's status through the same service as its page. Answers the
    card (200) or the error in words (4xx) for the board's script; without the script, back to the board."""
    require_sales(request.user)
    lead = visible_or_404(selectors.lead_get, user=request.user, pk=request.POST.get("lead", ""))
    try:
        lead = services.lead_change_status(lead=lead, status=request.POST.get("status", ""),
                                           reason=request.POST.get("reason", ""), actor=request.user)
    except DomainError as exc:
        if request.htmx:
            return HttpResponse(exc.message, status=exc.status, content_type="text/plain; charset=utf-8")
        messages.error(request, exc.message)
    else:
        if request.htmx:
            return render(request, "leads/_board_card.html", {"lead": selectors.lead_get(user=request.user,
                                                                                           pk=lead.pk)})
        messages.success(request, _("Status changed to %(status)s.") % {"status": lead.get_status_display()})
    return redirect("leads:lead-board")


@login_required
@require_GET
def lead_export(request):
    """The list as CSV or Excel (?format=csv|xlsx): exactly its search, filters and ordering."""
    require_sales(request.user)

    def build():
        form, q, filters, ordering = _lead_query(request)
        exports.refuse_invalid_filters(form)
        qs = selectors.lead_list(user=request.user, q=q, filters=filters, ordering=ordering)
        return qs, {"q": q, **filters, "ordering": ordering}

    return exports.ui_export(request, build, columns=LEAD_COLUMNS, stem="leads", object_type="leads.lead",
                             sheet_title=_("Leads"), back_url=reverse("leads:lead-list"))


@login_required
@require_http_methods(["GET", "POST"])
def lead_create(request):
    require_sales(request.user)
    form = LeadForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            values = dict(form.cleaned_data)
            if values.pop("auto_assign", False):
                from .assignment.services import lead_create_auto_assigned

                values.pop("owner", None)
                lead = lead_create_auto_assigned(actor=request.user, **values)
            else:
                lead = services.lead_create(actor=request.user, **values)
        except DomainError as exc:
            show_domain_error(form, exc)
        else:
            messages.success(request, _("Lead “%(name)s” created.") % {"name": lead.full_name})
            return redirect("leads:lead-detail", pk=lead.pk)
    return render(request, "leads/lead_form.html", {"form": form, "lead": None})


@login_required
def lead_detail(request, pk: int):
    from .dedupe import selectors as dedupe_selectors

    survivor_id = dedupe_selectors.merged_survivor_id(user=request.user, pk=pk)
    if survivor_id is not None:
        messages.info(request, _("Lead #%(id)s was merged into this lead.") % {"id": pk})
        return redirect("leads:lead-detail", pk=survivor_id)
    lead = visible_or_404(selectors.lead_get, user=request.user, pk=pk)
    return render(request, "leads/lead_detail.html", {
        "lead": lead,
        "duplicates": dedupe_selectors.duplicates_of(lead=lead, user=request.user)[:10] if request.user.is_sales else [],
        "events": history_rows(lead),
        "touches": lead.touches.select_related("form", "campaign").order_by("-occurred_at", "-id")[:20],
        "next_statuses": [(s, LeadStatus(s).label) for s in allowed_status_changes(lead.status)
                          if s != LeadStatus.DISQUALIFIED],
        "can_disqualify": LeadStatus.DISQUALIFIED in allowed_status_changes(lead.status),
        "can_convert": can_convert(lead.status),
        "status_form": StatusForm(),
    })


@login_required
@require_http_methods(["GET", "POST"])
def lead_edit(request, pk: int):
    require_sales(request.user)
    lead = visible_or_404(selectors.lead_get, user=request.user, pk=pk)
    if lead.status == LeadStatus.CONVERTED:
        messages.error(request, _("A converted lead can no longer be edited; edit its account and contact instead."))
        return redirect("leads:lead-detail", pk=lead.pk)
    form = LeadForm(request.POST or None, instance=lead, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            services.lead_update(lead=lead, actor=request.user, **form.changed_values())
        except DomainError as exc:
            show_domain_error(form, exc)
        else:
            messages.success(request, _("Lead saved."))
            return redirect("leads:lead-detail", pk=lead.pk)
    return render(request, "leads/lead_form.html", {"form": form, "lead": lead})


@login_required
@require_POST
def lead_status(request, pk: int):
    lead = visible_or_404(selectors.lead_get, user=request.user, pk=pk)
    form = StatusForm(request.POST)
    if not form.is_valid():
        for field, errors in form.errors.items():
            messages.error(request, f"{field}: {' '.join(errors)}")
        return redirect("leads:lead-detail", pk=lead.pk)
    try:
        lead = services.lead_change_status(lead=lead, status=form.cleaned_data["status"],
                                           reason=form.cleaned_data["reason"], actor=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Status changed to %(status)s.") % {"status": lead.get_status_display()})
    return redirect("leads:lead-detail", pk=lead.pk)


# --- campaigns ------------------------------------------------------------------------------------

@login_required
def campaign_list(request):
    form = CampaignFilterForm(request.GET or None)
    filters = valid_filters(form)
    q, ordering = filters.pop("q", ""), filters.pop("ordering", "") or "-start_date"
    qs = selectors.campaign_list(user=request.user, q=q, filters=filters, ordering=ordering)
    context = {"form": form, "page_obj": page_of(request, qs), "ordering": ordering, "q": q}
    return list_page(request, template="leads/campaign_list.html", partial="leads/_campaign_table.html",
                     context=context)


def _require_campaign_manager(user) -> None:
    if not (user.is_admin or user.is_manager):
        raise DjangoPermissionDenied(_("Only managers and admins can create or change campaigns."))


@login_required
@require_http_methods(["GET", "POST"])
def campaign_create(request):
    _require_campaign_manager(request.user)
    form = CampaignForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            campaign = services.campaign_create(actor=request.user, **form.cleaned_data)
        except DomainError as exc:
            show_domain_error(form, exc)
        else:
            messages.success(request, _("Campaign “%(name)s” created.") % {"name": campaign.name})
            return redirect("leads:campaign-detail", pk=campaign.pk)
    return render(request, "leads/campaign_form.html", {"form": form, "campaign": None})


@login_required
def campaign_detail(request, pk: int):
    campaign = visible_or_404(selectors.campaign_get, user=request.user, pk=pk)
    stats = selectors.campaign_lead_stats(user=request.user, campaign=campaign)
    by_status = [(value, label, stats["by_status"].get(value, 0)) for value, label in LeadStatus.choices]
    return render(request, "leads/campaign_detail.html", {
        "campaign": campaign, "stats": stats, "by_status": by_status, "events": history_rows(campaign),
        "can_edit": request.user.is_admin or request.user.is_manager,
    })


@login_required
@require_http_methods(["GET", "POST"])
def campaign_edit(request, pk: int):
    _require_campaign_manager(request.user)
    campaign = visible_or_404(selectors.campaign_get, user=request.user, pk=pk)
    form = CampaignForm(request.POST or None, instance=campaign, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            services.campaign_update(campaign=campaign, actor=request.user, **form.changed_values())
        except DomainError as exc:
            show_domain_error(form, exc)
        else:
            messages.success(request, _("Campaign saved."))
            return redirect("leads:campaign-detail", pk=campaign.pk)
    return render(request, "leads/campaign_form.html", {"form": form, "campaign": campaign})
