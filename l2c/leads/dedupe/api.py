"""API routes for duplicates and merges: /leads/duplicates, /contacts/duplicates, /leads/{id}/duplicates,
/leads/duplicates/scan, /leads/merge, /contacts/merge, /merges, /merges/{id}, /merges/{id}/undo."""
import datetime as dt
from typing import Literal

from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from l2c.core.api_types import DEFAULT_LIMIT, MAX_LIMIT, LimitOffsetPagination, RecordId
from l2c.core.errors import NotFound, PermissionDenied
from l2c.customers.api import StrictSchema, UserRef

from .. import selectors as lead_selectors
from . import matching, selectors, services

router = Router(tags=["leads: dedupe"])


def _require_sales(user) -> None:
    if not getattr(user, "is_sales", False):
        raise PermissionDenied(_("Your role cannot merge records."))


class ReasonOut(Schema):
    code: Literal["email", "phone", "name_company"]
    score: int
    text: str


class RecordRef(Schema):
    kind: Literal["lead", "contact"]
    id: int


class MemberOut(RecordRef):
    name: str
    company: str
    email: str
    phone: str
    owner: UserRef | None
    status: str = Field("", description="Leads: their status; contacts: empty")
    updated_at: dt.datetime


class PairOut(Schema):
    a: RecordRef
    b: RecordRef
    score: int
    reasons: list[ReasonOut]


class GroupOut(Schema):
    id: int = Field(..., description="Stored group id (a group the caller sees only in parts repeats its id)")
    kind: Literal["lead", "contact", "mixed"]
    score: int
    members: list[MemberOut]
    pairs: list[PairOut]


class GroupPage(Schema):
    items: list[GroupOut]
    count: int


def _reasons(reasons: list[dict]) -> list[dict]:
    return [{"code": r["code"], "score": r["score"], "text": matching.reason_text(r)} for r in reasons]


def _member(m: selectors.MemberView) -> dict:
    r = m.record
    return {"kind": m.kind, "id": m.id, "name": m.name, "company": m.company, "email": r.email, "phone": r.phone,
            "owner": r.owner, "status": getattr(r, "status", ""), "updated_at": r.updated_at}


def _group(g: selectors.GroupView) -> dict:
    return {"id": g.id, "kind": g.kind, "score": g.score, "members": [_member(m) for m in g.members],
            "pairs": [{"a": {"kind": p.a.kind, "id": p.a.id}, "b": {"kind": p.b.kind, "id": p.b.id},
                       "score": p.score, "reasons": _reasons(p.reasons)} for p in g.pairs]}


class GroupFilters(Schema):
    kind: Literal["lead", "contact", "mixed"] | None = None
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    offset: int = Field(0, ge=0, le=2**63 - 1)


def _group_page(user, kind, limit: int, offset: int) -> dict:
    _require_sales(user)
    qs = selectors.duplicate_groups(user=user, kind=kind)
    return {"count": qs.count(),
            "items": [_group(g) for g in selectors.present_groups(qs[offset:offset + limit], user=user)]}


@router.get("/leads/duplicates", response=GroupPage)
def list_duplicates(request, filters: Query[GroupFilters]):
    """Duplicate groups from the last scan, made of records the caller may see (kind: lead, contact, mixed)."""
    return _group_page(request.auth, filters.kind, filters.limit, filters.offset)


class ContactGroupFilters(Schema):
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    offset: int = Field(0, ge=0, le=2**63 - 1)


@router.get("/contacts/duplicates", response=GroupPage)
def list_contact_duplicates(request, filters: Query[ContactGroupFilters]):
    """Groups of duplicate contacts (like /leads/duplicates?kind=contact)."""
    return _group_page(request.auth, "contact", filters.limit, filters.offset)


class MatchOut(Schema):
    record: MemberOut
    score: int
    reasons: list[ReasonOut]


@router.get("/leads/{int:lead_id}/duplicates", response=list[MatchOut])
def lead_duplicates(request, lead_id: int):
    """Leads and contacts the caller may see that look like this lead, computed now, best first."""
    _require_sales(request.auth)
    lead = lead_selectors.lead_get(user=request.auth, pk=lead_id)
    return [{"record": _member(m.member), "score": m.score, "reasons": _reasons(m.reasons)}
            for m in selectors.duplicates_of(lead=lead, user=request.auth)]


class ScanOut(Schema):
    id: int
    status: str
    threshold: int
    requested_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    records_compared: int
    pairs_found: int
    groups_found: int
    error: str


class ScanIn(StrictSchema):
    threshold: int = Field(matching.DEFAULT_THRESHOLD, ge=50, le=100,
                           description="Fuzzy name-and-company similarity needed, 50–100")


