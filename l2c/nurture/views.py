"""Nurture pages (/nurture/): e-mail templates (list, edit with an English and a Chinese tab and a preview
pane), the suppression list and the settings; and the public unsubscribe page (/u/<token>/, no login).

Thin: parse, call a selector or service, render. Reps see templates read-only and may preview them.
"""
from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from l2c.core.errors import DomainError, NotFound
from l2c.core.forms import show_domain_error

from . import merge, selectors, services
from .choices import SuppressionReason, TemplateLanguage
from .unsubscribe import email_for_token

PAGE_SIZE = 50
TABS = (("en", "en"), ("zh", TemplateLanguage.ZH_HANS))  # form prefix, language


def _get_or_404(fn, **kwargs):
    try:
        return fn(**kwargs)
    except NotFound as exc:
        raise Http404(exc.message) from exc


class TemplateForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=services.MAX_NAME)
    description = forms.CharField(label=gettext_lazy("Description"), required=False,
                                  max_length=services.MAX_DESCRIPTION, widget=forms.Textarea(attrs={"rows": 2}))
    is_active = forms.BooleanField(label=gettext_lazy("Active"), required=False, initial=True)


class VersionForm(forms.Form):
    subject = forms.CharField(label=gettext_lazy("Subject"), required=False, max_length=250,
                              widget=forms.TextInput(attrs={"class": "wide"}))
    html = forms.CharField(label=gettext_lazy("HTML body"), required=False,
                           widget=forms.Textarea(attrs={"rows": 12, "spellcheck": "false"}))
    text = forms.CharField(label=gettext_lazy("Plain-text body"), required=False,
                           widget=forms.Textarea(attrs={"rows": 6}),
                           help_text=gettext_lazy("Leave empty to derive it from the HTML (links become "
                                                  "\"text (URL)\")."))


def _forms(data, template, *, disabled: bool):
    initial = {"name": template.name, "description": template.description,
               "is_active": template.is_active} if template else None
    main = TemplateForm(data, initial=initial)
    tabs = []
    for prefix, language in TABS:
        version = next((v for v in template.versions.all() if v.language == language), None) if template else None
        form = VersionForm(data, prefix=prefix, initial={"subject": version.subject, "html": version.html,
                                                         "text": version.text} if version else None)
        tabs.append({"prefix": prefix, "language": language, "label": TemplateLanguage(language).label,
                     "form": form})
    if disabled:
        for form in [main, *[tab["form"] for tab in tabs]]:
            for field in form.fields.values():
                field.disabled = True
    return main, tabs


def _versions_from(tabs, *, creating: bool):
    """The service's versions list and the map from its error fields to the form fields."""
    versions, owners = [], {}
    for tab in tabs:
        values = tab["form"].cleaned_data
        if creating and not any((values.get(k) or "").strip() for k in ("subject", "html", "text")):
            continue
        index = len(versions)
        versions.append({"language": tab["language"], **{k: values.get(k) or "" for k in ("subject", "html", "text")}})
        for part in ("subject", "html", "text"):
            owners[f"versions[{index}].{part}"] = (tab["form"], part)
    return versions, owners


def _show_errors(main, tabs, owners, exc: DomainError) -> None:
    if not exc.errors:
        main.add_error(None, exc.message)
    for error in exc.errors:
        if error.field in owners:
            form, name = owners[error.field]
            form.add_error(name, error.message)
        elif error.field in main.fields:
            main.add_error(error.field, error.message)
        else:
            main.add_error(None, error.message)


def _preview_source(request, tabs, language):
    tab = next(t for t in tabs if t["language"] == language)
    values = tab["form"].cleaned_data
    try:
        return services.source_preview(subject=values.get("subject") or "", html=values.get("html") or "",
                                       text=values.get("text") or "", language=language, user=request.user)
    except DomainError as exc:
        for error in exc.errors:
            tab["form"].add_error(error.field if error.field in tab["form"].fields else None, error.message)
        return None


@login_required
@require_GET
def template_list(request):
    templates = selectors.template_list(user=request.user, q=request.GET.get("q", "").strip())
    return render(request, "nurture/template_list.html", {
        "templates": templates, "can_edit": services.can_edit_templates(request.user), "nav": "nurture",
        "q": request.GET.get("q", "")})


