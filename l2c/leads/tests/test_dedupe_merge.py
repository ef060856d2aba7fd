"""Merging duplicate leads and contacts, and undoing a merge (services, both databases)."""
import datetime as dt
import uuid

import pytest
from django.test import Client
from django.utils import timezone

from l2c.core import audit
from l2c.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from l2c.core.models import AuditEvent
from l2c.core.tests.export_helpers import read_csv
from l2c.customers.selectors import contact_list
from l2c.customers.tests.factories import AccountFactory, ContactFactory
from l2c.leads import selectors as lead_selectors
from l2c.leads import services as lead_services
from l2c.leads.choices import LeadStatus, TouchKind
from l2c.leads.dedupe import services
from l2c.leads.models import Lead, MergeRecord, Touch
from l2c.pipeline.models import Activity, Opportunity
from l2c.pipeline.tests.factories import ActivityFactory, OpportunityFactory

from .factories import LeadFactory


def uniq() -> str:
    return uuid.uuid4().hex[:10]


def make_lead(owner, **kw):
    kw.setdefault("last_name", "L" + uniq())
    kw.setdefault("company", "Firm " + uniq())
    kw.setdefault("email", f"{uniq()}@{uniq()}.example")
    kw.setdefault("phone", "")
    return LeadFactory(owner=owner, **kw)


def touch(lead, **kw):
    return Touch.objects.create(lead=lead, kind=TouchKind.FORM_SUBMISSION, occurred_at=timezone.now(), **kw)


@pytest.fixture
def pair(rep):
    """Two of rep's leads for one person; the second has the newer job title and a phone."""
    a = make_lead(rep, first_name="John", last_name="Smith", company="ACME Inc", email="john@acme.example",
                  title="", city="Boston")
    b = make_lead(rep, first_name="Jon", last_name="Smith", company="Acme, Inc.", email="jsmith@acme.example",
                  title="CTO", phone="+14155550123", city="")
    return a, b


def test_merge_moves_touches_activities_and_opportunities_and_picks_values(rep, pair):
    # given
    a, b = pair
    t_a, t_b = touch(a), touch(b)
    act = ActivityFactory(lead=b, owner=rep, subject="Call back")
    opp = OpportunityFactory(owner=rep, lead=b)
    # when: a survives; its e-mail is kept, but b's company spelling is chosen
    merge = services.lead_merge(survivor=a, others=[b], field_choices={"company": b.pk}, actor=rep)
    # then
    a.refresh_from_db()
    b.refresh_from_db()
    assert b.merged_into_id == a.pk
    assert (a.email, a.company, a.title, a.phone, a.city) == (
        "john@acme.example", "Acme, Inc.", "CTO", "+14155550123", "Boston")  # empty fields filled from b
    assert set(Touch.objects.filter(lead=a).values_list("pk", flat=True)) == {t_a.pk, t_b.pk}
    assert Activity.objects.get(pk=act.pk).lead_id == a.pk
    assert Opportunity.objects.get(pk=opp.pk).lead_id == a.pk
    assert merge.kind == MergeRecord.Kind.LEAD and merge.survivor_id == a.pk and merge.merged_ids == [b.pk]
    moved = merge.snapshot["moved"]
    assert moved["leads.touch.lead"] == {str(b.pk): [t_b.pk]}
    assert moved["pipeline.activity.lead"] == {str(b.pk): [act.pk]}
    assert moved["pipeline.opportunity.lead"] == {str(b.pk): [opp.pk]}
    assert merge.snapshot["survivor_before"]["title"] == "" and merge.snapshot["survivor_after"]["title"] == "CTO"


def test_merged_leads_are_gone_from_list_search_get_and_export(rep, pair):
    a, b = pair
    services.lead_merge(survivor=a, others=[b], actor=rep)
    assert list(lead_selectors.lead_list(user=rep)) == [a]
    assert list(lead_selectors.lead_list(user=rep, q="jsmith")) == []
    assert lead_selectors.lead_status_counts(user=rep) == {LeadStatus.NEW: 1}
    with pytest.raises(NotFound):
        lead_selectors.lead_get(user=rep, pk=b.pk)
    client = Client()
    client.force_login(rep)
    exported = {int(row["ID"]) for row in read_csv(client.get("/leads/export/", {"format": "csv"}))}
    assert exported == {a.pk}
    with pytest.raises(Conflict):  # a merged lead cannot be edited any more
        lead_services.lead_update(lead=b, actor=rep, title="CEO")


