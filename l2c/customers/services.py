"""Writes for accounts and contacts. Each validates its input, runs in one transaction and
records an audit event; API and UI both come through here."""
from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from l2c.core import audit, events
from l2c.core.errors import FieldError, PermissionDenied, ValidationFailed
from l2c.core.validation import (
    FREE_MAIL_DOMAINS,
    check_choice,
    check_country,
    check_email,
    check_max_lengths,
    check_owner,
    check_required,
    email_domain,
    normalise_email,
    raise_if_errors,
)

from .models import Account, CompanySize, Contact

ACCOUNT_FIELDS = ("name", "website", "domain", "industry", "size", "phone", "street", "city", "region",
                  "postal_code", "country", "segment", "owner", "description")
# Default for `owner` on create: the acting user (pass owner=None for no owner).
ACTOR = object()
CONTACT_FIELDS = ("account", "first_name", "last_name", "title", "email", "phone", "mobile", "country", "owner")
_STRIPPED = {"name", "website", "domain", "industry", "phone", "street", "city", "region", "postal_code",
             "country", "segment", "first_name", "last_name", "title", "email", "mobile"}


def require_customer_writer(actor) -> None:
    """Sales roles maintain customer master data; finance reads it."""
    if actor is not None and not getattr(actor, "is_sales", False):
        raise PermissionDenied(_("Your role can read customers but not change them."))


