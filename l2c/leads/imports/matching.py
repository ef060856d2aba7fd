"""Duplicate detection for an import: one in-memory index of the existing leads and contacts and of
the rows already accepted from the file, keyed the way every channel keys people
(l2c.leads.dedupe.keys): normalised e-mail, E.164 phone digits, and company-plus-name similarity.

Exact keys are dict look-ups (the whole `person_key`, company and name, is one of them). The fuzzy
comparison (rapidfuzz `token_sort_ratio` >= 90 on the name part of `person_key`) only runs inside a
block of people at the same company (same `company_key`: case,
punctuation and legal suffixes do not matter, "ACME, Inc." = "Acme Corporation") whose name starts
with the same letter, so the work stays near-linear in the number of rows. A prefix of the company
would not do: Chinese company names mostly start with their city (北京…, 上海…), which would make
huge blocks. So a misspelt company is not matched by name; the e-mail and phone keys still match.

References are ints: a lead id (> 0) or minus a contact id (< 0).
"""
from __future__ import annotations

from rapidfuzz import fuzz, process

from l2c.leads.dedupe import keys

FUZZY_THRESHOLD = 90
_NON_WORD = keys._NON_WORD


class KeyMaker:
    """The dedupe keys of a person, with caches and ASCII fast paths equal to `dedupe.keys`."""

    def __init__(self):
        self._companies: dict[str, str] = {}

    def company(self, company: str) -> str:
        key = self._companies.get(company)
        if key is None:
            key = keys.company_key(company)
            if len(self._companies) > 500_000:
                self._companies.clear()
            self._companies[company] = key
        return key

    @staticmethod
    def name(first: str, last: str) -> str:
        text = f"{first} {last}"
        if text.isascii():  # NFKC and accent folding change nothing in ASCII
            return " ".join(sorted(_NON_WORD.sub(" ", text.lower()).split()))
        return keys.name_key(first, last)

    @staticmethod
    def email(email: str) -> str:
        return keys.email_key(email) if email else ""

    @staticmethod
    def phone(e164: str) -> str:
        if not e164:
            return ""
        digits = e164[1:] if e164.startswith("+") else e164
        return digits if digits.isdigit() else keys.phone_key(e164)

    def person(self, first: str, last: str, company: str) -> tuple[str, str]:
        """(person_key, block) — empty when there is no company (a name alone is too weak)."""
        if not company:
            return "", ""
        company_key = self.company(company)
        if not company_key:
            return "", ""
        name_key = self.name(first, last)
        if not name_key:
            return "", ""
        return f"{company_key} | {name_key}", f"{company_key}|{name_key[:1]}"




class DedupeIndex:
    def __init__(self):
        self.by_email: dict[str, int] = {}
        self.by_phone: dict[str, int] = {}
        self.by_person: dict[str, int] = {}
        self.blocks: dict[str, tuple[list[str], list[int]]] = {}
        self.converted: set[int] = set()
        self.keys = KeyMaker()

    def add(self, ref: int, email_key: str, phone_key: str, person_key: str, block: str) -> None:
        if email_key:
            self.by_email.setdefault(email_key, ref)
        if phone_key:
            self.by_phone.setdefault(phone_key, ref)
        if person_key and person_key not in self.by_person:
            self.by_person[person_key] = ref
            names, refs = self.blocks.setdefault(block, ([], []))
            names.append(person_key.rpartition(" | ")[2])
            refs.append(ref)

    def match(self, email_key: str, phone_key: str, person_key: str, block: str) -> tuple[int | None, str]:
        """(reference, "email" | "phone" | "name") of the first match, or (None, "")."""
        if email_key:
            ref = self.by_email.get(email_key)
            if ref is not None:
                return ref, "email"
        if phone_key:
            ref = self.by_phone.get(phone_key)
            if ref is not None:
                return ref, "phone"
        if person_key:
            ref = self.by_person.get(person_key)
            if ref is not None:
                return ref, "name"
            entry = self.blocks.get(block)
            if entry is not None:
                # the block is one company: compare the names alone, so that a long company name
                # does not make 王伟 and 王芳 look alike
                found = process.extractOne(person_key.rpartition(" | ")[2], entry[0], scorer=fuzz.token_sort_ratio,
                                           score_cutoff=FUZZY_THRESHOLD)
                if found is not None:
                    return entry[1][found[2]], "name"
        return None, ""

    def load_existing(self) -> None:
        """Index every lead and contact that is not merged into another."""
        from l2c.customers.models import Contact

        from ..choices import LeadStatus
        from ..models import Lead

        k = self.keys
        leads = (Lead.objects.filter(merged_into__isnull=True).order_by("id")
                 .values_list("id", "email", "phone", "first_name", "last_name", "company", "status"))
        for pk, email, phone, first, last, company, status in leads.iterator(chunk_size=20_000):
            person, block = k.person(first, last, company)
            self.add(pk, k.email(email), keys.phone_key(phone) if phone else "", person, block)
            if status == LeadStatus.CONVERTED:
                self.converted.add(pk)
        contacts = (Contact.objects.filter(merged_into__isnull=True).order_by("id")
                    .values_list("id", "email", "phone", "mobile", "first_name", "last_name", "account__name"))
        for pk, email, phone, mobile, first, last, company in contacts.iterator(chunk_size=20_000):
            person, block = k.person(first, last, company or "")
            self.add(-pk, k.email(email), keys.phone_key(phone) if phone else "", person, block)
            if mobile:
                self.by_phone.setdefault(keys.phone_key(mobile), -pk)