def test_merge_is_audited_on_every_record_and_the_chain_verifies(rep, pair):
    a, b = pair
    merge = services.lead_merge(survivor=a, others=[b], actor=rep)
    on_a = AuditEvent.objects.get(object_type="leads.lead", object_id=str(a.pk), action=AuditEvent.Action.MERGE)
    on_b = AuditEvent.objects.get(object_type="leads.lead", object_id=str(b.pk), action=AuditEvent.Action.MERGE)
    assert on_a.changes["merged"] == [None, [b.pk]] and on_a.changes["merge_record"] == [None, merge.pk]
    assert on_a.changes["title"] == ["", "CTO"]
    assert on_b.changes["merged_into"] == [None, a.pk]
    assert on_a.actor_id == rep.pk
    _count, problem = audit.verify_chain()
    assert problem is None


def test_undo_restores_exactly(rep, pair):
    # given a merge, and a touch that arrives on the survivor afterwards
    a, b = pair
    t_a, t_b = touch(a), touch(b)
    act = ActivityFactory(lead=b, owner=rep)
    before_a = audit.snapshot(Lead.objects.get(pk=a.pk))
    before_b = audit.snapshot(Lead.objects.get(pk=b.pk))
    merge = services.lead_merge(survivor=a, others=[b], field_choices={"email": b.pk}, actor=rep)
    later = touch(a)
    # when
    merge = services.merge_undo(merge=merge, actor=rep)
    # then
    assert audit.snapshot(Lead.objects.get(pk=a.pk)) == before_a
    assert audit.snapshot(Lead.objects.get(pk=b.pk)) == before_b
    assert set(Touch.objects.filter(lead=a).values_list("pk", flat=True)) == {t_a.pk, later.pk}
    assert list(Touch.objects.filter(lead=b).values_list("pk", flat=True)) == [t_b.pk]
    assert Activity.objects.get(pk=act.pk).lead_id == b.pk
    assert merge.undone_at is not None and merge.undone_by == rep
    assert merge.snapshot["undo"] == {"kept_fields": [], "rows_not_returned": {}}
    assert {lead.pk for lead in lead_selectors.lead_list(user=rep)} == {a.pk, b.pk}
    assert AuditEvent.objects.filter(object_id=str(b.pk), changes__merged_into=[a.pk, None]).exists()
    assert audit.verify_chain()[1] is None
    with pytest.raises(Conflict) as exc:
        services.merge_undo(merge=merge, actor=rep)
    assert exc.value.code == "merge_undone"


def test_undo_keeps_fields_edited_after_the_merge_and_reports_them(rep, pair):
    a, b = pair
    merge = services.lead_merge(survivor=a, others=[b], actor=rep)  # title "" → "CTO", phone filled
    lead_services.lead_update(lead=a, actor=rep, title="Chief Technology Officer")
    merge = services.merge_undo(merge=merge, actor=rep)
    a.refresh_from_db()
    assert a.title == "Chief Technology Officer"  # kept: edited after the merge
    assert a.phone == ""  # restored
    assert merge.snapshot["undo"]["kept_fields"] == ["title"]


def test_undo_is_refused_when_the_survivor_was_merged_since(rep, pair):
    a, b = pair
    c = make_lead(rep)
    first = services.lead_merge(survivor=a, others=[b], actor=rep)
    services.lead_merge(survivor=c, others=[a], actor=rep)
    with pytest.raises(Conflict) as exc:
        services.merge_undo(merge=first, actor=rep)
    assert exc.value.code == "survivor_merged"
    assert Lead.objects.get(pk=b.pk).merged_into_id == a.pk  # nothing changed


def test_undo_is_refused_when_the_survivor_was_converted_since(rep, pair):
    a, b = pair
    merge = services.lead_merge(survivor=a, others=[b], actor=rep)
    Lead.objects.filter(pk=a.pk).update(status=LeadStatus.CONVERTED, converted_at=timezone.now() + dt.timedelta(seconds=1))
    with pytest.raises(Conflict) as exc:
        services.merge_undo(merge=merge, actor=rep)
    assert exc.value.code == "lead_converted"


def test_a_converted_lead_cannot_be_merged_away_only_survive(rep, pair):
    a, b = pair
    Lead.objects.filter(pk=b.pk).update(status=LeadStatus.CONVERTED)
    with pytest.raises(ValidationFailed) as exc:
        services.lead_merge(survivor=a, others=[b], actor=rep)
    assert exc.value.errors[0].code == "converted_lead"
    assert Lead.objects.get(pk=b.pk).merged_into_id is None
    # as the survivor it keeps its own values; picking another record's value is refused
    with pytest.raises(ValidationFailed) as exc:
        services.lead_merge(survivor=b, others=[a], field_choices={"city": a.pk}, actor=rep)
    assert exc.value.errors[0].field == "field_choices.city"
    merge = services.lead_merge(survivor=b, others=[a], actor=rep)
    b.refresh_from_db()
    assert b.city == "" and merge.snapshot["survivor_after"] == {}
    assert Lead.objects.get(pk=a.pk).merged_into_id == b.pk


