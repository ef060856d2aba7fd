"""Log-in and personal settings."""
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from l2c.core.errors import DomainError

from . import services
from .models import ApiToken


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def form_valid(self, form):
        response = super().form_valid(form)
        language = getattr(form.get_user(), "language", "")
        if language:
            translation.activate(language)
            response.set_cookie("django_language", language, samesite="Lax")
        return response


@login_required
@require_http_methods(["GET", "POST"])
def token_list(request):
    new_token = None
    if request.method == "POST":
        try:
            if "revoke" in request.POST:
                token = get_object_or_404(ApiToken, pk=request.POST["revoke"], user=request.user)
                services.token_revoke(token=token, actor=request.user)
                messages.success(request, _("Token revoked."))
                return redirect("settings-tokens")
            _token, new_token = services.token_create(
                user=request.user, name=request.POST.get("name", ""), actor=request.user
            )
        except DomainError as exc:
            messages.error(request, exc.message)
    tokens = request.user.api_tokens.all()
    return render(request, "identity/tokens.html", {"tokens": tokens, "new_token": new_token})
