"""The API: django-ninja under /api/v1/, OpenAPI at /api/v1/openapi.json, docs at /api/v1/docs.

Auth: `Authorization: Bearer <token>` (see `l2c token create USER`), or the browser session.
Errors: RFC 9457 problem details (application/problem+json) with field-level `errors`.
"""
from __future__ import annotations

import datetime as dt
import functools
import json
import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils import timezone
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.parser import Parser
from ninja.security import APIKeyCookie, HttpBearer

from l2c.core.errors import DomainError, FieldError, ValidationFailed, from_django_validation_error
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
        data = json.loads(request.body, parse_constant=_refuse_non_json_constant)
        if not isinstance(data, dict):
            raise ValueError("the body must be a JSON object")
        return data


def _refuse_non_json_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")  # Python's json reads NaN/Infinity; RFC 8259 does not


class L2CNinjaAPI(NinjaAPI):
    def get_openapi_schema(self, *, path_prefix=None, path_params=None):
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        return document_problems(schema)


api = L2CNinjaAPI(
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
    if len(parts) > 1 and parts[0] in ("data", "payload", "body", "filters", "file"):  # "file": an upload
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


# --- input the database cannot store, empty bodies -----------------------------------------------

def _unstorable_text(value, path: str):
    """(path, reason) of the first string in `value` (keys included) that no database can store: a NUL
    character (PostgreSQL refuses it in text) or a lone UTF-16 surrogate (not encodable as UTF-8)."""
    if isinstance(value, str):
        if "\x00" in value:
            return path, "null_character"
        if any("\ud800" <= ch <= "\udfff" for ch in value):
            return path, "invalid_unicode"
    elif isinstance(value, dict):
        for key, item in value.items():
            found = _unstorable_text(key, path) or _unstorable_text(item, f"{path}.{key}" if path else str(key))
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _unstorable_text(item, f"{path}.{index}" if path else str(index))
            if found:
                return found
    return None


_UNSTORABLE_MESSAGES = {
    "null_character": "Text may not contain the NUL character (\\u0000).",
    "invalid_unicode": "Text contains a lone UTF-16 surrogate, which is not valid Unicode.",
}


def _datetimes_in_utc(data: Schema, path: str = "") -> None:
    """Every date-time of a validated input, as the same instant in UTC, or a 422 naming the field.

    ISO 8601 allows offsets up to ±23:59 and pydantic reads them all, but PostgreSQL refuses an
    offset past ±15:59 and either database fails on an instant past year 9999 (or before year 1)
    in UTC, where it is stored; both were a 500 deep in the database adapter.
    """
    for name in list(data.model_fields_set):
        value = getattr(data, name, None)
        field = f"{path}.{name}" if path else name
        if isinstance(value, Schema):
            _datetimes_in_utc(value, field)
        elif isinstance(value, dt.datetime):
            try:
                aware = value if timezone.is_aware(value) else timezone.make_aware(value)
                setattr(data, name, aware.astimezone(dt.UTC))
            except (OverflowError, ValueError) as exc:
                raise ValidationFailed([FieldError(
                    field, "The date-time must lie between 0001-01-01 and 9999-12-31 in UTC.",
                    "datetime_out_of_range")]) from exc


def refuse_unstorable_text(view_func):
    """Every operation: a NUL or lone surrogate anywhere in the query string or the JSON body is a 422
    naming the field, on SQLite and PostgreSQL alike, before anything is read or written; date-times
    arrive in UTC (see `_datetimes_in_utc`)."""

    @functools.wraps(view_func)
    def wrapper(request, *args, **kwargs):
        found = None
        for key in request.GET:
            found = _unstorable_text(key, key) or _unstorable_text(request.GET.getlist(key), key)
            if found:
                found = (key, found[1])
                break
        # a multipart upload (a file import) is not JSON and may be far larger than memory: not read here
        if (found is None and request.content_type != "multipart/form-data" and request.body
                and (b"\\u" in request.body or b"\x00" in request.body)):
            try:
                found = _unstorable_text(json.loads(request.body), "")
            except ValueError:  # not JSON: ninja has already refused it or does not read it
                found = None
        if found:
            field, code = found
            field = field or "body"
            message = _UNSTORABLE_MESSAGES[code]
            raise ValidationFailed([FieldError(field, message, code)])
        for value in kwargs.values():
            if isinstance(value, Schema):
                _datetimes_in_utc(value)
        return view_func(request, *args, **kwargs)

    return wrapper


def empty_body_is_empty_object(run):
    """An empty POST/PATCH/PUT body reads as `{}`: a required field is then reported by its own name
    ("last_name: Field required") and an action whose fields are all optional runs with defaults."""

    @functools.wraps(run)
    def wrapper(request, *args, **kwargs):
        if (request.method in ("POST", "PATCH", "PUT") and request.content_type != "multipart/form-data"
                and not request.body):
            request._body = b"{}"
        return run(request, *args, **kwargs)

    return wrapper


api.add_decorator(refuse_unstorable_text, mode="operation")
api.add_decorator(empty_body_is_empty_object, mode="view")


# --- the OpenAPI schema documents the problem responses -------------------------------------------

PROBLEM_SCHEMA = {
    "title": "ProblemDetails",
    "description": "RFC 9457 problem details (Content-Type: application/problem+json).",
    "type": "object",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string", "description": "URI naming the kind of problem"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "What went wrong, for a person"},
        "code": {"type": "string", "description": "Machine code, e.g. validation_failed, not_found"},
        "instance": {"type": "string", "description": "The request path"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message", "code"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"},
                               "code": {"type": "string"}},
            },
        },
    },
}

