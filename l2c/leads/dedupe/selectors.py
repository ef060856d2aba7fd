"""Reads of the duplicate finder, limited to what the user may see.

Stored groups come from the last scan of every record (`services.duplicate_scan_run`). A user sees
a group's members they may see (merged records never), the pairs between two such members, and only
the connected parts with at least two of them: a rep never learns that a colleague's lead matches.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count, Q, QuerySet
from django.urls import reverse
from django.utils.translation import gettext as _

from l2c.core.errors import NotFound, ValidationFailed
from l2c.core.validation import as_id
from l2c.customers.models import Contact

from ..models import DuplicateGroup, DuplicatePair, DuplicateScan, Lead, MergeRecord
from . import matching
from .matching import CONTACT, LEAD, Candidate

LIVE_CANDIDATES = 300  # per query of `duplicates_of`


def visible_leads(user) -> QuerySet:
    return Lead.objects.restrict(user).filter(merged_into__isnull=True)


def visible_contacts(user) -> QuerySet:
    return Contact.objects.restrict(user).filter(merged_into__isnull=True)


# --- candidates for the matcher ----------------------------------------------------------------------

_LEAD_COLUMNS = ("id", "first_name", "last_name", "email", "phone", "company", "country", "converted_contact_id")
_CONTACT_COLUMNS = ("id", "first_name", "last_name", "email", "phone", "mobile", "account__name", "country")


def _lead_candidates(qs) -> list[Candidate]:
    return [Candidate(LEAD, pk, first or "", last or "", email or "", (phone,) if phone else (), company or "",
                      country or "", converted)
            for pk, first, last, email, phone, company, country, converted
            in qs.order_by("id").values_list(*_LEAD_COLUMNS).iterator(chunk_size=20000)]


def _contact_candidates(qs) -> list[Candidate]:
    return [Candidate(CONTACT, pk, first or "", last or "", email or "", tuple(p for p in (phone, mobile) if p),
                      company or "", country or "")
            for pk, first, last, email, phone, mobile, company, country
            in qs.order_by("id").values_list(*_CONTACT_COLUMNS).iterator(chunk_size=20000)]


def load_candidates() -> list[Candidate]:
    """Every lead and contact that is not merged away (the nightly scan compares all of them; what a
    user then sees is filtered when the groups are read)."""
    return (_lead_candidates(Lead.objects.filter(merged_into__isnull=True))
            + _contact_candidates(Contact.objects.filter(merged_into__isnull=True)))


# --- stored groups, as a user sees them ---------------------------------------------------------------

@dataclass
class MemberView:
    kind: str
    id: int
    record: object

    @property
    def name(self) -> str:
        return self.record.full_name

    @property
    def company(self) -> str:
        return self.record.company if self.kind == LEAD else self.record.account.name

    @property
    def url(self) -> str:
        if self.kind == LEAD:
            return reverse("leads:lead-detail", args=[self.id])
        return reverse("customers:contact-detail", args=[self.id])

    @property
    def status(self) -> str:
        return self.record.get_status_display() if self.kind == LEAD else ""


@dataclass
class PairView:
    a: MemberView
    b: MemberView
    score: int
    reasons: list[dict]

    @property
    def reason_texts(self) -> list[str]:
        return [matching.reason_text(r) for r in self.reasons]


@dataclass
class GroupView:
    id: int
    members: list[MemberView]
    pairs: list[PairView]
    score: int = 0
    lead_ids: list[int] = field(default_factory=list)
    contact_ids: list[int] = field(default_factory=list)

    @property
    def kind(self) -> str:
        if self.lead_ids and self.contact_ids:
            return "mixed"
        return LEAD if self.lead_ids else CONTACT


KINDS = (LEAD, CONTACT, "mixed")


def duplicate_groups(*, user, kind: str | None = None) -> QuerySet:
    """Stored groups with at least two records `user` may see, best first. kind: lead|contact|mixed."""
    if kind not in (None, "") and kind not in KINDS:
        raise ValidationFailed.single("kind", _("Unknown kind %(value)r; choose one of %(allowed)s.")
                                      % {"value": kind, "allowed": ", ".join(KINDS)}, "invalid_choice")
    seen = (Q(members__lead__in=visible_leads(user).values("pk"))
            | Q(members__contact__in=visible_contacts(user).values("pk")))
    qs = DuplicateGroup.objects.annotate(visible_n=Count("members", filter=seen)).filter(visible_n__gte=2)
    if kind:
        qs = qs.filter(kind=kind)
    return qs.order_by("-score", "-size", "id")


def present_groups(groups, *, user) -> list[GroupView]:
    """The groups of one page as the user sees them (a fixed number of queries per page)."""
    groups = list(groups)
    ids = [g.pk for g in groups]
    from ..models import DuplicateMember

    members = list(DuplicateMember.objects.filter(group_id__in=ids)
                   .select_related("lead__owner", "contact__account", "contact__owner"))
    lead_ids = {m.lead_id for m in members if m.lead_id}
    contact_ids = {m.contact_id for m in members if m.contact_id}
    ok_leads = set(visible_leads(user).filter(pk__in=lead_ids).values_list("pk", flat=True))
    ok_contacts = set(visible_contacts(user).filter(pk__in=contact_ids).values_list("pk", flat=True))
    views: dict[tuple[str, int], MemberView] = {}
    for m in members:
        if m.lead_id in ok_leads:
            views[(LEAD, m.lead_id)] = MemberView(LEAD, m.lead_id, m.lead)
        elif m.contact_id in ok_contacts:
            views[(CONTACT, m.contact_id)] = MemberView(CONTACT, m.contact_id, m.contact)
    pairs_by_group: dict[int, list[matching.Pair]] = {}
    for p in DuplicatePair.objects.filter(group_id__in=ids).order_by("-score", "id"):
        a, b = (p.a_kind, p.a_id), (p.b_kind, p.b_id)
        if a in views and b in views:
            pairs_by_group.setdefault(p.group_id, []).append(matching.Pair(a, b, p.score, p.reasons))
    out = []
    for group in groups:
        for part in matching.group_pairs(pairs_by_group.get(group.pk, [])):
            out.append(_group_view(group.pk, part, views))
    return out


def _group_view(group_id: int, part: matching.Group, views: dict) -> GroupView:
    members = [views[ref] for ref in part.members]
    return GroupView(
        id=group_id, members=members, score=part.score,
        pairs=[PairView(views[p.a], views[p.b], p.score, p.reasons) for p in part.pairs],
        lead_ids=[m.id for m in members if m.kind == LEAD], contact_ids=[m.id for m in members if m.kind == CONTACT],
    )


def latest_scan() -> DuplicateScan | None:
    return DuplicateScan.objects.order_by("-id").first()


def last_finished_scan() -> DuplicateScan | None:
    return DuplicateScan.objects.filter(status=DuplicateScan.Status.DONE).order_by("-finished_at", "-id").first()


def scan_get(*, user, pk) -> DuplicateScan:
    scan = DuplicateScan.objects.filter(pk=pk).first() if as_id(pk) is not None and user.is_sales else None
    if scan is None:
        raise NotFound(_("No duplicate scan with id %(id)s.") % {"id": pk})
    return scan


# --- a lead's possible duplicates (live) -------------------------------------------------------------

@dataclass
class Match:
    member: MemberView
    score: int
    reasons: list[dict]

    @property
    def reason_texts(self) -> list[str]:
        return [matching.reason_text(r) for r in self.reasons]


def duplicates_of(*, lead: Lead, user, threshold: int = matching.DEFAULT_THRESHOLD) -> list[Match]:
    """Leads and contacts `user` may see that look like `lead`, computed now (plus what the last scan
    found, which also catches spelling variants a database lookup cannot), best first."""
    me = _lead_candidates(Lead.objects.filter(pk=lead.pk))
    if not me:
        return []
    lead_q, contact_q = Q(pk__in=[]), Q(pk__in=[])
    if lead.email:
        lead_q |= Q(email__iexact=lead.email)
        contact_q |= Q(email__iexact=lead.email)
    if lead.phone:
        lead_q |= Q(phone=lead.phone)
        contact_q |= Q(phone=lead.phone) | Q(mobile=lead.phone)
    if lead.last_name:
        lead_q |= Q(last_name__iexact=lead.last_name)
        contact_q |= Q(last_name__iexact=lead.last_name)
    if lead.company[:3].strip():
        lead_q |= Q(company__istartswith=lead.company[:3])
        contact_q |= Q(account__name__istartswith=lead.company[:3])
    stored = DuplicatePair.objects.filter(Q(a_kind=LEAD, a_id=lead.pk) | Q(b_kind=LEAD, b_id=lead.pk))[:100]
    for p in stored:
        kind, pk = (p.b_kind, p.b_id) if (p.a_kind, p.a_id) == (LEAD, lead.pk) else (p.a_kind, p.a_id)
        if kind == LEAD:
            lead_q |= Q(pk=pk)
        else:
            contact_q |= Q(pk=pk)
    leads = visible_leads(user).exclude(pk=lead.pk).filter(lead_q)[:LIVE_CANDIDATES]
    contacts = visible_contacts(user).filter(contact_q)[:LIVE_CANDIDATES]
    candidates = me + _lead_candidates(Lead.objects.filter(pk__in=leads.values("pk"))) + _contact_candidates(
        Contact.objects.filter(pk__in=contacts.values("pk")))
    me_ref = (LEAD, lead.pk)
    found = [p for p in matching.find_pairs(candidates, threshold=threshold) if me_ref in (p.a, p.b)]
    if not found:
        return []
    other_refs = [p.b if p.a == me_ref else p.a for p in found]
    records = {(LEAD, r.pk): r for r in Lead.objects.filter(pk__in=[pk for k, pk in other_refs if k == LEAD])
               .select_related("owner")}
    records |= {(CONTACT, r.pk): r for r in Contact.objects.filter(pk__in=[pk for k, pk in other_refs if k == CONTACT])
                .select_related("account", "owner")}
    return [Match(MemberView(ref[0], ref[1], records[ref]), p.score, p.reasons)
            for ref, p in zip(other_refs, found, strict=True) if ref in records]


def merged_survivor_id(*, user, pk) -> int | None:
    """For a merged lead `user` may see: the id of the lead it now lives in (following later merges)."""
    lead = Lead.objects.restrict(user).filter(pk=pk, merged_into__isnull=False).values("merged_into_id").first() \
        if as_id(pk) is not None else None
    if lead is None:
        return None
    target = lead["merged_into_id"]
    for _hop in range(20):
        nxt = Lead.objects.filter(pk=target).values_list("merged_into_id", flat=True).first()
        if nxt is None:
            break
        target = nxt
    return target


# --- merges --------------------------------------------------------------------------------------------

def _kind(kind: str) -> str:
    if kind not in MergeRecord.Kind.values:
        raise ValidationFailed.single("kind", _("Unknown kind %(value)r; choose one of %(allowed)s.")
                                      % {"value": kind, "allowed": ", ".join(MergeRecord.Kind.values)}, "invalid_choice")
    return kind


def parse_ids(value, field: str = "ids") -> list[int]:
    """"1,2,3" or [1, 2, 3] → [1, 2, 3], with a field error for anything else."""
    parts = value if isinstance(value, list | tuple) else str(value or "").replace(" ", "").split(",")
    ids = []
    for part in parts:
        if part in ("", None):
            continue
        pk = as_id(str(part))
        if pk is None:
            raise ValidationFailed.single(field, _("Not a record id: %(value)r.") % {"value": part}, "invalid_id")
        if pk not in ids:
            ids.append(pk)
    return ids


def merge_candidates(*, user, kind: str, ids: list[int]) -> list:
    """The records of a merge screen, in the order given; someone else's (or a merged one) is a 404."""
    from .services import MAX_MERGE

    kind = _kind(kind)
    if len(ids) < 2:
        raise ValidationFailed.single("ids", _("Choose at least two records to merge."), "too_few")
    if len(ids) > MAX_MERGE:
        raise ValidationFailed.single("ids", _("At most %(n)d records can be merged at once.") % {"n": MAX_MERGE},
                                      "too_many")
    if kind == LEAD:
        found = {r.pk: r for r in visible_leads(user).filter(pk__in=ids).select_related("owner", "campaign")}
    else:
        found = {r.pk: r for r in visible_contacts(user).filter(pk__in=ids).select_related("owner", "account")}
    for pk in ids:
        if pk not in found:
            if kind == LEAD:
                raise NotFound(_("No lead with id %(id)s.") % {"id": pk})
            raise NotFound(_("No contact with id %(id)s.") % {"id": pk})
    return [found[pk] for pk in ids]


