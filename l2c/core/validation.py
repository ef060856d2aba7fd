"""Small input checks shared by every app's services: max lengths taken from the model, ISO codes,
e-mail syntax, amounts, who may own a record. Each returns `FieldError`s so a service can report
all problems of a request at once (and the UI can show each beside its field).
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import models
from django.utils.translation import gettext as _

from .errors import FieldError
from .visibility import Role

# ISO 3166-1 alpha-2 (officially assigned codes).
COUNTRY_CODES = frozenset("""
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS
    BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE
    EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM
    HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC
    LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA
    NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW
    SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO
    TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
""".split())

# ISO 4217 currency codes (including fund and precious-metal codes).
CURRENCY_CODES = frozenset("""
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN BWP
    BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB
    EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HRK HTG HUF IDR ILS INR IQD IRR ISK JMD JOD
    JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU
    MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD
    RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY
    TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XAG XAU XBA XBB XBC XBD XCD
    XCG XDR XOF XPD XPF XPT XSU XUA YER ZAR ZMW ZWG ZWL
""".split())

# Free e-mail providers: their domain says nothing about the company a person works for.
FREE_MAIL_DOMAINS = frozenset("""
    gmail.com googlemail.com yahoo.com yahoo.co.uk yahoo.co.jp hotmail.com outlook.com live.com msn.com
    icloud.com me.com mac.com aol.com gmx.de gmx.net web.de mail.ru yandex.ru proton.me protonmail.com
    qq.com 163.com 126.com sina.com sina.cn sohu.com yeah.net foxmail.com aliyun.com 139.com
    naver.com hanmail.net
