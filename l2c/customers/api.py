"""API routes of the customers app: /accounts and /contacts (list, create, read, update, history)."""

import datetime as dt
from typing import Literal

from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate
from pydantic import ConfigDict

from l2c.core import audit, exports, listing
from l2c.core.api_types import LimitOffsetPagination, RecordId
from l2c.core.errors import ValidationFailed
from l2c.identity.models import User

from . import selectors, services
from .exports import ACCOUNT_COLUMNS, CONTACT_COLUMNS
from .models import Account, Contact

router = Router(tags=["customers"])


def max_len(model, field: str) -> int:
    return model._meta.get_field(field).max_length


# --- shared schemas (leads and later apps reuse them) ---------------------------------------------

class StrictSchema(Schema):
    """Input schema that refuses unknown fields, so a misspelt field is an error, not silently lost."""

    model_config = ConfigDict(extra="forbid")


class UserRef(Schema):
    id: int
    username: str
    name: str

    @staticmethod
    def resolve_name(obj) -> str:
        return str(obj)


class AccountRef(Schema):
    id: int
    name: str


class AuditEventOut(Schema):
    id: int
    occurred_at: dt.datetime
    actor_id: int | None
    actor: str = Field(..., alias="actor_label")
    action: str
    changes: dict


def resolve_user(user_id: int | None, field: str = "owner") -> User | None:
    """An owner id from the request, as a user (existence only; the service checks the rest)."""
    if user_id is None:
        return None
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        raise ValidationFailed.single(field, _("No user with id %(id)s.") % {"id": user_id}, "not_found")
    return user


def history_of(instance):
    return audit.history_for(instance)


# --- accounts -------------------------------------------------------------------------------------

class AccountOut(Schema):
    id: int
    name: str
    website: str
    domain: str
    industry: str
    size: str
    phone: str
    street: str
    city: str
    region: str
    postal_code: str
    country: str
    segment: str
    description: str
    owner: UserRef | None
    contacts_count: int | None = None
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_contacts_count(obj) -> int | None:
        return getattr(obj, "contacts_count", None)


def _a(field: str) -> int:
    return max_len(Account, field)


class AccountIn(StrictSchema):
    name: str = Field(..., max_length=_a("name"))
    website: str = Field("", max_length=_a("website"))
    domain: str = Field("", max_length=_a("domain"))
    industry: str = Field("", max_length=_a("industry"))
    size: str = Field("", max_length=_a("size"))
    phone: str = Field("", max_length=_a("phone"))
    street: str = Field("", max_length=_a("street"))
    city: str = Field("", max_length=_a("city"))
    region: str = Field("", max_length=_a("region"))
    postal_code: str = Field("", max_length=_a("postal_code"))
    country: str = Field("", max_length=_a("country"))
    segment: str = Field("", max_length=_a("segment"), description="Customer segment; picks the quote's price book")
    description: str = Field("", max_length=20000)
    owner: int | None = Field(None, description="User id; defaults to the caller. null: no owner.")


class AccountPatch(StrictSchema):
    name: str | None = Field(None, max_length=_a("name"))
    website: str | None = Field(None, max_length=_a("website"))
    domain: str | None = Field(None, max_length=_a("domain"))
    industry: str | None = Field(None, max_length=_a("industry"))
    size: str | None = Field(None, max_length=_a("size"))
    phone: str | None = Field(None, max_length=_a("phone"))
    street: str | None = Field(None, max_length=_a("street"))
    city: str | None = Field(None, max_length=_a("city"))
    region: str | None = Field(None, max_length=_a("region"))
    postal_code: str | None = Field(None, max_length=_a("postal_code"))
    country: str | None = Field(None, max_length=_a("country"))
    segment: str | None = Field(None, max_length=_a("segment"))
    description: str | None = Field(None, max_length=20000)
    owner: int | None = None


AccountOrdering = Literal[tuple(listing.ordering_choices(selectors.ACCOUNT_ORDERING))]  # type: ignore[valid-type]
ContactOrdering = Literal[tuple(listing.ordering_choices(selectors.CONTACT_ORDERING))]  # type: ignore[valid-type]


class AccountFilters(Schema):
    q: str | None = Field(None, max_length=200, description="Search name, domain, website, phone, city")
    owner: str | None = Field(None, description='User id, "me" or "none"')
    country: str | None = Field(None, max_length=2)
    industry: str | None = Field(None, max_length=100)
    size: str | None = Field(None, max_length=20)
    ordering: AccountOrdering | None = None


def _payload(data: Schema, *, unset: bool) -> dict:
    values = data.dict(exclude_unset=unset)
    if "owner" in values:
        values["owner"] = resolve_user(values["owner"])
    return values


@router.get("/accounts", response=list[AccountOut])
@paginate(LimitOffsetPagination)
def list_accounts(request, filters: Query[AccountFilters]):
    params = filters.dict(exclude={"q", "ordering"})
    return selectors.account_list(user=request.auth, q=filters.q or "", filters=params, ordering=filters.ordering)


@router.post("/accounts", response={201: AccountOut})
def create_account(request, data: AccountIn):
    account = services.account_create(actor=request.auth, **_payload(data, unset=True))
    return Status(201, selectors.account_get(user=request.auth, pk=account.pk))


@router.get("/accounts/{int:account_id}", response=AccountOut)
def get_account(request, account_id: int):
    return selectors.account_get(user=request.auth, pk=account_id)


@router.patch("/accounts/{int:account_id}", response=AccountOut)
def update_account(request, account_id: int, data: AccountPatch):
    account = selectors.account_get(user=request.auth, pk=account_id)
    services.account_update(account=account, actor=request.auth, **_payload(data, unset=True))
    return selectors.account_get(user=request.auth, pk=account_id)


