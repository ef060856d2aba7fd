"""The payment page with its "Reverse payment" form: the payment, what it paid, its ledger entries and, for
finance and admin while it is not reversed, a form (reason, date) that calls `reversals.payment_reverse`.

Wire into l2c/billing/urls.py: `from .views_reversals import urlpatterns as reversal_urlpatterns` and
`urlpatterns += reversal_urlpatterns` (name `billing:payment-reverse`, /payments/<id>/reverse/).
"""
from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from l2c.core.errors import DomainError, InvalidTransition, NotFound
from l2c.core.forms import show_domain_error

from . import reversals, selectors, services
from .views import _require_billing


class ReverseForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=services.MAX_REASON,
                             widget=forms.Textarea(attrs={"rows": 2}),
                             help_text=gettext_lazy("E.g. recorded in error, or the payment bounced."))
    date = forms.DateField(label=gettext_lazy("Reversal date"), widget=forms.DateInput(attrs={"type": "date"}),
                           help_text=gettext_lazy("The date of the reversing ledger entry; it must lie in an open "
                                                  "period."))


def _payment_or_404(user, pk):
    try:
        return selectors.payment_get(user=user, pk=pk)
    except NotFound as exc:
        raise Http404(exc.message) from exc


@login_required
def payment_reverse(request, pk: int):
    payment = _payment_or_404(request.user, pk)
    status = 200
    form = None
    if request.method == "POST":
        _require_billing(request.user)
        form = ReverseForm(request.POST)
        if form.is_valid():
            try:
                reversals.payment_reverse(actor=request.user, payment=payment, reason=form.cleaned_data["reason"],
                                          date=form.cleaned_data["date"])
            except InvalidTransition as exc:  # reversed meanwhile: the page shows by whom
                messages.error(request, exc.message)
                return redirect("billing:payment-reverse", pk=pk)
            except DomainError as exc:
                show_domain_error(form, exc)
            else:
                messages.success(request, _("Payment %(n)s reversed.") % {"n": payment.number})
                return redirect("billing:payment-reverse", pk=pk)
        status = 422
        payment = _payment_or_404(request.user, pk)
    elif reversals.can_reverse(request.user, payment):
        form = ReverseForm(initial={"date": max(timezone.localdate(), payment.date)})
    allocations = list(payment.allocations.select_related("invoice").order_by("date", "id"))
    return render(request, "billing/payment_reversal.html", {
        "payment": payment, "allocations": allocations, "form": form,
        "can_reverse": reversals.can_reverse(request.user, payment), "nav": "payments"}, status=status)


urlpatterns = [
    path("payments/<int:pk>/reverse/", payment_reverse, name="payment-reverse"),
]
