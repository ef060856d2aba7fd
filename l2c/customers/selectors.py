"""Reads of accounts and contacts, always limited to what the user may see."""
from __future__ import annotations

from django.db.models import Count, QuerySet
from django.utils.translation import gettext as _

from l2c.core import listing
from l2c.core.errors import NotFound, ValidationFailed
from l2c.core.validation import as_id

from .models import Account, Contact

ACCOUNT_SEARCH = ("name", "domain", "website", "phone", "city")
ACCOUNT_ORDERING = {
    "name": ("name",),
    "created_at": ("created_at",),
    "updated_at": ("updated_at",),
    "country": ("country",),
    "industry": ("industry",),
    "city": ("city",),
    "owner": ("owner__username",),
}
CONTACT_SEARCH = ("first_name", "last_name", "email", "phone", "mobile", "account__name")
CONTACT_ORDERING = {
    "last_name": ("last_name", "first_name"),
    "first_name": ("first_name",),
    "email": ("email",),
    "account": ("account__name",),
    "country": ("country",),
    "created_at": ("created_at",),
    "updated_at": ("updated_at",),
    "owner": ("owner__username",),
}


def parse_owner(value, user) -> dict:
    """The `owner` filter: a user id, "me", or "none" (unassigned)."""
    if value in (None, ""):
        return {}
    text = str(value).strip().lower()
    if text == "me":
        return {"owner_id": user.pk}
    if text == "none":
        return {"owner__isnull": True}
    if as_id(text) is not None:
        return {"owner_id": as_id(text)}
    raise ValidationFailed.single("owner", _("Use a user id, “me” or “none”."), "invalid_owner_filter")


def parse_id(value, field: str) -> int | None:
    if value in (None, ""):
        return None
    pk = as_id(value if isinstance(value, int) else str(value))
    if pk is None:
        raise ValidationFailed.single(field, _("Not a valid id: %(value)r.") % {"value": value}, "invalid_id")
    return pk


def account_list(*, user, q: str = "", filters: dict | None = None, ordering: str | None = None) -> QuerySet:
    """Accounts `user` may see. filters: owner, country, industry, size."""
    filters = filters or {}
    qs = Account.objects.restrict(user).select_related("owner").annotate(contacts_count=Count("contacts"))
    qs = qs.filter(**parse_owner(filters.get("owner"), user))
    if filters.get("country"):
        qs = qs.filter(country=str(filters["country"]).strip().upper())
    if filters.get("industry"):
        qs = qs.filter(industry__iexact=str(filters["industry"]).strip())
    if filters.get("size"):
        qs = qs.filter(size=filters["size"])
    qs = listing.search(qs, q, ACCOUNT_SEARCH)
    return listing.order(qs, ordering, ACCOUNT_ORDERING, "name")


def account_get(*, user, pk) -> Account:
    account = Account.objects.restrict(user).select_related("owner").filter(pk=pk).first() if as_id(pk) is not None else None
    if account is None:
        raise NotFound(_("No account with id %(id)s.") % {"id": pk})
    return account


def contact_list(*, user, q: str = "", filters: dict | None = None, ordering: str | None = None) -> QuerySet:
    """Contacts `user` may see. filters: owner, account, country."""
    filters = filters or {}
    qs = Contact.objects.restrict(user).filter(merged_into__isnull=True).select_related("owner", "account")
    qs = qs.filter(**parse_owner(filters.get("owner"), user))
    account_id = parse_id(filters.get("account"), "account")
    if account_id is not None:
        qs = qs.filter(account_id=account_id)
    if filters.get("country"):
        qs = qs.filter(country=str(filters["country"]).strip().upper())
    qs = listing.search(qs, q, CONTACT_SEARCH)
    return listing.order(qs, ordering, CONTACT_ORDERING, "last_name")


def contact_get(*, user, pk) -> Contact:
    contact = (Contact.objects.restrict(user).filter(merged_into__isnull=True).select_related("owner", "account")
               .filter(pk=pk).first()
               if as_id(pk) is not None else None)
    if contact is None:
        raise NotFound(_("No contact with id %(id)s.") % {"id": pk})
    return contact


def contacts_of_account(*, user, account: Account) -> QuerySet:
    """The account's contacts `user` may see (a rep may see an account but not a colleague's contact)."""
    return (Contact.objects.restrict(user).filter(account=account, merged_into__isnull=True).select_related("owner")
            .order_by("last_name", "id"))


def contact_merged_into(*, user, pk) -> int | None:
    """For a contact merged into another that `user` may see: the contact it now lives in."""
    if as_id(pk) is None:
        return None
    target = Contact.objects.restrict(user).filter(pk=pk).values_list("merged_into_id", flat=True).first()
    for _hop in range(20):
        nxt = Contact.objects.filter(pk=target).values_list("merged_into_id", flat=True).first() if target else None
        if nxt is None:
            break
        target = nxt
    return target