def test_merging_a_record_with_itself_or_nothing_is_refused(rep, pair):
    a, _b = pair
    with pytest.raises(ValidationFailed) as exc:
        services.lead_merge(survivor=a, others=[a], actor=rep)
    assert exc.value.errors[0].code == "self_merge"
    with pytest.raises(ValidationFailed) as exc:
        services.lead_merge(survivor=a, others=[], actor=rep)
    assert exc.value.errors[0].field == "other_ids"
    assert not MergeRecord.objects.exists()


def test_someone_elses_record_is_not_found(rep, outsider, pair):
    a, _b = pair
    theirs = make_lead(outsider)
    with pytest.raises(NotFound):
        services.lead_merge(survivor=a, others=[theirs], actor=rep)
    with pytest.raises(NotFound):
        services.lead_merge(survivor=theirs.pk, others=[a.pk], actor=rep)
    with pytest.raises(NotFound):
        services.lead_merge(survivor=a, others=[10**12], actor=rep)
    assert Lead.objects.get(pk=theirs.pk).merged_into_id is None


def test_a_manager_merges_the_teams_records_and_finance_may_not(manager, rep, rep2, finance, pair):
    a, _b = pair
    other = make_lead(rep2, first_name="John", last_name="Smith")
    merge = services.lead_merge(survivor=a, others=[other], actor=manager)
    assert merge.merged_by == manager
    with pytest.raises(PermissionDenied):
        services.lead_merge(survivor=a, others=[_b], actor=finance)


def test_bad_field_choices_name_the_field(rep, pair):
    a, b = pair
    c = make_lead(rep)
    with pytest.raises(ValidationFailed) as exc:
        services.lead_merge(survivor=a, others=[b], field_choices={"status": b.pk, "email": c.pk}, actor=rep)
    assert {e.field: e.code for e in exc.value.errors} == {"field_choices.status": "unknown_field",
                                                           "field_choices.email": "not_in_merge"}
    services.lead_merge(survivor=a, others=[b], actor=rep)
    with pytest.raises(Conflict) as exc:  # b is merged already
        services.lead_merge(survivor=c, others=[b], actor=rep)
    assert exc.value.code == "already_merged"


def test_defaults_prefer_the_survivor_then_the_most_recent_non_empty_value(rep):
    a = make_lead(rep, title="")
    old = make_lead(rep, title="Old title")
    new = make_lead(rep, title="New title")
    Lead.objects.filter(pk=old.pk).update(updated_at=timezone.now() - dt.timedelta(days=3))
    services.lead_merge(survivor=a, others=[old, new], actor=rep)
    a.refresh_from_db()
    assert a.title == "New title"


# --- contacts -----------------------------------------------------------------------------------------

def test_contact_merge_moves_activities_opportunities_and_converted_leads_and_undoes(rep):
    # given
    account = AccountFactory(owner=rep)
    keep = ContactFactory(owner=rep, account=account, first_name="Mei", last_name="Lin", phone="")
    dup = ContactFactory(owner=rep, account=account, first_name="Mei", last_name="Lin", phone="+8613812345678")
    act = ActivityFactory(contact=dup, owner=rep)
    opp = OpportunityFactory(owner=rep, account=account, contact=dup)
    converted = make_lead(rep, status=LeadStatus.CONVERTED, converted_contact=dup, converted_account=account)
    # when
    merge = services.contact_merge(survivor=keep, others=[dup], actor=rep)
    # then
    keep.refresh_from_db()
    assert keep.phone == "+8613812345678"
    assert Activity.objects.get(pk=act.pk).contact_id == keep.pk
    assert Opportunity.objects.get(pk=opp.pk).contact_id == keep.pk
    assert Lead.objects.get(pk=converted.pk).converted_contact_id == keep.pk
    assert list(contact_list(user=rep)) == [keep]
    assert AuditEvent.objects.filter(object_type="customers.contact", object_id=str(dup.pk),
                                     action=AuditEvent.Action.MERGE).exists()
    # and undo
    services.merge_undo(merge=merge, actor=rep)
    keep.refresh_from_db()
    assert keep.phone == ""
    assert Activity.objects.get(pk=act.pk).contact_id == dup.pk
    assert Opportunity.objects.get(pk=opp.pk).contact_id == dup.pk
    assert Lead.objects.get(pk=converted.pk).converted_contact_id == dup.pk
    assert {c.pk for c in contact_list(user=rep)} == {keep.pk, dup.pk}
    assert audit.verify_chain()[1] is None


def test_contacts_of_another_rep_are_not_found(rep, outsider):
    mine = ContactFactory(owner=rep)
    theirs = ContactFactory(owner=outsider)
    with pytest.raises(NotFound):
        services.contact_merge(survivor=mine, others=[theirs], actor=rep)
