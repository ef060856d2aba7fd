"""Log-in, personal API tokens, and the admin's settings pages for users and teams."""
from __future__ import annotations

from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from l2c.core.errors import DomainError, NotFound
from l2c.core.history import history_rows

from . import selectors, services
from .forms import SetPasswordForm, TeamForm, UserCreateForm, UserEditForm, UserFilterForm, add_domain_errors


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def form_valid(self, form):
        response = super().form_valid(form)
        language = getattr(form.get_user(), "language", "")
        if language:
            translation.activate(language)
            response.set_cookie(settings.LANGUAGE_COOKIE_NAME, language, samesite="Lax",
                                secure=settings.SESSION_COOKIE_SECURE)
        return response


def admin_required(view):
    """Log-in first; then only admins (everyone else gets 403: these pages are not records)."""

    @wraps(view)
    @login_required
    def wrapper(request, *args, **kwargs):
        if not request.user.is_admin:
            raise DjangoPermissionDenied(_("Only an admin can manage users and teams."))
        try:
            return view(request, *args, **kwargs)
        except NotFound as exc:
            raise Http404(exc.message) from exc

    return wrapper


# --- my API tokens ----------------------------------------------------------------------------

@login_required
@require_http_methods(["GET", "POST"])
def token_list(request):
    new_token = None
    if request.method == "POST":
        try:
            if "revoke" in request.POST:
                try:
                    token = selectors.token_get(user=request.user, pk=int(request.POST["revoke"]))
                except (NotFound, ValueError) as exc:
                    raise Http404(_("No such token.")) from exc
                services.token_revoke(token=token, actor=request.user)
                messages.success(request, _("Token revoked."))
                return redirect("settings-tokens")
            _token, new_token = services.token_create(
                user=request.user, name=request.POST.get("name", ""), actor=request.user
            )
        except DomainError as exc:
            messages.error(request, exc.message)
    tokens = selectors.token_list(user=request.user)
    return render(request, "identity/tokens.html", {"tokens": tokens, "new_token": new_token})


# --- users ------------------------------------------------------------------------------------

@admin_required
def user_list(request):
    filters = UserFilterForm(request.GET or None)
    data = filters.cleaned_data if filters.is_valid() else {}
    status = data.get("status") or ""
    qs = selectors.user_list(
        user=request.user, q=data.get("q") or "", role=data.get("role") or "", team_id=data.get("team"),
        is_active={"active": True, "inactive": False}.get(status), locked=True if status == "locked" else None,
    )
    page = Paginator(qs, settings.L2C_PAGE_SIZE).get_page(request.GET.get("page"))
    locked = selectors.locked_usernames(u.username for u in page.object_list)
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "identity/users_list.html", {
        "filters": filters, "page": page, "locked": locked, "query": query.urlencode(),
    })


@admin_required
@require_http_methods(["GET", "POST"])
def user_create(request):
    form = UserCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = services.user_create(
                username=data["username"], password=data["password1"], role=data["role"], team=data["team"],
                email=data["email"], first_name=data["first_name"], last_name=data["last_name"],
                language=data["language"], actor=request.user,
            )
        except DomainError as exc:
            add_domain_errors(form, exc, {"password": "password1"})
        else:
            messages.success(request, _("User %(name)s created.") % {"name": user.username})
            return redirect("settings-user", pk=user.pk)
    return render(request, "identity/user_new.html", {"form": form}, status=422 if form.errors else 200)


def _user_page(request, user, *, form=None, password_form=None, status=200):
    return render(request, "identity/user_detail.html", {
        "subject": user,
        "form": form or UserEditForm.for_user(user),
        "password_form": password_form or SetPasswordForm(),
        "locked": selectors.is_locked(user),
        "tokens": selectors.token_list(user=request.user, owner=user),
        "history": history_rows(user),
    }, status=status)


@admin_required
@require_http_methods(["GET", "POST"])
def user_detail(request, pk: int):
    user = selectors.user_get(user=request.user, pk=pk)
    if request.method == "GET":
        return _user_page(request, user)
    form = UserEditForm.for_user(user, request.POST)
    if form.is_valid():
        try:
            services.user_update(user=user, actor=request.user, **form.cleaned_data)
        except DomainError as exc:
            add_domain_errors(form, exc)
        else:
            messages.success(request, _("Changes saved."))
            return redirect("settings-user", pk=user.pk)
    return _user_page(request, user, form=form, status=422)


@admin_required
@require_POST
def user_password(request, pk: int):
    user = selectors.user_get(user=request.user, pk=pk)
    form = SetPasswordForm(request.POST)
    if form.is_valid():
        try:
            services.user_set_password(user=user, password=form.cleaned_data["password1"], actor=request.user)
        except DomainError as exc:
            add_domain_errors(form, exc, {"password": "password1"})
        else:
            messages.success(request, _("Password changed for %(name)s.") % {"name": user.username})
            return redirect("settings-user", pk=user.pk)
    return _user_page(request, user, password_form=form, status=422)


@admin_required
@require_POST
def user_unlock(request, pk: int):
    user = selectors.user_get(user=request.user, pk=pk)
    if services.user_unlock(user=user, actor=request.user):
        messages.success(request, _("%(name)s can log in again.") % {"name": user.username})
    else:
        messages.info(request, _("%(name)s was not locked out.") % {"name": user.username})
    return redirect("settings-user", pk=user.pk)


@admin_required
@require_POST
def user_token_revoke(request, pk: int, token_pk: int):
    user = selectors.user_get(user=request.user, pk=pk)
    token = selectors.token_list(user=request.user, owner=user).filter(pk=token_pk).first()
    if token is None:
        raise Http404(_("No such token."))
    try:
        services.token_revoke(token=token, actor=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Token %(prefix)s revoked.") % {"prefix": token.prefix})
    return redirect("settings-user", pk=user.pk)


# --- teams ------------------------------------------------------------------------------------

@admin_required
def team_list(request):
    q = request.GET.get("q", "")
    page = Paginator(selectors.team_list(user=request.user, q=q), settings.L2C_PAGE_SIZE).get_page(
        request.GET.get("page"))
    return render(request, "identity/teams_list.html", {"page": page, "q": q})


@admin_required
@require_http_methods(["GET", "POST"])
def team_create(request):
    form = TeamForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            team = services.team_create(actor=request.user, **form.cleaned_data)
        except DomainError as exc:
            add_domain_errors(form, exc)
        else:
            messages.success(request, _("Team %(name)s created.") % {"name": team.name})
            return redirect("settings-team", pk=team.pk)
    return render(request, "identity/team_form.html", {"form": form, "team": None},
                  status=422 if form.errors else 200)


@admin_required
@require_http_methods(["GET", "POST"])
def team_detail(request, pk: int):
    team = selectors.team_get(user=request.user, pk=pk)
    form = TeamForm(request.POST or None, initial={"name": team.name, "description": team.description})
    if request.method == "POST" and form.is_valid():
        try:
            services.team_update(team=team, actor=request.user, **form.cleaned_data)
        except DomainError as exc:
            add_domain_errors(form, exc)
        else:
            messages.success(request, _("Changes saved."))
            return redirect("settings-team", pk=team.pk)
    return render(request, "identity/team_form.html", {
        "form": form, "team": team, "members": selectors.team_members(user=request.user, team=team),
        "history": history_rows(team),
    }, status=422 if form.errors else 200)
