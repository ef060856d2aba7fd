"""Per-row validation of imported leads, built for a million rows: the same rules as `lead_create`
(core.validation), with fast paths that give exactly the same answers.

- E-mail: a compiled regex that accepts a subset of what Django's `validate_email` accepts (plain
  ASCII dot-atom addresses); anything it does not accept is decided by Django's validator itself.
- Phone: numbers already in international form (or national numbers without a trunk prefix) are
  checked against libphonenumber's own metadata patterns without a full parse; anything else goes
  through `core.validation.normalise_phone`. Results are cached.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.utils import translation
from django.utils.translation import gettext as _

from l2c.core.validation import COUNTRY_CODES, PhoneInvalid, normalise_email, normalise_phone
from l2c.customers.models import CompanySize

from ..choices import LeadSource
from ..models import Lead
from .mapping import header_key, split_full_name

# --- e-mail ---------------------------------------------------------------------------------------

_ATOM = r"[-!#$%&'*+/=?^_`{}|~0-9A-Za-z]+"
FAST_EMAIL = re.compile(
    rf"{_ATOM}(?:\.{_ATOM})*"
    r"@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
    r"(?:\.(?!-)[a-zA-Z0-9-]{1,63}(?<!-))*"
    r"\.(?!-)(?:[a-zA-Z-]{2,63}|xn--[a-zA-Z0-9]{1,59})(?<!-)"
)
_EMAIL_CACHE: dict[str, bool] = {}


def is_valid_email(value: str) -> bool:
    """Exactly Django's `validate_email` verdict; the regex answers the common ASCII case quickly."""
    if len(value) <= 320 and value.isascii() and FAST_EMAIL.fullmatch(value):
        return True
    cached = _EMAIL_CACHE.get(value)
    if cached is None:
        try:
            validate_email(value)
            cached = True
        except DjangoValidationError:
            cached = False
        if len(_EMAIL_CACHE) > 100_000:
            _EMAIL_CACHE.clear()
        _EMAIL_CACHE[value] = cached
    return cached


# --- phone ----------------------------------------------------------------------------------------

_SEPARATORS = str.maketrans("", "", " -().\u00a0")
# Validity only asks whether ANY type matches, so the common types are tried first.
_TYPE_DESCS = ("mobile", "fixed_line", "toll_free", "premium_rate", "shared_cost", "voip", "personal_number",
               "pager", "uan", "voicemail")


def _desc(desc):
    if desc is None or desc.national_number_pattern is None:
        return None
    return (frozenset(desc.possible_length or ()), re.compile(desc.national_number_pattern))


def _matches(desc, nsn: str) -> bool:
    if desc is None:
        return False
    lengths, pattern = desc
    if lengths and len(nsn) not in lengths:
        return False
    return pattern.fullmatch(nsn) is not None


class _Region:
    __slots__ = ("code", "country_code", "leading", "general", "types", "prefix_for_parsing", "intl_prefix")

    def __init__(self, code: str, metadata):
        self.code = code
        self.country_code = metadata.country_code
        self.leading = re.compile(metadata.leading_digits) if metadata.leading_digits else None
        self.general = _desc(metadata.general_desc)
        self.types = [d for d in (_desc(getattr(metadata, name, None)) for name in _TYPE_DESCS) if d]
        npp = metadata.national_prefix_for_parsing
        self.prefix_for_parsing = re.compile(npp) if npp else None
        self.intl_prefix = re.compile(metadata.international_prefix) if metadata.international_prefix else None

    def type_known(self, nsn: str) -> bool:
        """libphonenumber's `_number_type_helper(...) != UNKNOWN`."""
        if not _matches(self.general, nsn):
            return False
        return any(_matches(d, nsn) for d in self.types)


_REGIONS: dict[str, _Region | None] = {}


def _region(code: str) -> _Region | None:
    if code not in _REGIONS:
        import phonenumbers

        metadata = phonenumbers.PhoneMetadata.metadata_for_region(code, None)
        _REGIONS[code] = _Region(code, metadata) if metadata is not None else None
    return _REGIONS[code]


