"""Tracking endpoints of nurture e-mails (public: the recipient's mail client calls them, nobody signs in).

`/t/o/<token>.gif` always answers the 1×1 GIF (also for an unknown token: a broken image tells nothing).
`/t/c/<token>/?u=<url>&s=<signature>` redirects only to a URL signed for that token; anything else is a 400
page and never a redirect (no open redirect).
"""
from __future__ import annotations

from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.utils.html import escape
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .sequences import tracking


def _client(request) -> tuple[str | None, str]:
    return request.META.get("REMOTE_ADDR") or None, request.META.get("HTTP_USER_AGENT", "")


@never_cache
@require_GET
def open_pixel(request, token: str):
    ip, user_agent = _client(request)
    tracking.record_open(token, ip=ip, user_agent=user_agent)
    return HttpResponse(tracking.PIXEL, content_type="image/gif")


@never_cache
@require_GET
def click(request, token: str):
    url = request.GET.get("u", "")
    if not tracking.verify(token, url, request.GET.get("s", "")):
        title = escape(_("This link is not valid"))
        text = escape(_("The link is damaged or was changed. Open the e-mail again and use the link there."))
        return HttpResponseBadRequest(
            f'<!doctype html><html><head><meta charset="utf-8"><title>{title}</title></head>'
            f"<body><h1>{title}</h1><p>{text}</p></body></html>", content_type="text/html; charset=utf-8")
    ip, user_agent = _client(request)
    tracking.record_click(token, url, ip=ip, user_agent=user_agent)
    return HttpResponseRedirect(url)
