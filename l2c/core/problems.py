"""RFC 9457 problem details for the API."""
from __future__ import annotations

import json

from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt

CONTENT_TYPE = "application/problem+json"


def problem_body(status: int, title: str, detail: str, *, code: str, errors: list[dict] | None = None,
                 instance: str | None = None) -> dict:
    body = {
        "type": f"https://l2c.dev/problems/{code.replace('_', '-')}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = errors
    return body


def problem_response(status: int, title: str, detail: str, *, code: str, errors: list[dict] | None = None,
                     instance: str | None = None) -> HttpResponse:
    body = problem_body(status, title, detail, code=code, errors=errors, instance=instance)
    return HttpResponse(json.dumps(body, ensure_ascii=False), status=status, content_type=CONTENT_TYPE)


@csrf_exempt  # a POST with a session cookie to an unknown path is a 404, not Django's HTML CSRF page
def api_not_found(request, *args, **kwargs) -> HttpResponse:
    """404 for a path under /api/ that no route matches: problem details, not the HTML page."""
    return problem_response(404, "Not found", f"No API endpoint at {request.path}; see /api/v1/docs.",
                            code="not_found", instance=request.path)


# What the few errors made outside the API's own exception handlers mean (see ApiProblemMiddleware).
_GENERIC = {
    400: ("Bad request", "The request is malformed (host, headers or query string) and was not processed.",
          "bad_request"),
    403: ("Not allowed", "The request was refused.", "permission_denied"),
    404: ("Not found", "No such resource.", "not_found"),
    500: ("Internal error", "The server failed to process the request; nothing was saved. "
          "The error is logged; retrying with the same Idempotency-Key is safe.", "internal_error"),
}


class ApiProblemMiddleware:
    """Every error answer under /api/ is problem details, also those that do not come from the API's
    exception handlers: a method the path does not take (405, with `Allow`), a body over
    DATA_UPLOAD_MAX_MEMORY_SIZE (413, refused before anything reads it), Django's request checks
    (400) and an unhandled exception (500, still logged by Django)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith("/api/"):
            return self.get_response(request)
        too_big = self._body_too_large(request)
        if too_big is not None:
            return too_big
        response = self.get_response(request)
        if (response.status_code < 400 or getattr(response, "streaming", False)
                or response.get("Content-Type", "").startswith(CONTENT_TYPE)):
            return response
        return self._as_problem(request, response)

    @staticmethod
    def _body_too_large(request) -> HttpResponse | None:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if request.content_type == "multipart/form-data":  # Django's limit leaves out uploaded files
            return None
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return problem_response(400, "Bad request", "The Content-Length header is not a number.",
                                    code="bad_request", instance=request.path)
        if limit is not None and length > limit:
            return problem_response(413, "Request body too large",
                                    f"The request body has {length} bytes; at most {limit} are accepted.",
                                    code="payload_too_large", instance=request.path)
        return None

    @staticmethod
    def _as_problem(request, response) -> HttpResponse:
        status = response.status_code
        if status == 405:
            allowed = response.get("Allow", "")
            problem = problem_response(
                405, "Method not allowed",
                f"{request.method} is not allowed on {request.path}; allowed: {allowed or 'none'}.",
                code="method_not_allowed", instance=request.path)
            problem["Allow"] = allowed
            return problem
        title, detail, code = _GENERIC.get(status, ("Request failed", "The request failed.", "http_error"))
        problem = problem_response(status, title, detail, code=code, instance=request.path)
        for header in ("WWW-Authenticate", "Retry-After"):
            if header in response:
                problem[header] = response[header]
        return problem
