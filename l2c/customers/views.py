"""Pages for accounts and contacts. Thin: parse with a form, call a selector or service, render."""
from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from l2c.core import exports
from l2c.core.errors import DomainError, NotFound
from l2c.core.forms import show_domain_error
from l2c.core.history import history_rows

from . import selectors, services
from .exports import ACCOUNT_COLUMNS, CONTACT_COLUMNS
from .forms import AccountFilterForm, AccountForm, ContactFilterForm, ContactForm, valid_filters


def visible_or_404(selector, **kwargs):
    try:
        return selector(**kwargs)
    except NotFound as exc:
        raise Http404(exc.message) from exc


def page_of(request, qs):
    return Paginator(qs, settings.L2C_PAGE_SIZE).get_page(request.GET.get("page"))


def list_page(request, *, template: str, partial: str, context: dict):
    """Render a list page, or only its results table when HTMX asks for #results."""
    htmx = getattr(request, "htmx", None)
    if htmx and htmx.target == "results" and not htmx.history_restore_request:
        return render(request, partial, context)
    return render(request, template, context)


def require_writer(user) -> None:
    if not user.is_sales:
        raise DjangoPermissionDenied(_("Your role can read customers but not change them."))


# --- accounts -------------------------------------------------------------------------------------

def _account_query(request):
    """The list page's search, filters and ordering from the query string (shared by list and export)."""
    form = AccountFilterForm(request.GET or None, user=request.user)
    filters = valid_filters(form)
    q, ordering = filters.pop("q", ""), filters.pop("ordering", "") or "name"
    return form, q, filters, ordering


@login_required
def account_list(request):
    form, q, filters, ordering = _account_query(request)
    qs = selectors.account_list(user=request.user, q=q, filters=filters, ordering=ordering)
    context = {"form": form, "page_obj": page_of(request, qs), "ordering": ordering, "q": q}
    return list_page(request, template="customers/account_list.html", partial="customers/_account_table.html",
                     context=context)


@login_required
@require_http_methods(["GET", "POST"])
def account_create(request):
    require_writer(request.user)
    form = AccountForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            account = services.account_create(actor=request.user, **form.cleaned_data)
        except DomainError as exc:
            show_domain_error(form, exc)
        else:
            messages.success(request, _("Account “%(name)s” created.") % {"name": account.name})
            return redirect("customers:account-detail", pk=account.pk)
    return render(request, "customers/account_form.html", {"form": form, "account": None})


@login_required
def account_detail(request, pk: int):
    account = visible_or_404(selectors.account_get, user=request.user, pk=pk)
    contacts = selectors.contacts_of_account(user=request.user, account=account)
    return render(request, "customers/account_detail.html", {
        "account": account, "contacts": contacts, "events": history_rows(account),
    })


@login_required
@require_http_methods(["GET", "POST"])
def account_edit(request, pk: int):
    require_writer(request.user)
    account = visible_or_404(selectors.account_get, user=request.user, pk=pk)
    form = AccountForm(request.POST or None, instance=account, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            services.account_update(account=account, actor=request.user, **form.changed_values())
        except DomainError as exc:
            show_domain_error(form, exc)
        else:
            messages.success(request, _("Account saved."))
            return redirect("customers:account-detail", pk=account.pk)
    return render(request, "customers/account_form.html", {"form": form, "account": account})


# --- contacts -------------------------------------------------------------------------------------

def _contact_query(request):
    """The list page's search, filters and ordering from the query string (shared by list and export)."""
    form = ContactFilterForm(request.GET or None, user=request.user)
    filters = valid_filters(form)
    q, ordering = filters.pop("q", ""), filters.pop("ordering", "") or "last_name"
    return form, q, filters, ordering


@login_required
def contact_list(request):
    form, q, filters, ordering = _contact_query(request)
    qs = selectors.contact_list(user=request.user, q=q, filters=filters, ordering=ordering)
    context = {"form": form, "page_obj": page_of(request, qs), "ordering": ordering, "q": q}
    return list_page(request, template="customers/contact_list.html", partial="customers/_contact_table.html",
                     context=context)


@login_required
@require_http_methods(["GET", "POST"])
def contact_create(request):
    require_writer(request.user)
    initial = {}
    if request.GET.get("account", "").isdigit():
        initial["account"] = int(request.GET["account"])
    form = ContactForm(request.POST or None, initial=initial, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            contact = services.contact_create(actor=request.user, **form.cleaned_data)
        except DomainError as exc:
            show_domain_error(form, exc)
        else:
            messages.success(request, _("Contact “%(name)s” created.") % {"name": contact.full_name})
            return redirect("customers:contact-detail", pk=contact.pk)
    return render(request, "customers/contact_form.html", {"form": form, "contact": None})


@login_required
def contact_detail(request, pk: int):
    survivor_id = selectors.contact_merged_into(user=request.user, pk=pk)
    if survivor_id is not None:
        messages.info(request, _("Contact #%(id)s was merged into this contact.") % {"id": pk})
        return redirect("customers:contact-detail", pk=survivor_id)
    contact = visible_or_404(selectors.contact_get, user=request.user, pk=pk)
    return render(request, "customers/contact_detail.html", {"contact": contact, "events": history_rows(contact)})


@login_required
@require_http_methods(["GET", "POST"])
def contact_edit(request, pk: int):
    require_writer(request.user)
    contact = visible_or_404(selectors.contact_get, user=request.user, pk=pk)
    form = ContactForm(request.POST or None, instance=contact, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            services.contact_update(contact=contact, actor=request.user, **form.changed_values())
        except DomainError as exc:
            show_domain_error(form, exc)
        else:
            messages.success(request, _("Contact saved."))
            return redirect("customers:contact-detail", pk=contact.pk)
    return render(request, "customers/contact_form.html", {"form": form, "contact": contact})


# --- exports --------------------------------------------------------------------------------------

@login_required
@require_GET
def account_export(request):
    """The account list as CSV or Excel (?format=csv|xlsx): exactly its search, filters and ordering."""

    def build():
        form, q, filters, ordering = _account_query(request)
        exports.refuse_invalid_filters(form)
        qs = selectors.account_list(user=request.user, q=q, filters=filters, ordering=ordering)
        return qs, {"q": q, **filters, "ordering": ordering}

    return exports.ui_export(request, build, columns=ACCOUNT_COLUMNS, stem="accounts",
                             object_type="customers.account", sheet_title=_("Accounts"),
                             back_url=reverse("customers:account-list"))


@login_required
@require_GET
def contact_export(request):
    """The contact list as CSV or Excel (?format=csv|xlsx): exactly its search, filters and ordering."""

    def build():
        form, q, filters, ordering = _contact_query(request)
        exports.refuse_invalid_filters(form)
        qs = selectors.contact_list(user=request.user, q=q, filters=filters, ordering=ordering)
        return qs, {"q": q, **filters, "ordering": ordering}

    return exports.ui_export(request, build, columns=CONTACT_COLUMNS, stem="contacts",
                             object_type="customers.contact", sheet_title=_("Contacts"),
                             back_url=reverse("customers:contact-list"))
