"""Web-form pages: set-up (admins and managers) and the public form at /f/<key> (anyone, no log-in)."""
from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import Http404, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from l2c.core.errors import DomainError, NotFound, ValidationFailed
from l2c.core.forms import show_domain_error
from l2c.core.history import history_rows
from l2c.core.problems import problem_response
from l2c.customers.views import visible_or_404

from . import ratelimit, selectors, services
from .fields import CONSENT_FIELD, HONEYPOT_FIELD, UTM_FIELDS, form_fields
from .forms import WebFormForm


def _require_form_manager(user) -> None:
    if not (user.is_admin or user.is_manager):
        raise DjangoPermissionDenied(_("Only managers and admins can set up web forms."))


# --- set-up pages ------------------------------------------------------------------------------------

@login_required
def webform_list(request):
    _require_form_manager(request.user)
    forms = selectors.webform_list(user=request.user)
    return render(request, "leads/webforms/list.html", {"forms": forms})


def _save(request, form: WebFormForm, instance=None):
    try:
        if instance is None:
            return services.webform_create(actor=request.user, **form.service_values())
        return services.webform_update(form=instance, actor=request.user, **form.service_values())
    except DomainError as exc:
        fields_errors = [e.message for e in exc.errors if e.field == "fields"]
        form.field_errors = fields_errors
        others = [e for e in exc.errors if e.field != "fields"]
        if others or not exc.errors:
            show_domain_error(form, ValidationFailed(others) if others else exc)
        return None


@login_required
@require_http_methods(["GET", "POST"])
def webform_create(request):
    _require_form_manager(request.user)
    form = WebFormForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        saved = _save(request, form)
        if saved is not None:
            messages.success(request, _("Web form “%(name)s” created. Copy its snippet below.") % {"name": saved.name})
            return redirect("leads:webform-detail", pk=saved.pk)
    return render(request, "leads/webforms/edit.html", {"form": form, "webform": None})


def embed_snippet(request, webform) -> str:
    """The copy-paste HTML for the customer's site: a plain form posting to /f/<key>, no external assets."""
    action = request.build_absolute_uri(reverse("leads:webform-public", args=[webform.key]))
    return render_to_string("leads/webforms/_snippet.html", {
        "webform": webform, "action": action, "fields": form_fields(webform), "values": {}, "errors": {},
        "honeypot": HONEYPOT_FIELD, "consent_field": CONSENT_FIELD, "utm_fields": UTM_FIELDS,
    }).strip()


@login_required
@require_http_methods(["GET", "POST"])
def webform_detail(request, pk: int):
    _require_form_manager(request.user)
    webform = visible_or_404(selectors.webform_get, user=request.user, pk=pk)
    form = WebFormForm(request.POST or None, instance=webform, user=request.user)
    if request.method == "POST" and form.is_valid():
        saved = _save(request, form, webform)
        if saved is not None:
            messages.success(request, _("Web form saved."))
            return redirect("leads:webform-detail", pk=saved.pk)
    webform.refresh_from_db()  # the form above may have set unsaved values on the instance
    return render(request, "leads/webforms/edit.html", {
        "form": form, "webform": webform, "snippet": embed_snippet(request, webform),
        "hosted_url": request.build_absolute_uri(reverse("leads:webform-public", args=[webform.key])),
        "touches": selectors.webform_recent_touches(user=request.user, form=webform),
        "submissions": selectors.webform_submission_count(form=webform),
        "events": history_rows(webform),
    })


# --- the public endpoint -------------------------------------------------------------------------------

def _own_origin(request) -> str:
    return f"{request.scheme}://{request.get_host()}"


def _origin_allowed(webform, origin: str, request) -> bool:
    allowed = [line.strip() for line in webform.allowed_origins.splitlines() if line.strip()]
    return not allowed or origin.rstrip("/").lower() in allowed or origin == _own_origin(request)


def _with_cors(response: HttpResponse, origin: str | None, allowed: bool) -> HttpResponse:
    response["Vary"] = "Origin"
    if origin and allowed:
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Expose-Headers"] = "Retry-After"
    return response


def _frame_policy(response: HttpResponse, webform) -> HttpResponse:
    """The hosted page may be framed by the form's allowed origins (any site when none are listed)."""
    origins = " ".join(line.strip() for line in webform.allowed_origins.splitlines() if line.strip())
    response["Content-Security-Policy"] = f"frame-ancestors 'self' {origins or '*'}"
    return response


def _public_context(webform, *, values=None, errors=None) -> dict:
    return {"webform": webform, "action": reverse("leads:webform-public", args=[webform.key]),
            "fields": form_fields(webform), "values": values or {}, "errors": errors or {},
            "honeypot": HONEYPOT_FIELD, "consent_field": CONSENT_FIELD, "utm_fields": UTM_FIELDS}


class BadSubmission(Exception):
    def __init__(self, status: int, message: str, code: str):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


