"""Normalised keys that decide whether two people are the same: shared by imports, web forms, the
API and the duplicate finder, so every channel agrees on what a duplicate is."""
from __future__ import annotations

import re
import unicodedata

_COMPANY_SUFFIXES = re.compile(
    r"\b(inc|incorporated|llc|ltd|limited|gmbh|ag|sa|sas|bv|nv|plc|co|corp|corporation|company|pte|pty|kk)\b\.?",
    re.IGNORECASE,
)
_CN_COMPANY_SUFFIXES = ("有限责任公司", "股份有限公司", "有限公司", "集团", "公司")
_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def email_key(email: str) -> str:
    """Lower-cased address; for gmail/googlemail, dots and +tags in the local part are ignored."""
    email = (email or "").strip().lower()
    local, at, domain = email.rpartition("@")
    if not at or not local:
        return ""
    if domain in ("gmail.com", "googlemail.com"):
        local = local.split("+", 1)[0].replace(".", "")
        domain = "gmail.com"
    return f"{local}@{domain}"


def phone_key(e164: str) -> str:
    """Digits of an E.164 number (callers normalise with core.validation.normalise_phone first)."""
    return re.sub(r"\D", "", e164 or "")


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKC", text or "").lower()
    text = "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))
    return text


def company_key(company: str) -> str:
    """Company name without legal suffixes, punctuation and case: "ACME, Inc." → "acme"."""
    text = _fold(company)
    for suffix in _CN_COMPANY_SUFFIXES:
        if text.endswith(suffix) and len(text) > len(suffix):
            text = text[: -len(suffix)]
    text = _COMPANY_SUFFIXES.sub(" ", text)
    return _NON_WORD.sub(" ", text).strip()


def name_key(first_name: str, last_name: str) -> str:
    """Person's name, folded, order-independent ("Wang Wei" = "Wei Wang"; 王伟 stays 王伟)."""
    parts = [p for p in _NON_WORD.sub(" ", _fold(f"{first_name} {last_name}")).split() if p]
    return " ".join(sorted(parts))


def person_key(first_name: str, last_name: str, company: str) -> str:
    """The string compared fuzzily (rapidfuzz) for company-plus-name similarity."""
    return f"{company_key(company)} | {name_key(first_name, last_name)}".strip(" |")


def _is_cjk(ch: str) -> bool:
    return "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff"


def name_tokens(first_name: str, last_name: str) -> str:
    """The name as sorted tokens for fuzzy comparison; Chinese characters count one token each, so
    王伟 (one field) = 王 + 伟 (family name and given name in their own fields)."""
    text = _NON_WORD.sub(" ", _fold(f"{first_name} {last_name}"))
    tokens: list[str] = []
    for part in text.split():
        if any(_is_cjk(ch) for ch in part):
            buf = ""
            for ch in part:
                if _is_cjk(ch):
                    if buf:
                        tokens.append(buf)
                        buf = ""
                    tokens.append(ch)
                else:
                    buf += ch
            if buf:
                tokens.append(buf)
        else:
            tokens.append(part)
    return " ".join(sorted(tokens))
