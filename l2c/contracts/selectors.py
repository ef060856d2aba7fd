"""Reads of contracts, always scoped to what the user may see (owner, team for managers, all for finance)."""
from __future__ import annotations

from django.utils.translation import gettext as _

from l2c.core import listing
from l2c.core.errors import NotFound, ValidationFailed
from l2c.core.validation import as_id

from .models import Contract, ContractStatus

CONTRACT_ORDERING = {
    "number": ("number",),
    "start_date": ("start_date",),
    "end_date": ("end_date",),
    "signed_at": ("signed_at",),
    "account": ("account__name",),
    "gross_total": ("gross_total",),
    "status": ("status",),
}
CONTRACT_SEARCH = ("number", "account__name", "quote__number", "quote__title", "signature__signer_name")


def contract_list(*, user, status: str | None = None, account=None, q: str | None = None,
                  ordering: str | None = None, owner=None):
    """The contracts `user` may see, filtered and searched (unknown status or ordering: 422)."""
    qs = Contract.objects.restrict(user).select_related("account", "owner", "quote", "signature")
    if status:
        if status not in ContractStatus.values:
            raise ValidationFailed.single("status", _("Choose one of %(s)s.") % {"s": ", ".join(ContractStatus.values)},
                                          "invalid_choice")
        qs = qs.filter(status=status)
    if account not in (None, ""):
        account_id = as_id(account)
        if account_id is None:
            raise ValidationFailed.single("account", _("Give a numeric id."), "invalid")
        qs = qs.filter(account_id=account_id)
    if owner not in (None, ""):
        owner_id = user.pk if owner == "me" else as_id(owner)
        if owner_id is None:
            raise ValidationFailed.single("owner", _('Give a user id or "me".'), "invalid")
        qs = qs.filter(owner_id=owner_id)
    qs = listing.search(qs, q, CONTRACT_SEARCH)
    return listing.order(qs, ordering, CONTRACT_ORDERING, "-start_date")


def contract_get(*, user, pk) -> Contract:
    contract = (Contract.objects.restrict(user)
                .select_related("account", "contact", "owner", "quote", "signature", "opportunity",
                                "renewal_of", "renewal_opportunity")
                .filter(pk=as_id(pk) if as_id(pk) is not None else 0).first())
    if contract is None:
        raise NotFound(_("No contract with id %(id)s.") % {"id": pk})
    return contract


def contract_lines(contract: Contract):
    return contract.lines.select_related("product").order_by("position", "id")


def contract_for_opportunity(*, user, opportunity_id: int):
    """The newest contract of an opportunity the user may see, or None (for a "Contract" link)."""
    return (Contract.objects.restrict(user).filter(opportunity_id=opportunity_id)
            .order_by("-signed_at", "-id").first())