def _template_page(request, template):
    can_edit = services.can_edit_templates(request.user)
    if template is None and not can_edit:
        raise DjangoPermissionDenied(_("Only a manager or an admin may create or change e-mail templates."))
    posted = request.method == "POST"
    preview_language = request.POST.get("preview") if posted else None
    if posted and not preview_language and not can_edit:
        raise DjangoPermissionDenied(_("Only a manager or an admin may create or change e-mail templates."))
    main, tabs = _forms(request.POST if posted and can_edit else None, template, disabled=not can_edit)
    preview = None
    status = 200
    if preview_language not in (None, *TemplateLanguage.values):
        preview_language = TemplateLanguage.EN
    if preview_language and not can_edit:  # read-only: preview what is saved
        preview = services.template_preview(template=template, language=preview_language, user=request.user)
    elif posted and all(f.is_valid() for f in [main, *[t["form"] for t in tabs]]):
        if preview_language:
            preview = _preview_source(request, tabs, preview_language)
        else:
            versions, owners = _versions_from(tabs, creating=template is None)
            try:
                if template is None:
                    template = services.template_create(actor=request.user, versions=versions, **main.cleaned_data)
                else:
                    services.template_update(actor=request.user, template=template, versions=versions,
                                             **main.cleaned_data)
            except DomainError as exc:
                _show_errors(main, tabs, owners, exc)
                status = 422
            else:
                messages.success(request, _("Template %(name)s was saved.") % {"name": template.name})
                return redirect("nurture:template-edit", pk=template.pk)
    elif posted:
        status = 422
    return render(request, "nurture/template_form.html", {
        "template": template, "form": main, "tabs": tabs, "can_edit": can_edit, "preview": preview,
        "preview_language": preview_language, "nav": "nurture",
        "merge_fields": [f"{{{{ {name} }}}}" for name in sorted(merge.MERGE_FIELDS)]}, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def template_create(request):
    return _template_page(request, None)


@login_required
@require_http_methods(["GET", "POST"])
def template_edit(request, pk: int):
    return _template_page(request, _get_or_404(selectors.template_get, user=request.user, pk=pk))


@login_required
@require_POST
def template_delete(request, pk: int):
    template = _get_or_404(selectors.template_get, user=request.user, pk=pk)
    if not services.can_edit_templates(request.user):
        raise DjangoPermissionDenied(_("Only a manager or an admin may create or change e-mail templates."))
    services.template_delete(actor=request.user, template=template)
    messages.success(request, _("Template %(name)s was deleted.") % {"name": template.name})
    return redirect("nurture:template-list")


class SuppressionForm(forms.Form):
    email = forms.CharField(label=gettext_lazy("E-mail"), max_length=254)
    reason = forms.ChoiceField(label=gettext_lazy("Reason"), choices=SuppressionReason.choices,
                               initial=SuppressionReason.MANUAL)
    source = forms.CharField(label=gettext_lazy("Source"), required=False, max_length=services.MAX_SOURCE,
                             help_text=gettext_lazy("Where the request came from, e.g. a phone call."))


def _suppression_page(request, form, status=200):
    q = request.GET.get("q", "").strip()
    page = Paginator(selectors.suppression_list(user=request.user, q=q), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "nurture/suppression_list.html", {
        "page_obj": page, "suppressions": page.object_list, "form": form, "q": q, "nav": "nurture",
        "can_add": services.can_add_suppressions(request.user), "can_remove": services.is_admin(request.user)},
        status=status)


@login_required
@require_http_methods(["GET", "POST"])
def suppression_list(request):
    if request.method == "GET":
        return _suppression_page(request, SuppressionForm())
    if not services.can_add_suppressions(request.user):
        raise DjangoPermissionDenied(_("Only a manager or an admin may add an address to the suppression list."))
    form = SuppressionForm(request.POST)
    if form.is_valid():
        try:
            suppression = services.suppress(actor=request.user, **form.cleaned_data)
        except DomainError as exc:
            show_domain_error(form, exc)
        else:
            messages.success(request, _("%(email)s is on the suppression list.") % {"email": suppression.email})
            return redirect("nurture:suppression-list")
    return _suppression_page(request, form, status=422)


@login_required
@require_POST
def suppression_remove(request, pk: int):
    suppression = _get_or_404(selectors.suppression_get, user=request.user, pk=pk)
    if not services.is_admin(request.user):
        raise DjangoPermissionDenied(_("Only an admin may remove an address from the suppression list."))
    services.unsuppress(actor=request.user, suppression=suppression)
    messages.success(request, _("%(email)s was removed from the suppression list.") % {"email": suppression.email})
    return redirect("nurture:suppression-list")


class SettingsForm(forms.Form):
    legitimate_interest_allowed = forms.BooleanField(
        label=gettext_lazy("Allow e-mailing leads on legitimate interest"), required=False,
        help_text=gettext_lazy("When off, nurture e-mails only leads with recorded consent."))


@login_required
@require_http_methods(["GET", "POST"])
def nurture_settings(request):
    if not services.is_admin(request.user):
        raise DjangoPermissionDenied(_("Only an admin may change the nurture settings."))
    from .models import NurtureSettings

    current = NurtureSettings.get()
    form = SettingsForm(request.POST or None, initial={"legitimate_interest_allowed": current.legitimate_interest_allowed})
    if request.method == "POST" and form.is_valid():
        services.settings_update(actor=request.user, **form.cleaned_data)
        messages.success(request, _("The nurture settings were saved."))
        return redirect("nurture:settings")
    return render(request, "nurture/settings.html", {"form": form, "settings": current, "nav": "nurture"})


# --- unsubscribe (public) ----------------------------------------------------------------------------------

@csrf_exempt  # mail clients POST without a CSRF token (RFC 8058); the signed token is the authorisation
@require_http_methods(["GET", "POST"])
def unsubscribe(request, token: str):
    email = email_for_token(token)
    if email is None:
        return render(request, "nurture/unsubscribe.html", {"invalid": True}, status=400)
    if request.method == "GET":
        return render(request, "nurture/unsubscribe.html", {"email": email, "done": False})
    # RFC 8058: the body is List-Unsubscribe=One-Click, form-encoded (urlencoded or multipart)
    one_click = request.POST.get("List-Unsubscribe") == "One-Click"
    services.suppress(email=email, reason=SuppressionReason.UNSUBSCRIBED,
                      source="unsubscribe link", actor=None)
    if one_click:
        return HttpResponse(_("Unsubscribed."), content_type="text/plain; charset=utf-8")
    return render(request, "nurture/unsubscribe.html", {"email": email, "done": True})