def fast_e164(raw: str, default_region: str) -> str | None:
    """The E.164 form of `raw` when it is certainly valid, decided from libphonenumber's metadata
    without a full parse; None means "ask `normalise_phone`" (invalid, or a case the fast path does
    not cover: trunk prefixes, extensions, letters, non-geographic numbers ...)."""
    from phonenumbers import COUNTRY_CODE_TO_REGION_CODE

    if raw.startswith("+"):
        digits = raw[1:].translate(_SEPARATORS)
        international = True
    elif raw.startswith("00"):
        digits = raw[2:].translate(_SEPARATORS)
        international = True
    elif raw[:1].isdigit() or (raw[:1] == "(" and raw[1:2].isdigit()):
        digits = raw.translate(_SEPARATORS)  # libphonenumber also skips a leading "("
        international = False
    else:
        return None
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 17:
        return None
    if international:
        if digits[0] == "0":
            return None
        for size in (1, 2, 3):
            country_code = int(digits[:size])
            if country_code in COUNTRY_CODE_TO_REGION_CODE:
                break
        else:
            return None
        nsn = digits[size:]
        codes = COUNTRY_CODE_TO_REGION_CODE[country_code]
        main = _region(codes[0]) if codes[0] != "001" else None
        if main is None:
            return None
    else:
        main = _region(default_region) if default_region else None
        if main is None:
            return None
        country_code = main.country_code
        # a national number that starts with the international prefix or the country code is read
        # differently by libphonenumber: let it decide
        if main.intl_prefix is not None and main.intl_prefix.match(digits):
            return None
        if digits.startswith(str(country_code)):
            return None
        nsn = digits
        codes = COUNTRY_CODE_TO_REGION_CODE.get(country_code, ())
    if main.prefix_for_parsing is not None and main.prefix_for_parsing.match(nsn):
        return None  # a trunk prefix or carrier code may be stripped
    if not nsn or (main.general is not None and main.general[0] and len(nsn) not in main.general[0]):
        return None  # libphonenumber's is_possible_number (length) decides
    # libphonenumber's region_code_for_number + is_valid_number_for_region
    for code in codes:
        region = _region(code)
        if region is None:
            continue
        if region.leading is not None:
            if region.leading.match(nsn):
                return f"+{country_code}{nsn}" if region.type_known(nsn) else None
        elif region.type_known(nsn):
            return f"+{country_code}{nsn}"
    return None


class PhoneNormaliser:
    """normalise_phone with a fast path and a cache (same results)."""

    def __init__(self, max_entries: int = 200_000):
        self.cache: dict[tuple[str, str], str | PhoneInvalid] = {}
        self.max_entries = max_entries

    def __call__(self, raw: str, region: str) -> str:
        """E.164, or raises PhoneInvalid."""
        fast = fast_e164(raw, region)
        if fast is not None:
            return fast
        key = (raw, region)
        result = self.cache.get(key)
        if result is None:
            try:
                result = normalise_phone(raw, region or None)
            except PhoneInvalid as exc:
                result = exc
            if len(self.cache) >= self.max_entries:
                self.cache.clear()
            self.cache[key] = result
        if isinstance(result, PhoneInvalid):
            raise result
        return result


# --- enumerations ---------------------------------------------------------------------------------

_SOURCE_SYNONYMS = {
    LeadSource.WEB_FORM: ("web", "website", "web form", "form", "online form", "网站", "官网", "表单", "网页表单",
                          "在线表单"),
    LeadSource.IMPORT: ("import", "imported", "导入"),
    LeadSource.API: ("api", "接口"),
    LeadSource.MANUAL: ("manual", "manual entry", "手动", "手工", "手工录入", "手动录入"),
    LeadSource.EMAIL: ("email", "e-mail", "mail", "邮件", "电子邮件"),
    LeadSource.EVENT: ("event", "trade show", "tradeshow", "conference", "exhibition", "webinar", "展会", "活动",
                       "会议", "研讨会"),
    LeadSource.REFERRAL: ("referral", "referred", "recommendation", "推荐", "转介绍", "介绍"),
    LeadSource.PARTNER: ("partner", "reseller", "合作伙伴", "伙伴", "代理商"),
    LeadSource.ADVERTISING: ("advertising", "advert", "ads", "ad", "paid", "广告", "投放"),
    LeadSource.SOCIAL: ("social", "social media", "linkedin", "wechat", "weibo", "twitter", "facebook",
                        "社交媒体", "微信", "微博"),
    LeadSource.COLD_CALL: ("cold call", "cold calling", "outbound call", "陌拜", "陌生拜访", "电话营销", "电销"),
    LeadSource.OTHER: ("other", "others", "misc", "其他", "其它"),
}
_SOURCES: dict[str, str] | None = None


