"""Webhook pages (/automation/webhooks/): list, create and edit, detail with the delivery log, and the
actions (send a test event, rotate the secret, replay a delivery, delete). Admins only; others get the 403
page. Thin: parse, call a selector or service, render. A new secret is shown once, in the answer to the POST
that made it (never put in the session or a message)."""
from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from l2c.core.errors import DomainError, NotFound
from l2c.core.forms import show_domain_error
from l2c.core.history import history_rows

from . import selectors, services

PAGE_SIZE = 25


def _require_admin(user) -> None:
    if not services.can_manage(user):
        raise DjangoPermissionDenied(_("Only an admin may manage webhooks."))


def _endpoint_or_404(user, pk):
    _require_admin(user)
    try:
        return selectors.endpoint_get(user=user, pk=pk)
    except NotFound as exc:
        raise Http404(exc.message) from exc


class WebhookForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=services.MAX_NAME)
    url = forms.CharField(label=gettext_lazy("URL"), max_length=services.MAX_URL,
                          widget=forms.URLInput(attrs={"class": "wide", "placeholder": "https://example.com/hooks/l2c"}),
                          help_text=gettext_lazy("L2C POSTs each event here as signed JSON."))
    description = forms.CharField(label=gettext_lazy("Description"), required=False,
                                  max_length=services.MAX_DESCRIPTION, widget=forms.Textarea(attrs={"rows": 2}))
    is_active = forms.BooleanField(label=gettext_lazy("Active"), required=False, initial=True)
    event_types = forms.MultipleChoiceField(label=gettext_lazy("Events"), required=False,
                                            widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["event_types"].choices = [
            (name, f"{name} — {description}" if name != "*" else description)
            for name, description in selectors.event_choices()]


def _form_values(form) -> dict:
    data = dict(form.cleaned_data)
    data["event_types"] = list(data.get("event_types") or [])
    return data


@login_required
@require_GET
def webhook_list(request):
    _require_admin(request.user)
    return render(request, "automation/webhook_list.html",
                  {"endpoints": selectors.endpoint_list(user=request.user), "nav": "webhooks"})


@login_required
def webhook_create(request):
    _require_admin(request.user)
    form = WebhookForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            endpoint = services.endpoint_create(actor=request.user, **_form_values(form))
        except DomainError as exc:
            show_domain_error(form, exc)
        else:
            return render(request, "automation/webhook_secret.html",
                          {"endpoint": endpoint, "created": True, "nav": "webhooks"}, status=201)
    return render(request, "automation/webhook_form.html", {"form": form, "endpoint": None, "nav": "webhooks"})


@login_required
def webhook_edit(request, pk: int):
    endpoint = _endpoint_or_404(request.user, pk)
    initial = {"name": endpoint.name, "url": endpoint.url, "description": endpoint.description,
               "is_active": endpoint.is_active, "event_types": endpoint.event_types}
    form = WebhookForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.endpoint_update(actor=request.user, endpoint=endpoint, **_form_values(form))
        except DomainError as exc:
            show_domain_error(form, exc)
        else:
            messages.success(request, _("Webhook %(name)s was saved.") % {"name": form.cleaned_data["name"]})
            return redirect("automation:webhook-detail", pk=endpoint.pk)
    return render(request, "automation/webhook_form.html", {"form": form, "endpoint": endpoint, "nav": "webhooks"})


@login_required
@require_GET
def webhook_detail(request, pk: int):
    endpoint = _endpoint_or_404(request.user, pk)
    page = Paginator(selectors.delivery_list(user=request.user, endpoint=endpoint), PAGE_SIZE).get_page(
        request.GET.get("page"))
    return render(request, "automation/webhook_detail.html", {
        "endpoint": endpoint, "page": page, "deliveries": page.object_list, "events": history_rows(endpoint),
        "nav": "webhooks"})


@login_required
@require_POST
def webhook_test(request, pk: int):
    endpoint = _endpoint_or_404(request.user, pk)
    try:
        services.endpoint_send_test(actor=request.user, endpoint=endpoint)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("A test event was queued; its delivery is at the top of the log."))
    return redirect("automation:webhook-detail", pk=endpoint.pk)


@login_required
@require_POST
def webhook_rotate_secret(request, pk: int):
    endpoint = _endpoint_or_404(request.user, pk)
    endpoint = services.endpoint_rotate_secret(actor=request.user, endpoint=endpoint)
    return render(request, "automation/webhook_secret.html", {"endpoint": endpoint, "created": False,
                                                               "nav": "webhooks"})


@login_required
@require_POST
def webhook_delete(request, pk: int):
    endpoint = _endpoint_or_404(request.user, pk)
    services.endpoint_delete(actor=request.user, endpoint=endpoint)
    messages.success(request, _("Webhook %(name)s was deleted.") % {"name": endpoint.name})
    return redirect("automation:webhook-list")


@login_required
@require_POST
def delivery_replay(request, pk: int):
    _require_admin(request.user)
    try:
        delivery = selectors.delivery_get(user=request.user, pk=pk)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    try:
        services.delivery_replay(actor=request.user, delivery=delivery)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("The event was sent again as a new delivery."))
    return redirect("automation:webhook-detail", pk=delivery.endpoint_id)