""".split())


# The largest primary key (BigAutoField) on every supported database: a bigger number in a lookup
# on a foreign key overflows the database integer (OverflowError on SQLite, DataError on PostgreSQL).
MAX_ID = 2**63 - 1


def parse_date(value, field: str, errors: list[FieldError]) -> dt.date | None:
    """A date (a date, a datetime's date, or ISO text YYYY-MM-DD); None when empty; on bad text an error naming
    `field` is added to `errors` and None returned."""
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        errors.append(FieldError(field, _("Enter a date as YYYY-MM-DD (got %(value)r).") % {"value": value},
                                 "invalid"))
        return None


def as_id(value) -> int | None:
    """`value` as a record id (a positive int, or a string of ASCII digits, up to MAX_ID), else None.

    `str.isdigit()` alone is not enough: it accepts "²" or "١٢", which `int()` then refuses or reads.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        if not (text.isascii() and text.isdigit()):
            return None
        value = int(text)
    if isinstance(value, int) and 1 <= value <= MAX_ID:
        return value
    return None


def is_country_code(value: str) -> bool:
    return value in COUNTRY_CODES


def is_iso_currency(value: str) -> bool:
    return value in CURRENCY_CODES


def normalise_email(value: str) -> str:
    """Strip blanks and lower-case the domain (the local part is case-sensitive by the RFC)."""
    value = (value or "").strip()
    local, at, domain = value.rpartition("@")
    if not at:
        return value
    return f"{local}@{domain.lower()}"


def email_domain(value: str) -> str:
    """The lower-cased domain of an e-mail address, or of a bare domain / web address."""
    value = (value or "").strip().lower()
    if "@" in value:
        return value.rpartition("@")[2]
    for prefix in ("https://", "http://"):
        if value.startswith(prefix):
            value = value[len(prefix):]
    value = value.split("/", 1)[0].split(":", 1)[0]
    return value.removeprefix("www.")


def check_max_lengths(model: type[models.Model], values: dict) -> list[FieldError]:
    """Every string value longer than its model field allows."""
    errors = []
    for name, value in values.items():
        if not isinstance(value, str):
            continue
        try:
            field = model._meta.get_field(name)
        except FieldDoesNotExist:  # not a model field: the caller validates it
            continue
        limit = getattr(field, "max_length", None)
        if limit and len(value) > limit:
            errors.append(FieldError(name, _("At most %(limit)d characters (got %(count)d).")
                                     % {"limit": limit, "count": len(value)}, "max_length"))
    return errors


def check_required(values: dict, *names: str) -> list[FieldError]:
    return [FieldError(n, _("This field is required."), "required") for n in names
            if not str(values.get(n) or "").strip()]


def check_choice(values: dict, name: str, choices, *, blank: bool = False) -> list[FieldError]:
    """`values[name]`, when given, is one of the TextChoices `choices` (or "" when `blank`)."""
    if name not in values:
        return []
    value = values[name]
    allowed = list(choices.values)
    if value in allowed or (blank and value in (None, "")):
        return []
    if value in (None, ""):
        return [FieldError(name, _("This field is required."), "required")]
    return [FieldError(name, _("Unknown value %(value)r; choose one of %(allowed)s.")
                       % {"value": value, "allowed": ", ".join(a for a in allowed if a)}, "invalid_choice")]


def check_country(values: dict, name: str = "country") -> list[FieldError]:
    value = values.get(name)
    if value and not is_country_code(value):
        return [FieldError(name, _("%(value)r is not an ISO 3166-1 alpha-2 country code (e.g. CN, US, GB).")
                           % {"value": value}, "invalid_country")]
    return []


def check_email(values: dict, name: str = "email") -> list[FieldError]:
    value = values.get(name)
    if not value:
        return []
    try:
        validate_email(value)
    except DjangoValidationError:
        return [FieldError(name, _("%(value)r is not a valid e-mail address.") % {"value": value}, "invalid_email")]
    return []


def check_amount(values: dict, name: str, *, decimal_places: int = 2, max_digits: int = 20) -> list[FieldError]:
    """A non-negative Decimal (never a float) with at most `decimal_places` decimals.

    On success the value in `values` is replaced by its Decimal at `decimal_places`.
    """
    if values.get(name) is None:
        return []
    raw = values[name]
    if isinstance(raw, float | bool):
        return [FieldError(name, _("Send the amount as a decimal string, not a float."), "invalid_amount")]
    try:
        value = Decimal(str(raw).strip())
    except (InvalidOperation, ValueError):
        return [FieldError(name, _("%(value)r is not an amount.") % {"value": raw}, "invalid_amount")]
    if not value.is_finite():
        return [FieldError(name, _("The amount must be a finite number."), "invalid_amount")]
    if value < 0:
        return [FieldError(name, _("The amount cannot be negative."), "min_value")]
    exponent = value.as_tuple().exponent
    if value != value.to_integral_value() and -exponent > decimal_places:
        return [FieldError(name, _("At most %(places)d decimal places.") % {"places": decimal_places},
                           "max_decimal_places")]
    if value != 0 and value.adjusted() >= max_digits - decimal_places:
        return [FieldError(name, _("The amount is too large."), "max_value")]
    values[name] = value.quantize(Decimal(1).scaleb(-decimal_places))
    return []


def check_owner(owner, actor, name: str = "owner") -> list[FieldError]:
    """An owner must be an active sales user the actor may hand work to.

    Admins assign to anyone; a manager to themselves or a member of their team; a rep only to
    themselves (reassignment is a manager's decision). Only admins and managers may leave a record
    without an owner (a rep would lose sight of it). `actor=None` is the system (imports, web forms).
    """
    if owner is None:
        if actor is None or getattr(actor, "is_admin", False) or getattr(actor, "role", None) == Role.MANAGER:
            return []
        return [FieldError(name, _("Only a manager can leave a record without an owner."), "required")]
    if not getattr(owner, "is_active", False):
        return [FieldError(name, _("%(user)s is not an active user.") % {"user": owner}, "inactive_owner")]
    if getattr(owner, "role", None) == Role.FINANCE:
        return [FieldError(name, _("%(user)s is a finance user and cannot own sales records.") % {"user": owner},
                           "invalid_owner")]
    if actor is None or getattr(actor, "is_admin", False) or owner.pk == actor.pk:
        return []
    if getattr(actor, "role", None) == Role.MANAGER:
        if actor.team_id and owner.team_id == actor.team_id:
            return []
        return [FieldError(name, _("You can assign records only to members of your team."), "not_allowed")]
    return [FieldError(name, _("Only a manager can assign records to someone else."), "not_allowed")]


def assignable_owners(actor):
    """The users `actor` may make owner of a record (the same rule as `check_owner`), for pickers."""
    from django.contrib.auth import get_user_model

    users = get_user_model().objects.filter(is_active=True).exclude(role=Role.FINANCE).order_by("username")
    if actor is None or getattr(actor, "is_admin", False):
        return users
    if getattr(actor, "role", None) == Role.MANAGER and actor.team_id:
        return users.filter(team_id=actor.team_id) | users.filter(pk=actor.pk)
    return users.filter(pk=actor.pk)


def raise_if_errors(errors: list[FieldError]) -> None:
    """Raise `ValidationFailed` with the first error of each field (the most basic one comes first)."""
    from .errors import ValidationFailed

    seen, first = set(), []
    for error in errors:
        if error.field not in seen:
            seen.add(error.field)
            first.append(error)
    if first:
        raise ValidationFailed(first)


# --- phone numbers ----------------------------------------------------------------------------
# phonenumbers (Google's libphonenumber) knows every country's numbering plan; we never parse by hand.


class PhoneInvalid(ValueError):
    pass


def normalise_phone(value: str, default_region: str | None = None) -> str:
    """A phone number in E.164 (+8613812345678). A number without a country code is read in
    `default_region` (settings.L2C_DEFAULT_PHONE_REGION when not given). Raises PhoneInvalid with a
    reason a person understands."""
    import phonenumbers
    from django.conf import settings

    value = (value or "").strip()
    if not value:
        return ""
    region = (default_region or settings.L2C_DEFAULT_PHONE_REGION or "").upper() or None
    if value.startswith("00"):
        value = "+" + value[2:]
    try:
        number = phonenumbers.parse(value, None if value.startswith("+") else region)
    except phonenumbers.NumberParseException as exc:
        if exc.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
            raise PhoneInvalid(_("No country code, and no default region to read it in; start with +.")) from exc
        raise PhoneInvalid(_("Not a phone number.")) from exc
    if not phonenumbers.is_possible_number(number) or not phonenumbers.is_valid_number(number):
        if not value.startswith("+") and region:
            # The usual cause: a number from another country written without its +code.
            raise PhoneInvalid(_("Not a valid phone number in %(region)s; numbers from other countries need "
                                 "their +country code (or choose another default phone region).")
                               % {"region": region})
        raise PhoneInvalid(_("Not a valid phone number for its country."))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def check_phone(values: dict, name: str = "phone", default_region: str | None = None) -> list[FieldError]:
    """Normalise values[name] to E.164 in place; a field error when it is not a phone number."""
    if not values.get(name):
        return []
    try:
        values[name] = normalise_phone(values[name], default_region)
    except PhoneInvalid as exc:
        return [FieldError(name, str(exc), "invalid_phone")]
    return []