def merge_list(*, user, kind: str | None = None) -> QuerySet:
    """Merges `user` may see: their own, and those whose survivor they may see."""
    qs = MergeRecord.objects.select_related("merged_by", "undone_by")
    if kind:
        qs = qs.filter(kind=_kind(kind))
    if not getattr(user, "is_sales", False):
        return qs.none()
    lead_ids = Lead.objects.restrict(user).values("pk")
    contact_ids = Contact.objects.restrict(user).values("pk")
    return qs.filter(Q(merged_by=user) | Q(kind=MergeRecord.Kind.LEAD, survivor_id__in=lead_ids)
                     | Q(kind=MergeRecord.Kind.CONTACT, survivor_id__in=contact_ids)).order_by("-merged_at", "-id")


def merge_get(*, user, pk) -> MergeRecord:
    merge = merge_list(user=user).filter(pk=pk).first() if as_id(pk) is not None else None
    if merge is None:
        raise NotFound(_("No merge with id %(id)s.") % {"id": pk})
    return merge


def merge_records(merge: MergeRecord) -> tuple[object | None, list]:
    """The survivor and the merged records of a merge (for its page; visibility checked by merge_get)."""
    model = Lead if merge.kind == MergeRecord.Kind.LEAD else Contact
    records = {r.pk: r for r in model.objects.filter(pk__in=[merge.survivor_id, *merge.merged_ids])}
    return records.get(merge.survivor_id), [records[pk] for pk in merge.merged_ids if pk in records]


def related_counts(model, ids: list[int]) -> list[tuple[str, int]]:
    """What a merge of `ids` would move: [(e.g. "activities", 3)], for the review step."""
    from .services import _relations

    out = []
    for rel in _relations(model):
        n = rel.related_model._base_manager.filter(**{f"{rel.field.attname}__in": ids}).count()
        if n:
            out.append((str(rel.related_model._meta.verbose_name_plural), n))
    return out


def moved_counts(merge: MergeRecord) -> list[tuple[str, int]]:
    """What a merge moved, per kind of row: [("activities", 3), ...]."""
    from django.apps import apps

    out = []
    for key, by_source in (merge.snapshot or {}).get("moved", {}).items():
        app_label, model_name, _field = key.split(".")
        try:
            label = str(apps.get_model(app_label, model_name)._meta.verbose_name_plural)
        except LookupError:
            label = model_name
        out.append((label, sum(len(ids) for ids in by_source.values())))
    return out
