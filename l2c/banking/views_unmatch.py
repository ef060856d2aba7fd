"""The "Unmatch" action of the statement page: POST a reason, the line's payment is reversed and the line
is back in review. Finance and admin only (the statement pages are).

Wire into l2c/banking/urls.py: `from .views_unmatch import urlpatterns as unmatch_urlpatterns` and
`urlpatterns += unmatch_urlpatterns` (name `banking:line-unmatch`,
/banking/statements/<id>/lines/<line id>/unmatch/), and in banking/statement_detail.html, in the matched
branch of a line: `{% include "banking/_line_unmatch.html" %}`.
"""
from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect
from django.urls import path
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from l2c.core.errors import DomainError

from .unmatch import bank_line_unmatch
from .views import _detail_url, _error_text, _line_or_404, banking_page


@banking_page
@require_POST
def line_unmatch(request, pk: int, line_pk: int):
    line = _line_or_404(request.user, pk, line_pk)
    try:
        line = bank_line_unmatch(actor=request.user, line=line, reason=request.POST.get("reason") or "")
    except DomainError as exc:
        messages.error(request, _("Line %(n)s: %(error)s") % {"n": line.position, "error": _error_text(exc)})
    else:
        messages.success(request, _("Line %(n)s unmatched: its payment is reversed and the line is back in "
                                    "review.") % {"n": line.position})
    return redirect(f"{_detail_url(pk)}#line-{line.pk}")


urlpatterns = [
    path("banking/statements/<int:pk>/lines/<int:line_pk>/unmatch/", line_unmatch, name="line-unmatch"),
]
