"""Contract pages: list, detail (with the signature's verification), signed PDF, terminate and renew."""
from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from l2c.core.errors import DomainError, NotFound
from l2c.core.forms import show_domain_error
from l2c.core.history import history_rows

from . import selectors, services
from .api import signed_pdf_response
from .forms import ContractFilterForm, TerminateForm


def _get_or_404(user, pk):
    try:
        return selectors.contract_get(user=user, pk=pk)
    except NotFound as exc:
        raise Http404(exc.message) from exc


@login_required
@require_GET
def contract_list(request):
    form = ContractFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    qs = selectors.contract_list(user=request.user, q=filters.get("q") or None, status=filters.get("status") or None)
    page_obj = Paginator(qs, settings.L2C_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "contracts/contract_list.html", {"form": form, "page_obj": page_obj})


def verification_of(contract):
    """The verdict on the stored signed PDF: does its signature hold, and is it the one we recorded?"""
    from l2c.contracts import signing

    signature = contract.signature
    if signature is None:
        return None
    try:
        result = signing.verify_document(bytes(signature.signed_pdf))
    except Exception as exc:  # a broken document must not break the page; the verdict says why
        return {"valid": False, "intact": False, "problems": [str(exc) or exc.__class__.__name__], "matches": False}
    matches = getattr(result.signature, "pk", None) == signature.pk
    problems = list(result.problems)
    if result.valid and not matches:
        problems.append(_("The document does not match the signature record stored for this contract."))
    return {"valid": bool(result.valid and matches), "intact": result.intact, "signer": result.signer,
            "signed_at": result.signed_at, "sha256": result.sha256, "problems": problems, "matches": matches}


@login_required
@require_GET
def contract_detail(request, pk: int):
    contract = _get_or_404(request.user, pk)
    return render(request, "contracts/contract_detail.html", {
        "contract": contract,
        "lines": selectors.contract_lines(contract),
        "verification": verification_of(contract),
        "terminate_form": TerminateForm(initial={"date": contract.end_date}),
        "can_terminate": services.can_terminate(request.user, contract),
        "can_renew": services.can_renew(request.user, contract),
        "events": history_rows(contract),
    })


@login_required
@require_GET
def contract_signed_pdf(request, pk: int):
    return signed_pdf_response(_get_or_404(request.user, pk))


@login_required
@require_POST
def contract_terminate(request, pk: int):
    contract = _get_or_404(request.user, pk)
    form = TerminateForm(request.POST)
    status = 422
    if form.is_valid():
        try:
            services.contract_terminate(contract=contract, actor=request.user, **form.cleaned_data)
        except DomainError as exc:
            if exc.status == 403:
                raise DjangoPermissionDenied(exc.message) from exc
            show_domain_error(form, exc)
            status = exc.status
        else:
            messages.success(request, _("Contract %(number)s terminated.") % {"number": contract.number})
            return redirect("contracts:contract-detail", pk=contract.pk)
    return render(request, "contracts/contract_detail.html", {
        "contract": contract, "lines": selectors.contract_lines(contract),
        "verification": verification_of(contract), "terminate_form": form, "show_terminate": True,
        "can_terminate": services.can_terminate(request.user, contract),
        "can_renew": services.can_renew(request.user, contract), "events": history_rows(contract),
    }, status=status)


@login_required
@require_POST
def contract_renew(request, pk: int):
    contract = _get_or_404(request.user, pk)
    try:
        contract = services.contract_renew(contract=contract, actor=request.user)
    except DomainError as exc:
        if exc.status == 403:
            raise DjangoPermissionDenied(exc.message) from exc
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Renewal started: opportunity created."))
        if contract.renewal_opportunity_id:
            return redirect("pipeline:opportunity-detail", pk=contract.renewal_opportunity_id)
    return redirect("contracts:contract-detail", pk=contract.pk)


@login_required
@require_GET
def opportunity_contract(request, pk: int):
    """From an opportunity to its contract (the "Contract" link on the opportunity page)."""
    contract = selectors.contract_for_opportunity(user=request.user, opportunity_id=pk)
    if contract is None:
        raise Http404(_("This opportunity has no contract you can see."))
    return redirect("contracts:contract-detail", pk=contract.pk)
