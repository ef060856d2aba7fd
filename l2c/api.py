"""The API: django-ninja under /api/v1/, OpenAPI at /api/v1/openapi.json, docs at /api/v1/docs.

Auth: `Authorization: Bearer <token>` (see `l2c token create USER`), or the browser session.
Errors: RFC 9457 problem details (application/problem+json) with field-level `errors`.
"""
from __future__ import annotations

import json
import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.parser import Parser
from ninja.security import APIKeyCookie, HttpBearer

from l2c.core.errors import DomainError, from_django_validation_error
from l2c.core.problems import problem_response
from l2c.identity.tokens import user_for_token

log = logging.getLogger(__name__)


class BearerToken(HttpBearer):
    def authenticate(self, request, token):
        user = user_for_token(token)
        if user is not None:
            request.user = user
        return user


class SessionAuth(APIKeyCookie):
    """The logged-in browser session (CSRF-checked), so the UI and /api/v1/docs can call the API."""

    param_name = "sessionid"

    def __init__(self):
        super().__init__(csrf=True)

    def _get_key(self, request):
        # A request that sends a bearer token is judged by that token alone (a bad one is a 401, not
        # a CSRF 403), and without a logged-in session there is nothing for CSRF to protect.
        if request.headers.get("Authorization"):
            return None
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        return super()._get_key(request)

    def authenticate(self, request, key):
        if not key:
            return None
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.is_active:
            return user
        return None


class JsonObjectParser(Parser):
    """Request bodies are JSON objects; anything else (a bare string, number, list or null) is refused
    with 400 invalid_json instead of being read as "no fields given"."""

    def parse_body(self, request):
        data = json.loads(request.body)
        if not isinstance(data, dict):
            raise ValueError("the body must be a JSON object")
        return data


api = NinjaAPI(
    title="L2C API",
    parser=JsonObjectParser(),
    version="1",
    description=__doc__,
    urls_namespace="api",
    auth=[BearerToken(), SessionAuth()],
    docs_url="/docs",
    openapi_url="/openapi.json",
)


def _loc_to_field(loc) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "form", "payload")]
    # ninja nests the body under the parameter name; drop that name when a field follows
    if len(parts) > 1 and parts[0] in ("data", "payload", "body", "filters"):
        parts = parts[1:]
    return ".".join(parts) or "body"


@api.exception_handler(NinjaValidationError)
def on_validation_error(request, exc: NinjaValidationError):
    errors = []
    for err in exc.errors:
        loc = err.get("loc", ())
        kind = err.get("type", "invalid")
        message = err.get("msg", "invalid value")
        if kind == "json_invalid" or "json" in str(kind):
            return problem_response(400, "Invalid JSON", f"The request body is not valid JSON: {message}",
                                    code="invalid_json", instance=request.path)
        errors.append({"field": _loc_to_field(loc), "message": message, "code": kind})
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or "invalid request"
    return problem_response(422, "Some fields are invalid", detail, code="validation_failed", errors=errors,
                            instance=request.path)


@api.exception_handler(DomainError)
def on_domain_error(request, exc: DomainError):
    return problem_response(exc.status, exc.title, exc.message, code=exc.code,
                            errors=[e.as_dict() for e in exc.errors] or None, instance=request.path)


@api.exception_handler(DjangoValidationError)
def on_django_validation_error(request, exc):
    return on_domain_error(request, from_django_validation_error(exc))


@api.exception_handler(AuthenticationError)
def on_auth_error(request, exc):
    response = problem_response(401, "Not authenticated",
                                "Send `Authorization: Bearer <token>`; create one with `l2c token create USER`.",
                                code="not_authenticated", instance=request.path)
    response["WWW-Authenticate"] = "Bearer"
    return response


@api.exception_handler(Http404)
def on_not_found(request, exc):
    return problem_response(404, "Not found", str(exc) or "No such record.", code="not_found", instance=request.path)


@api.exception_handler(DjangoPermissionDenied)
def on_forbidden(request, exc):
    return problem_response(403, "Not allowed", str(exc) or "Your role does not allow this.",
                            code="permission_denied", instance=request.path)


@api.exception_handler(HttpError)
def on_http_error(request, exc: HttpError):
    message = str(exc)
    if exc.status_code == 400 and ("parse" in message.lower() or "json" in message.lower()):
        return problem_response(400, "Invalid JSON", "The request body must be a valid JSON object "
                                "(Content-Type: application/json).", code="invalid_json", instance=request.path)
    if exc.status_code == 403 and "csrf" in message.lower():
        return problem_response(403, "CSRF check failed", "A request made with the browser session must send "
                                "the X-CSRFToken header; API clients use `Authorization: Bearer <token>`.",
                                code="csrf_failed", instance=request.path)
    return problem_response(exc.status_code, "Request failed", message, code="http_error", instance=request.path)


def _register_routers() -> None:
    from l2c.customers.api import router as customers_router
    from l2c.identity.api import router as identity_router
    from l2c.leads.api import router as leads_router
    from l2c.pipeline.api import router as pipeline_router

    api.add_router("/", identity_router)
    api.add_router("/", customers_router)
    api.add_router("/", leads_router)
    api.add_router("/", pipeline_router)


_register_routers()