def _reject_unknown(fields: dict, allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        raise ValidationFailed([FieldError(f, _("This field cannot be set here."), "unknown_field") for f in unknown])


def _clean_strings(values: dict) -> dict:
    for name in _STRIPPED & set(values):
        values[name] = (values[name] or "").strip()
    if values.get("country"):
        values["country"] = values["country"].upper()
    if "email" in values:
        values["email"] = normalise_email(values["email"])
    if values.get("domain"):
        values["domain"] = email_domain(values["domain"])
    return values


def _account_errors(values: dict, actor, *, creating: bool) -> list[FieldError]:
    errors = check_max_lengths(Account, values)
    if creating or "name" in values:
        errors += check_required(values, "name")
    errors += check_choice(values, "size", CompanySize, blank=True)
    errors += check_country(values)
    domain = values.get("domain")
    if domain and ("." not in domain or " " in domain or "@" in domain):
        errors.append(FieldError("domain", _("%(value)r is not a domain such as example.com.") % {"value": domain},
                                 "invalid_domain"))
    if "owner" in values:
        errors += check_owner(values["owner"], actor)
    return errors


@transaction.atomic
def account_create(*, actor, name: str, website: str = "", domain: str = "", industry: str = "", size: str = "",
                   phone: str = "", street: str = "", city: str = "", region: str = "", postal_code: str = "",
                   country: str = "", segment: str = "", description: str = "", owner=ACTOR) -> Account:
    """Create an account. `owner` defaults to the actor; pass `owner=None` for no owner."""
    require_customer_writer(actor)
    values = _clean_strings(dict(
        name=name, website=website, domain=domain, industry=industry, size=size, phone=phone, street=street,
        city=city, region=region, postal_code=postal_code, country=country, segment=segment,
        description=description or "",
        owner=actor if owner is ACTOR else owner,
    ))
    if not values["domain"] and values["website"]:
        derived = email_domain(values["website"])
        if "." in derived and derived not in FREE_MAIL_DOMAINS:
            values["domain"] = derived[:200]
    errors = _account_errors(values, actor, creating=True)
    raise_if_errors(errors)
    account = Account.objects.create(**values)
    audit.record(actor=actor, action=audit.Action.CREATE, instance=account)
    events.publish("account.created", {"account_id": account.pk, "actor_id": getattr(actor, "pk", None)})
    return account


@transaction.atomic
def account_update(*, account: Account, actor, **fields) -> Account:
    """Change any of ACCOUNT_FIELDS; records the before/after of what changed."""
    require_customer_writer(actor)
    _reject_unknown(fields, ACCOUNT_FIELDS)
    values = _clean_strings(dict(fields))
    if values.get("size") is None and "size" in values:
        values["size"] = ""
    if "description" in values:
        values["description"] = values["description"] or ""
    errors = _account_errors(values, actor, creating=False)
    raise_if_errors(errors)
    account = Account.objects.select_for_update().get(pk=account.pk)
    before = audit.snapshot(account)
    for name, value in values.items():
        setattr(account, name, value)
    account.save()
    audit.record(actor=actor, action=audit.Action.UPDATE, instance=account, before=before)
    return account


def _contact_errors(values: dict, actor, *, creating: bool) -> list[FieldError]:
    errors = check_max_lengths(Contact, values)
    if creating or "last_name" in values:
        errors += check_required(values, "last_name")
    if (creating or "account" in values) and values.get("account") is None:
        errors.append(FieldError("account", _("A contact belongs to an account; choose one."), "required"))
    errors += check_email(values)
    errors += check_country(values)
    if "owner" in values:
        errors += check_owner(values["owner"], actor)
    return errors


def _check_account_visible(account: Account | None, actor) -> None:
    # The caller loaded the account for the actor, but a service must not trust that.
    if account is not None and actor is not None and not Account.objects.restrict(actor).filter(pk=account.pk).exists():
        raise ValidationFailed.single("account", _("No such account."), "not_found")


@transaction.atomic
def contact_create(*, actor, account: Account | None, last_name: str, first_name: str = "", title: str = "",
                   email: str = "", phone: str = "", mobile: str = "", country: str = "", owner=ACTOR) -> Contact:
    """Create a contact at `account`. `owner` defaults to the actor; country to the account's."""
    require_customer_writer(actor)
    values = _clean_strings(dict(
        account=account, first_name=first_name, last_name=last_name, title=title, email=email, phone=phone,
        mobile=mobile, country=country, owner=actor if owner is ACTOR else owner,
    ))
    errors = _contact_errors(values, actor, creating=True)
    raise_if_errors(errors)
    _check_account_visible(account, actor)
    if not values["country"]:
        values["country"] = account.country
    contact = Contact.objects.create(**values)
    audit.record(actor=actor, action=audit.Action.CREATE, instance=contact)
    events.publish("contact.created", {"contact_id": contact.pk, "account_id": account.pk,
                                       "actor_id": getattr(actor, "pk", None)})
    return contact


@transaction.atomic
def contact_update(*, contact: Contact, actor, **fields) -> Contact:
    require_customer_writer(actor)
    _reject_unknown(fields, CONTACT_FIELDS)
    values = _clean_strings(dict(fields))
    errors = _contact_errors(values, actor, creating=False)
    raise_if_errors(errors)
    if "account" in values:
        _check_account_visible(values["account"], actor)
    contact = Contact.objects.select_for_update().get(pk=contact.pk)
    before = audit.snapshot(contact)
    for name, value in values.items():
        setattr(contact, name, value)
    contact.save()
    audit.record(actor=actor, action=audit.Action.UPDATE, instance=contact, before=before)
    return contact


def account_find_match(*, name: str = "", domain: str = "", user=None) -> Account | None:
    """The existing account a new company most likely is: the same name (ignoring case), else the
    same e-mail domain. `domain` may be an e-mail address or a web address; free-mail domains
    (gmail.com, qq.com, …) never match. With `user`, only accounts that user may see are considered.
    """
    qs = Account.objects.all() if user is None else Account.objects.restrict(user)
    name = (name or "").strip()
    if name:
        match = qs.filter(name__iexact=name).order_by("id").first()
        if match is not None:
            return match
    host = email_domain(domain)
    if host and "." in host and host not in FREE_MAIL_DOMAINS:
        return qs.filter(domain=host).order_by("id").first()
    return None


def contact_merge_apply(*, survivor: Contact, values: dict, merged_ids: list[int], merged_into_id: int | None) -> None:
    """The contact rows a duplicate merge (or its undo) writes: the survivor's chosen values (by attname)
    and `merged_into` of the merged contacts. Only for leads.dedupe.services, which checks visibility,
    locks the rows, moves related rows and writes the audit events in the same transaction."""
    if values:
        for attname, value in values.items():
            setattr(survivor, attname, value)
        survivor.save(update_fields=[*values, "updated_at"])
    from django.utils import timezone

    Contact.objects.filter(pk__in=merged_ids).update(merged_into_id=merged_into_id, updated_at=timezone.now())