def _submitted_data(request, is_json: bool) -> dict[str, str]:
    """The posted values as text, from JSON, urlencoded or multipart bodies."""
    if is_json:
        try:
            data = json.loads(request.body or b"{}")
        except ValueError as exc:
            raise BadSubmission(400, _("The body is not valid JSON."), "invalid_json") from exc
        if not isinstance(data, dict):
            raise BadSubmission(400, _("The body must be a JSON object of field names and values."), "invalid_json")
        out = {}
        for name, value in data.items():
            if isinstance(value, bool):
                out[name] = "true" if value else ""
            elif isinstance(value, int | float | str):
                out[name] = str(value)
            elif value is None:
                out[name] = ""
            else:
                raise ValidationFailed.single(str(name)[:100], _("Send text, not a list or an object."), "invalid_type")
        return out
    try:
        return {name: request.POST.get(name, "") for name in request.POST}
    except (RequestDataTooBig, TooManyFieldsSent) as exc:
        raise BadSubmission(413, _("The submission is too large."), "payload_too_large") from exc


def _utm_from_referrer(referrer: str) -> dict[str, str]:
    try:
        query = parse_qs(urlsplit(referrer).query)
    except ValueError:
        return {}
    return {name: query[name][0] for name in UTM_FIELDS if query.get(name)}


def _success(request, webform, is_json: bool) -> HttpResponse:
    message = webform.thank_you_text or _("Thank you! We will be in touch soon.")
    if is_json:
        return JsonResponse({"status": "ok", "message": message}, status=201)
    if webform.redirect_url:
        return HttpResponseRedirect(webform.redirect_url, status=303)
    return _frame_policy(render(request, "leads/webforms/thanks.html", {"webform": webform, "message": message}),
                         webform)


@csrf_exempt  # by design: a public form posted from other sites; protected by honeypot, rate and size limits
@xframe_options_exempt  # framing is governed by CSP frame-ancestors (the allowed origins) instead
def public_form(request, key: str):
    is_json = request.content_type == "application/json"
    try:
        webform = selectors.webform_public(key=key)
    except NotFound as exc:
        if is_json or request.method == "OPTIONS":
            return problem_response(404, "Not found", str(exc.message), code="not_found", instance=request.path)
        raise Http404(exc.message) from exc
    origin = request.headers.get("Origin")
    allowed = not origin or _origin_allowed(webform, origin, request)
    if request.method == "OPTIONS":
        if not allowed:
            return HttpResponse(status=403)
        response = HttpResponse(status=204)
        response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response["Access-Control-Allow-Headers"] = "Content-Type, Accept"
        response["Access-Control-Max-Age"] = "86400"
        return _with_cors(response, origin, allowed)
    if request.method in ("GET", "HEAD"):
        return _frame_policy(render(request, "leads/webforms/hosted.html", _public_context(webform)), webform)
    if request.method != "POST":
        return HttpResponseNotAllowed(["GET", "POST", "OPTIONS"])
    response = _submit(request, webform, is_json, origin_allowed=allowed)
    return _with_cors(response, origin, allowed)


def _refuse(request, webform, is_json: bool, status: int, message: str, code: str) -> HttpResponse:
    if is_json:
        return problem_response(status, message, message, code=code, instance=request.path)
    response = render(request, "leads/webforms/hosted.html",
                      {**_public_context(webform), "form_error": message}, status=status)
    return _frame_policy(response, webform)


def _submit(request, webform, is_json: bool, *, origin_allowed: bool) -> HttpResponse:
    if not origin_allowed:
        return _refuse(request, webform, is_json, 403, _("This form does not accept submissions from that site."),
                       "origin_not_allowed")
    limit = settings.L2C_WEBFORM_MAX_BYTES
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit or len(request.body) > limit:
        return _refuse(request, webform, is_json, 413, _("The submission is too large (at most %(limit)d bytes).")
                       % {"limit": limit}, "payload_too_large")
    ip = ratelimit.client_ip(request)
    wait = ratelimit.check(form_key=webform.key, ip=ip)
    if wait is not None:
        response = _refuse(request, webform, is_json, 429, _("Too many submissions from your address; please try "
                                                             "again in %(seconds)d seconds.") % {"seconds": wait},
                           "rate_limited")
        response["Retry-After"] = str(wait)
        return response
    try:
        data = _submitted_data(request, is_json)
    except BadSubmission as exc:
        return _refuse(request, webform, is_json, exc.status, exc.message, exc.code)
    except ValidationFailed as exc:
        return _invalid(request, webform, is_json, exc, {})
    if (data.get(HONEYPOT_FIELD) or "").strip():
        return _success(request, webform, is_json)  # a robot: answer as if stored, store nothing
    referrer = request.META.get("HTTP_REFERER", "")
    submission = services.Submission(data=data, ip=ip or None, user_agent=request.headers.get("User-Agent", ""),
                                     referrer=referrer, utm_from_referrer=_utm_from_referrer(referrer))
    try:
        services.webform_submit(form=webform, submission=submission)
    except ValidationFailed as exc:
        return _invalid(request, webform, is_json, exc, data)
    return _success(request, webform, is_json)


def _invalid(request, webform, is_json: bool, exc: ValidationFailed, data: dict) -> HttpResponse:
    if is_json:
        return problem_response(422, "Some fields are invalid", exc.message, code="validation_failed",
                                errors=[e.as_dict() for e in exc.errors], instance=request.path)
    errors = {e.field: e.message for e in exc.errors}
    response = render(request, "leads/webforms/hosted.html",
                      _public_context(webform, values=data, errors=errors), status=422)
    return _frame_policy(response, webform)