_PROBLEM_DESCRIPTIONS = {
    400: "Invalid JSON body (`invalid_json`), invalid Idempotency-Key, or a business rule refused the request",
    401: "No valid bearer token (`not_authenticated`)",
    403: "Your role does not allow this (`permission_denied`)",
    404: "No such record, or one you may not see (`not_found`)",
    409: "Conflict: not allowed from the record's current state, or an Idempotency-Key reused with "
         "another request (`idempotency_key_reused`)",
    413: "Request body too large (`payload_too_large`)",
    422: "Invalid parameters or fields (`validation_failed`), each named in `errors`",
}

IDEMPOTENCY_PARAMETER = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    "description": "Send the same key again to get the first response replayed instead of running the request "
                   "twice; the same key with another request is a 409. Kept per user.",
}


def document_problems(schema: dict) -> dict:
    """Add the problem responses each operation can give, and the Idempotency-Key header of POSTs."""
    schema.setdefault("components", {}).setdefault("schemas", {})["ProblemDetails"] = PROBLEM_SCHEMA
    ref = {"$ref": "#/components/schemas/ProblemDetails"}
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            statuses = [401, 403]
            if operation.get("parameters") or "requestBody" in operation:
                statuses.append(422)
            if method in ("post", "patch", "put"):
                statuses += [400, 409, 413]
            if "{" in path:
                statuses.append(404)
            responses = operation["responses"]
            for status in sorted(statuses):
                responses.setdefault(status, {
                    "description": _PROBLEM_DESCRIPTIONS[status],
                    "content": {"application/problem+json": {"schema": ref}},
                })
            if method == "post":
                parameters = operation.setdefault("parameters", [])
                if not any(p.get("name") == "Idempotency-Key" for p in parameters):
                    parameters.append(dict(IDEMPOTENCY_PARAMETER))
    return schema


def _register_routers() -> None:
    from l2c.analytics.api import router as analytics_reports_router
    from l2c.analytics.api_forecast import router as analytics_forecast_router
    from l2c.analytics.api_performance import router as analytics_performance_router
    from l2c.automation.api import router as automation_router
    from l2c.automation.api_rules import router as automation_rules_router
    from l2c.banking.api import router as banking_router
    from l2c.banking.api_unmatch import router as banking_unmatch_router
    from l2c.billing.api import router as billing_router
    from l2c.billing.api_reversals import router as billing_reversals_router
    from l2c.billing.api_runs import router as billing_runs_router
    from l2c.contracts.api import router as contracts_router
    from l2c.customers.api import router as customers_router
    from l2c.identity.api import router as identity_router
    from l2c.leads.api import router as leads_router
    from l2c.leads.assignment.api import router as assignment_router
    from l2c.leads.dedupe.api import router as dedupe_router
    from l2c.leads.imports.api import router as imports_router
    from l2c.leads.webforms.api import router as webforms_router
    from l2c.ledger.api import reports_router as ledger_reports_router
    from l2c.ledger.api import router as ledger_router
    from l2c.nurture.api import router as nurture_router
    from l2c.nurture.scoring.api import router as scoring_router
    from l2c.nurture.sequences.api import router as sequences_router
    from l2c.nurture.sequences.inbound_api import router as inbound_email_router
    from l2c.orders.api import router as orders_router
    from l2c.pipeline.api import router as pipeline_router
    from l2c.quoting.api import router as quotes_router
    from l2c.quoting.api_catalogue import router as catalogue_router
    from l2c.quoting.api_documents import router as documents_router
    from l2c.receivables.api import router as receivables_router
    from l2c.revenue.api import router as revenue_router

    api.add_router("/", identity_router)
    api.add_router("/", customers_router)
    # capture sub-routers first: their fixed paths (/leads/bulk, /leads/duplicates) before /leads/{id}
    api.add_router("/", webforms_router)
    api.add_router("/", imports_router)
    api.add_router("/", dedupe_router)
    api.add_router("/", assignment_router)
    api.add_router("/", leads_router)
    api.add_router("/", pipeline_router)
    api.add_router("/", catalogue_router)
    api.add_router("/", quotes_router)
    api.add_router("/", documents_router)
    api.add_router("/", contracts_router)
    api.add_router("/", orders_router)
    api.add_router("/ledger/", ledger_router)
    api.add_router("/", ledger_reports_router)
    api.add_router("/", billing_router)
    api.add_router("/", billing_runs_router)
    api.add_router("/", banking_router)
    api.add_router("/", billing_reversals_router)
    api.add_router("/", banking_unmatch_router)
    api.add_router("/", receivables_router)
    api.add_router("/", revenue_router)
    api.add_router("/", automation_router)
    api.add_router("/", automation_rules_router)
    api.add_router("/", nurture_router)
    api.add_router("/", sequences_router)
    api.add_router("/", inbound_email_router)
    api.add_router("/", scoring_router)
    api.add_router("/", analytics_reports_router)
    api.add_router("/", analytics_performance_router)
    api.add_router("/", analytics_forecast_router)
    api.add_router("/", "l2c.analytics.api_dashboard.router")


_register_routers()