def _source_table() -> dict[str, str]:
    global _SOURCES
    if _SOURCES is None:
        table: dict[str, str] = {}
        for value, label in LeadSource.choices:
            table[header_key(value)] = value
            for language in ("en", "zh-hans"):
                with translation.override(language):
                    table.setdefault(header_key(str(label)), value)
        for value, names in _SOURCE_SYNONYMS.items():
            for name in names:
                table.setdefault(header_key(name), value)
        _SOURCES = table
    return _SOURCES


def source_value(text: str) -> str | None:
    """A LeadSource value from a code or an English/Chinese label ("Web form", "网站", "web_form")."""
    return _source_table().get(header_key(text))


_COUNTRY_ALIASES = {
    "US": ("usa", "u.s.", "u.s.a.", "united states of america", "america", "美国"),
    "GB": ("uk", "u.k.", "great britain", "britain", "england", "scotland", "wales", "united kingdom", "英国"),
    "CN": ("prc", "mainland china", "people's republic of china", "中国大陆", "中华人民共和国", "大陆", "内地"),
    "HK": ("hong kong sar", "香港特别行政区", "中国香港"),
    "MO": ("macau", "macau sar", "澳门特别行政区", "中国澳门"),
    "TW": ("中国台湾", "台湾地区"),
    "KR": ("korea", "south korea", "republic of korea", "韩国", "南韩"),
    "KP": ("north korea", "朝鲜"),
    "RU": ("russia", "russian federation", "俄罗斯"),
    "VN": ("vietnam", "viet nam", "越南"),
    "AE": ("uae", "阿联酋"),
    "DE": ("deutschland",), "NL": ("holland", "the netherlands"), "CZ": ("czechia", "czech republic"),
    "CH": ("switzerland", "schweiz", "suisse"), "ES": ("españa",), "IR": ("iran",), "TR": ("turkey", "türkiye"),
}
_ALPHA3 = {
    "USA": "US", "GBR": "GB", "CHN": "CN", "DEU": "DE", "FRA": "FR", "JPN": "JP", "KOR": "KR", "IND": "IN",
    "CAN": "CA", "AUS": "AU", "BRA": "BR", "RUS": "RU", "ITA": "IT", "ESP": "ES", "MEX": "MX", "NLD": "NL",
    "CHE": "CH", "SWE": "SE", "SGP": "SG", "HKG": "HK", "TWN": "TW", "MAC": "MO", "IDN": "ID", "THA": "TH",
    "VNM": "VN", "MYS": "MY", "PHL": "PH", "NZL": "NZ", "ZAF": "ZA", "ARE": "AE", "SAU": "SA", "TUR": "TR",
    "POL": "PL", "BEL": "BE", "AUT": "AT", "DNK": "DK", "NOR": "NO", "FIN": "FI", "IRL": "IE", "PRT": "PT",
    "ISR": "IL", "ARG": "AR", "CHL": "CL", "COL": "CO", "EGY": "EG", "NGA": "NG", "PAK": "PK", "BGD": "BD",
}
_COUNTRIES: dict[str, str] | None = None


def _country_table() -> dict[str, str]:
    global _COUNTRIES
    if _COUNTRIES is None:
        from phonenumbers.geodata.locale import LOCALE_DATA

        table: dict[str, str] = {}
        for code in COUNTRY_CODES:
            names = LOCALE_DATA.get(code, {})
            for language in ("en", "zh", "zh_Hant", "de", "fr", "es", "ja"):
                name = names.get(language, "")
                if name.startswith("*"):
                    name = names.get(name[1:], "")
                if name:
                    table.setdefault(header_key(name), code)
        for code, aliases in _COUNTRY_ALIASES.items():
            for alias in aliases:
                table[header_key(alias)] = code
        _COUNTRIES = table
    return _COUNTRIES


def country_code(text: str) -> str | None:
    """An ISO 3166-1 alpha-2 code from a code ("cn", "CHN") or a name in English or Chinese."""
    upper = text.strip().upper()
    if upper in COUNTRY_CODES:
        return upper
    if upper in _ALPHA3:
        return _ALPHA3[upper]
    return _country_table().get(header_key(text))


_SIZES = {re.sub(r"[^\d+]", "", value): value for value in CompanySize.values}


def company_size_value(text: str) -> str | None:
    return _SIZES.get(re.sub(r"[^\d+]", "", text.replace(",", ""))) if text else None


# --- rows -----------------------------------------------------------------------------------------

@dataclass(slots=True)
class RowError:
    """One problem of one row: the spreadsheet row number (the header is row 1), the column's header,
    the cell's value and why it was refused."""

    row: int
    column: str
    value: str
    reason: str