@router.post("/leads/duplicates/scan", response={202: ScanOut})
def start_scan(request, data: ScanIn):
    """Queue a scan of every lead and contact (one already queued or running is returned instead)."""
    scan = services.duplicate_scan_request(actor=request.auth, threshold=data.threshold)
    scan.refresh_from_db()
    return Status(202, scan)


@router.get("/leads/duplicates/scan", response=ScanOut)
def latest_scan(request):
    """The most recent scan and its progress."""
    _require_sales(request.auth)
    scan = selectors.latest_scan()
    if scan is None:
        raise NotFound(_("No duplicate scan has run yet."))
    return scan


# --- merges ---------------------------------------------------------------------------------------------

class MergeIn(StrictSchema):
    survivor_id: RecordId
    other_ids: list[RecordId] = Field(..., min_length=1, max_length=services.MAX_MERGE - 1)
    field_choices: dict[str, RecordId] = Field(
        default_factory=dict, description="Field → id of the record whose value wins; a field not given keeps the "
        "survivor's value (or the newest non-empty one when the survivor's is empty)")


class UndoOut(Schema):
    kept_fields: list[str]
    rows_not_returned: dict[str, int]


class MergeOut(Schema):
    id: int
    kind: str
    survivor_id: int
    merged_ids: list[int]
    merged_by: UserRef | None
    merged_at: dt.datetime
    undone_by: UserRef | None
    undone_at: dt.datetime | None
    changes: dict[str, list] = Field(..., description="Survivor field → [before, after]")
    choices: dict[str, int] = Field(..., description="Field → the record whose value won")
    moved: dict[str, int] = Field(..., description="Related rows moved to the survivor, per app.model.field")
    undo: UndoOut | None

    @staticmethod
    def resolve_changes(obj) -> dict:
        snap = obj.snapshot or {}
        before, after = snap.get("survivor_before", {}), snap.get("survivor_after", {})
        return {k: [before.get(k), v] for k, v in after.items()}

    @staticmethod
    def resolve_choices(obj) -> dict:
        return (obj.snapshot or {}).get("choices", {})

    @staticmethod
    def resolve_moved(obj) -> dict:
        return {k: sum(len(ids) for ids in by.values()) for k, by in (obj.snapshot or {}).get("moved", {}).items()}

    @staticmethod
    def resolve_undo(obj):
        return (obj.snapshot or {}).get("undo")


@router.post("/leads/merge", response={201: MergeOut})
def merge_leads(request, data: MergeIn):
    """Merge `other_ids` into `survivor_id`. Touches, activities and opportunities move to the survivor; the
    others disappear from lists and search. A converted lead can only be the survivor. Undo: /merges/{id}/undo."""
    merge = services.lead_merge(survivor=data.survivor_id, others=data.other_ids, field_choices=data.field_choices,
                                actor=request.auth)
    return Status(201, selectors.merge_get(user=request.auth, pk=merge.pk))


@router.post("/contacts/merge", response={201: MergeOut})
def merge_contacts(request, data: MergeIn):
    """Merge contacts (like /leads/merge); activities, opportunities and converted leads move to the survivor."""
    merge = services.contact_merge(survivor=data.survivor_id, others=data.other_ids, field_choices=data.field_choices,
                                   actor=request.auth)
    return Status(201, selectors.merge_get(user=request.auth, pk=merge.pk))


class MergeFilters(Schema):
    kind: Literal["lead", "contact"] | None = None


@router.get("/merges", response=list[MergeOut])
@paginate(LimitOffsetPagination)
def list_merges(request, filters: Query[MergeFilters]):
    """Merges the caller made or whose survivor they may see, newest first."""
    _require_sales(request.auth)
    return selectors.merge_list(user=request.auth, kind=filters.kind)


@router.get("/merges/{int:merge_id}", response=MergeOut)
def get_merge(request, merge_id: int):
    _require_sales(request.auth)
    return selectors.merge_get(user=request.auth, pk=merge_id)


@router.post("/merges/{int:merge_id}/undo", response=MergeOut)
def undo_merge(request, merge_id: int):
    """Undo a merge: the survivor's old values come back (fields edited since are kept and listed in
    `undo.kept_fields`), exactly the moved rows move back, the merged records reappear. 409 when the
    survivor was merged or converted since, or the merge is already undone."""
    _require_sales(request.auth)
    merge = selectors.merge_get(user=request.auth, pk=merge_id)
    services.merge_undo(merge=merge, actor=request.auth)
    return selectors.merge_get(user=request.auth, pk=merge_id)