@router.get("/accounts/{int:account_id}/history", response=list[AuditEventOut])
@paginate(LimitOffsetPagination)
def account_history(request, account_id: int):
    return history_of(selectors.account_get(user=request.auth, pk=account_id))


# --- contacts -------------------------------------------------------------------------------------

class ContactOut(Schema):
    id: int
    account: AccountRef
    first_name: str
    last_name: str
    full_name: str
    title: str
    email: str
    phone: str
    mobile: str
    country: str
    owner: UserRef | None
    created_at: dt.datetime
    updated_at: dt.datetime


def _c(field: str) -> int:
    return max_len(Contact, field)


class ContactIn(StrictSchema):
    account: int = Field(..., description="Account id")
    first_name: str = Field("", max_length=_c("first_name"))
    last_name: str = Field(..., max_length=_c("last_name"))
    title: str = Field("", max_length=_c("title"))
    email: str = Field("", max_length=_c("email"))
    phone: str = Field("", max_length=_c("phone"))
    mobile: str = Field("", max_length=_c("mobile"))
    country: str = Field("", max_length=_c("country"))
    owner: int | None = Field(None, description="User id; defaults to the caller. null: no owner.")


class ContactPatch(StrictSchema):
    account: int | None = None
    first_name: str | None = Field(None, max_length=_c("first_name"))
    last_name: str | None = Field(None, max_length=_c("last_name"))
    title: str | None = Field(None, max_length=_c("title"))
    email: str | None = Field(None, max_length=_c("email"))
    phone: str | None = Field(None, max_length=_c("phone"))
    mobile: str | None = Field(None, max_length=_c("mobile"))
    country: str | None = Field(None, max_length=_c("country"))
    owner: int | None = None


class ContactFilters(Schema):
    q: str | None = Field(None, max_length=200, description="Search name, e-mail, phone, account name")
    owner: str | None = Field(None, description='User id, "me" or "none"')
    account: RecordId | None = None
    country: str | None = Field(None, max_length=2)
    ordering: ContactOrdering | None = None


def _resolve_account(request, values: dict) -> dict:
    if "account" in values:
        if values["account"] is None:
            raise ValidationFailed.single("account", _("A contact belongs to an account; choose one."), "required")
        account = Account.objects.restrict(request.auth).filter(pk=values["account"]).first()
        if account is None:
            raise ValidationFailed.single("account", _("No account with id %(id)s.") % {"id": values["account"]},
                                          "not_found")
        values["account"] = account
    return values


@router.get("/contacts", response=list[ContactOut])
@paginate(LimitOffsetPagination)
def list_contacts(request, filters: Query[ContactFilters]):
    params = filters.dict(exclude={"q", "ordering"})
    return selectors.contact_list(user=request.auth, q=filters.q or "", filters=params, ordering=filters.ordering)


@router.post("/contacts", response={201: ContactOut})
def create_contact(request, data: ContactIn):
    values = _resolve_account(request, _payload(data, unset=True))
    contact = services.contact_create(actor=request.auth, **values)
    return Status(201, selectors.contact_get(user=request.auth, pk=contact.pk))


@router.get("/contacts/{int:contact_id}", response=ContactOut)
def get_contact(request, contact_id: int):
    return selectors.contact_get(user=request.auth, pk=contact_id)


@router.patch("/contacts/{int:contact_id}", response=ContactOut)
def update_contact(request, contact_id: int, data: ContactPatch):
    contact = selectors.contact_get(user=request.auth, pk=contact_id)
    values = _resolve_account(request, _payload(data, unset=True))
    services.contact_update(contact=contact, actor=request.auth, **values)
    return selectors.contact_get(user=request.auth, pk=contact_id)


@router.get("/contacts/{int:contact_id}/history", response=list[AuditEventOut])
@paginate(LimitOffsetPagination)
def contact_history(request, contact_id: int):
    return history_of(selectors.contact_get(user=request.auth, pk=contact_id))


# --- exports --------------------------------------------------------------------------------------

@router.get("/accounts/export", openapi_extra=exports.OPENAPI_FILE_RESPONSE)
def export_accounts(request, filters: Query[AccountFilters], format: exports.ExportFormat = "csv"):
    """Every account the list would return for these filters (no pagination), as CSV (UTF-8 with BOM) or XLSX."""
    params = filters.dict(exclude={"q", "ordering"})
    qs = selectors.account_list(user=request.auth, q=filters.q or "", filters=params, ordering=filters.ordering)
    return exports.export_response(queryset=qs, columns=ACCOUNT_COLUMNS, fmt=format, actor=request.auth,
                                   stem="accounts", object_type="customers.account", sheet_title=_("Accounts"),
                                   filters={"q": filters.q, **params, "ordering": filters.ordering})


@router.get("/contacts/export", openapi_extra=exports.OPENAPI_FILE_RESPONSE)
def export_contacts(request, filters: Query[ContactFilters], format: exports.ExportFormat = "csv"):
    """Every contact the list would return for these filters (no pagination), as CSV (UTF-8 with BOM) or XLSX."""
    params = filters.dict(exclude={"q", "ordering"})
    qs = selectors.contact_list(user=request.auth, q=filters.q or "", filters=params, ordering=filters.ordering)
    return exports.export_response(queryset=qs, columns=CONTACT_COLUMNS, fmt=format, actor=request.auth,
                                   stem="contacts", object_type="customers.contact", sheet_title=_("Contacts"),
                                   filters={"q": filters.q, **params, "ordering": filters.ordering})