MAX_LENGTHS = {f.name: f.max_length for f in Lead._meta.concrete_fields if getattr(f, "max_length", None)}
TEXT_FIELDS = ("first_name", "last_name", "title", "company", "website", "industry", "city", "description",
               "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")


class RowValidator:
    """Turns one row's cells into clean lead values, or the row's errors.

    `columns`: [(column index, header, field)] from `mapping.resolve_mapping`.
    """

    def __init__(self, columns: list[tuple[int, str, str]], *, default_region: str, default_source: str):
        self.columns = columns
        self.header_of = {target: header for _i, header, target in columns}
        self.default_region = (default_region or "").upper()
        self.default_source = default_source
        self.phone = PhoneNormaliser()
        self.width = max((i for i, _h, _f in columns), default=-1) + 1
        self.texts = [(i, h, f) for i, h, f in columns if f in TEXT_FIELDS]
        self.special = {f: (i, h) for i, h, f in columns if f not in TEXT_FIELDS}

    def validate(self, row: int, cells: list[str]) -> tuple[dict[str, str], list[RowError]]:
        """(values of the non-empty mapped fields, errors); the row is imported only without errors."""
        if len(cells) < self.width:
            cells = cells + [""] * (self.width - len(cells))
        values: dict[str, str] = {}
        errors: list[RowError] = []
        for index, header, target in self.texts:
            value = cells[index].strip()
            if value:
                limit = MAX_LENGTHS.get(target)
                if limit and len(value) > limit:
                    errors.append(RowError(row, header, value, _("At most %(limit)d characters (got %(count)d).")
                                           % {"limit": limit, "count": len(value)}))
                else:
                    values[target] = value
        special = self.special
        if "full_name" in special:
            index, header = special["full_name"]
            full = cells[index].strip()
            if full:
                last, first = split_full_name(full)
                for target, part in (("last_name", last), ("first_name", first)):
                    if part and target not in values:
                        limit = MAX_LENGTHS[target]
                        if len(part) > limit:
                            errors.append(RowError(row, header, full, _(
                                "The name is too long: at most %(limit)d characters for the %(part)s "
                                "(got %(count)d).") % {"limit": limit, "count": len(part),
                                                      "part": _("last name") if target == "last_name"
                                                      else _("first name")}))
                        else:
                            values[target] = part
        if "last_name" not in values and not any(e.column == self.header_of.get("last_name") for e in errors):
            header = self.header_of.get("last_name") or self.header_of.get("full_name") or ""
            errors.append(RowError(row, header, "", _("A last name (or a full name) is required.")))
        country = ""
        if "country" in special:
            index, header = special["country"]
            raw = cells[index].strip()
            if raw:
                code = country_code(raw)
                if code is None:
                    errors.append(RowError(row, header, raw, _(
                        "%(value)r is not a country: use an ISO code such as CN, US, GB or the country's name.")
                        % {"value": raw}))
                else:
                    values["country"] = country = code
        if "email" in special:
            index, header = special["email"]
            raw = cells[index].strip()
            if raw:
                email = normalise_email(raw)
                if len(email) > MAX_LENGTHS["email"]:
                    errors.append(RowError(row, header, raw, _("At most %(limit)d characters (got %(count)d).")
                                           % {"limit": MAX_LENGTHS["email"], "count": len(email)}))
                elif not is_valid_email(email):
                    errors.append(RowError(row, header, raw, _("Not a valid e-mail address.")))
                else:
                    values["email"] = email
        if "phone" in special:
            index, header = special["phone"]
            raw = cells[index].strip()
            if raw:
                try:
                    values["phone"] = self.phone(raw, country or self.default_region)
                except PhoneInvalid as exc:
                    errors.append(RowError(row, header, raw, str(exc)))
        if "source" in special:
            index, header = special["source"]
            raw = cells[index].strip()
            if raw:
                value = source_value(raw)
                if value is None:
                    errors.append(RowError(row, header, raw, _("Unknown source %(value)r; use one of %(allowed)s.")
                                           % {"value": raw, "allowed": ", ".join(LeadSource.values)}))
                else:
                    values["source"] = value
        if "company_size" in special:
            index, header = special["company_size"]
            raw = cells[index].strip()
            if raw:
                value = company_size_value(raw)
                if value is None:
                    errors.append(RowError(row, header, raw, _("Unknown company size %(value)r; use one of "
                                                               "%(allowed)s.")
                                           % {"value": raw, "allowed": ", ".join(CompanySize.values)}))
                else:
                    values["company_size"] = value
        return values, errors
