"""RFC 9457 problem details for the API."""
from __future__ import annotations

import json

from django.http import HttpResponse

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


def api_not_found(request, *args, **kwargs) -> HttpResponse:
    """404 for a path under /api/ that no route matches: problem details, not the HTML page."""
    return problem_response(404, "Not found", f"No API endpoint at {request.path}; see /api/v1/docs.",
                            code="not_found", instance=request.path)
