"""Which leads and contacts are the same person: exact e-mail, exact phone, and fuzzy company-plus-name.

Pure functions over plain `Candidate` values (no database here), so the same code serves the nightly
scan of every record, a lead's "possible duplicates" card and the tests.

How it scales: exact keys are dictionary buckets (linear). The fuzzy comparison (rapidfuzz
`token_sort_ratio` with a `score_cutoff`) only runs inside blocks, records sharing a prefix of a
blocking key, and that runs twice so a typo in one key does not hide a pair:

  A. the company key's first 3 characters ("acme", "阿里巴");
  B. the country plus the first 2 characters of the sorted name tokens (catches "Acme" vs "Akme").

A block larger than MAX_BLOCK is split by one more character of its key, until it fits, so the work
is about n × MAX_BLOCK in the worst case instead of n². Identical strings are compared once.

Rules that keep false groups out:
- fuzzy needs a company on both sides: two "John Smith"s without a company are namesakes, not
  duplicates (e-mail and phone still match them);
- fuzzy also needs the names alone to be at least NAME_MIN_SCORE similar, so two people at one
  long-named company ("International Business Machines | Li Wei" / "… | Li Na") stay apart;
- an exact e-mail or phone shared by more than MAX_EXACT_BUCKET records (info@, a switchboard) is
  a company's, not a person's, and is ignored;
- a converted lead and the contact it became are not duplicates of each other.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.utils.translation import gettext as _
from rapidfuzz import fuzz, process

from .keys import company_key, email_key, name_tokens, phone_key

LEAD = "lead"
CONTACT = "contact"
DEFAULT_THRESHOLD = 90
NAME_MIN_SCORE = 80
MAX_BLOCK = 2000
MAX_EXACT_BUCKET = 25
MIN_PHONE_DIGITS = 7

Ref = tuple[str, int]  # ("lead", 12)


@dataclass(frozen=True, slots=True)
class Candidate:
    """What the matcher needs of a lead or a contact."""

    kind: str
    id: int
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    phones: tuple[str, ...] = ()
    company: str = ""
    country: str = ""
    converted_contact_id: int | None = None  # leads: the contact this lead became

    @property
    def ref(self) -> Ref:
        return (self.kind, self.id)


@dataclass
class Pair:
    """Two records that match, with the best score and every reason."""

    a: Ref
    b: Ref
    score: int
    reasons: list[dict] = field(default_factory=list)  # [{"code": "email", "score": 100}, ...]


@dataclass
class Group:
    """Records connected by pairs (union-find), best score first."""

    members: list[Ref]
    pairs: list[Pair]

    @property
    def score(self) -> int:
        return max(p.score for p in self.pairs)

    @property
    def kind(self) -> str:
        kinds = {kind for kind, _id in self.members}
        return kinds.pop() if len(kinds) == 1 else "mixed"


def reason_text(reason: dict) -> str:
    """A reason as a person reads it: "same e-mail", "similar name and company 93%"."""
    code = reason.get("code")
    if code == "email":
        return _("same e-mail")
    if code == "phone":
        return _("same phone")
    if code == "name_company":
        return _("similar name and company %(score)s%%") % {"score": reason.get("score", 0)}
    return str(code)


def _check_threshold(threshold: int) -> int:
    threshold = int(threshold)
    if not 50 <= threshold <= 100:
        raise ValueError("threshold must lie between 50 and 100")
    return threshold


class _PairBook:
    """Collects reasons per record pair (by index)."""

    def __init__(self, candidates: Sequence[Candidate]):
        self.candidates = candidates
        self.found: dict[tuple[int, int], dict[str, int]] = {}

    def add(self, i: int, j: int, code: str, score: int) -> None:
        if i == j:
            return
        key = (i, j) if i < j else (j, i)
        reasons = self.found.setdefault(key, {})
        if reasons.get(code, -1) < score:
            reasons[code] = score

    def excluded(self, i: int, j: int) -> bool:
        """A converted lead and the contact it became."""
        a, b = self.candidates[i], self.candidates[j]
        if a.kind == b.kind:
            return False
        lead, contact = (a, b) if a.kind == LEAD else (b, a)
        return lead.converted_contact_id is not None and lead.converted_contact_id == contact.id

    def pairs(self) -> list[Pair]:
        out = []
        cands = self.candidates
        for (i, j), reasons in self.found.items():
            a, b = cands[i], cands[j]
            if self.excluded(i, j):
                continue
            listed = sorted(({"code": code, "score": score} for code, score in reasons.items()),
                            key=lambda r: (-r["score"], r["code"]))
            ra, rb = sorted((a.ref, b.ref))
            out.append(Pair(a=ra, b=rb, score=listed[0]["score"], reasons=listed))
        out.sort(key=lambda p: (-p.score, p.a, p.b))
        return out


def _exact(book: _PairBook, buckets: dict[str, list[int]], code: str) -> None:
    for members in buckets.values():
        if 1 < len(members) <= MAX_EXACT_BUCKET:
            # a star from the first record, linking around a pair that is excluded
            for other in members[1:]:
                hub = next((h for h in members if h != other and not book.excluded(h, other)), None)
                if hub is not None:
                    book.add(hub, other, code, 100)


def _blocks(indexes: Iterable[int], keys: Sequence[str], start: int) -> Iterable[list[int]]:
    """Groups of indexes sharing a key prefix; a group over MAX_BLOCK is split by a longer prefix."""
    first: dict[str, list[int]] = defaultdict(list)
    for i in indexes:
        first[keys[i][:start]].append(i)
    stack = [(members, start) for members in first.values()]
    while stack:
        members, length = stack.pop()
        if len(members) < 2:
            continue
        if len(members) <= MAX_BLOCK or all(len(keys[i]) <= length for i in members):
            yield members
            continue
        longer: dict[str, list[int]] = defaultdict(list)
        for i in members:
            longer[keys[i][: length + 1]].append(i)
        stack.extend((sub, length + 1) for sub in longer.values())


def _compare_block(book: _PairBook, members: list[int], strings: Sequence[str], names: Sequence[str],
                   threshold: int) -> None:
    same: dict[str, list[int]] = {}
    for i in members:
        same.setdefault(strings[i], []).append(i)
    for idx in same.values():
        for other in idx[1:]:
            book.add(idx[0], other, "name_company", 100)
    distinct = list(same)
    heads = [same[s][0] for s in distinct]
    for a in range(len(distinct) - 1):
        matches = process.extract(distinct[a], distinct[a + 1:], scorer=fuzz.token_sort_ratio, processor=None,
                                  score_cutoff=threshold, limit=None)
        for _choice, score, pos in matches:
            ia, ib = heads[a], heads[a + 1 + pos]
            if fuzz.token_sort_ratio(names[ia], names[ib]) < NAME_MIN_SCORE:
                continue
            for i in same[distinct[a]]:
                for j in same[distinct[a + 1 + pos]]:
                    book.add(i, j, "name_company", int(score))  # floor: a shown score never exceeds the real one


def find_pairs(candidates: Sequence[Candidate], *, threshold: int = DEFAULT_THRESHOLD) -> list[Pair]:
    """Every matching pair among `candidates`, best first."""
    threshold = _check_threshold(threshold)
    book = _PairBook(candidates)
    by_email: dict[str, list[int]] = defaultdict(list)
    by_phone: dict[str, list[int]] = defaultdict(list)
    names: list[str] = []
    strings: list[str] = []
    company_blocks: list[str] = []
    name_blocks: list[str] = []
    fuzzy: list[int] = []
    for i, cand in enumerate(candidates):
        key = email_key(cand.email)
        if key:
            by_email[key].append(i)
        for phone in {phone_key(p) for p in cand.phones if p}:
            if len(phone) >= MIN_PHONE_DIGITS:
                by_phone[phone].append(i)
        name = name_tokens(cand.first_name, cand.last_name)
        company = company_key(cand.company)
        names.append(name)
        strings.append(f"{company} {name}")
        company_blocks.append(company.replace(" ", ""))
        name_blocks.append(f"{(cand.country or '').upper():2}|{name}")
        if name and company:
            fuzzy.append(i)
    _exact(book, by_email, "email")
    _exact(book, by_phone, "phone")
    for members in _blocks(fuzzy, company_blocks, 3):
        _compare_block(book, members, strings, names, threshold)
    for members in _blocks(fuzzy, name_blocks, 5):
        _compare_block(book, members, strings, names, threshold)
    return book.pairs()


def group_pairs(pairs: Iterable[Pair]) -> list[Group]:
    """Connected records (union-find) with their pairs, best group first."""
    parent: dict[Ref, Ref] = {}

    def find(x: Ref) -> Ref:
        parent.setdefault(x, x)
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    pairs = list(pairs)
    for pair in pairs:
        ra, rb = find(pair.a), find(pair.b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[Ref, Group] = {}
    for pair in pairs:
        group = groups.setdefault(find(pair.a), Group(members=[], pairs=[]))
        group.pairs.append(pair)
    for group in groups.values():
        group.members = sorted({ref for p in group.pairs for ref in (p.a, p.b)})
    return sorted(groups.values(), key=lambda g: (-g.score, -len(g.members), g.members[0]))


def find_groups(candidates: Sequence[Candidate], *, threshold: int = DEFAULT_THRESHOLD) -> list[Group]:
    return group_pairs(find_pairs(candidates, threshold=threshold))
