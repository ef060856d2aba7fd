"""Rules of the lead services: create/update validation, assignment, status transitions, conversion mark."""
import pytest

from l2c.core.errors import Conflict, InvalidTransition, PermissionDenied, ValidationFailed
from l2c.core.models import AuditEvent
from l2c.customers.tests.factories import AccountFactory, ContactFactory
from l2c.leads import services
from l2c.leads.choices import LEAD_TRANSITIONS, LeadStatus, allowed_status_changes, can_convert
from l2c.leads.models import Lead

from .factories import CampaignFactory, LeadFactory


def codes(exc_info) -> dict:
    return {e.field: e.code for e in exc_info.value.errors}


def events_of(lead, action=None):
    qs = AuditEvent.objects.filter(object_type="leads.lead", object_id=str(lead.pk))
    return qs.filter(action=action) if action else qs


# --- create / update --------------------------------------------------------------------------

def test_lead_create_normalises_defaults_and_audits(rep, published, django_capture_on_commit_callbacks):
    campaign = CampaignFactory()
    with django_capture_on_commit_callbacks(execute=True):
        lead = services.lead_create(actor=rep, last_name=" Smith ", first_name="Jo", email="  Jo.Smith@Example.COM ",
                                    country="us", campaign=campaign, company="Example Inc")
    assert lead.status == LeadStatus.NEW
    assert lead.owner == rep
    assert lead.email == "Jo.Smith@example.com"  # domain lower-cased, local part kept
    assert lead.last_name == "Smith" and lead.country == "US"
    assert lead.source == "manual"
    assert events_of(lead, "create").count() == 1
    assert ("lead.created", {"lead_id": lead.pk, "source": "manual", "campaign_id": campaign.pk,
                             "owner_id": rep.pk, "actor_id": rep.pk}) in published


def test_lead_create_by_system_may_be_unassigned(db):
    lead = services.lead_create(actor=None, owner=None, last_name="Web", source="web_form")
    assert lead.owner is None
    assert events_of(lead, "create").get().actor_label == "system"


@pytest.mark.parametrize("values, field, code", [
    ({"last_name": ""}, "last_name", "required"),
    ({"last_name": "x" * 101}, "last_name", "max_length"),
    ({"last_name": "A", "company": "c" * 201}, "company", "max_length"),
    ({"last_name": "A", "email": "bad@"}, "email", "invalid_email"),
    ({"last_name": "A", "email": "no spaces@x.com"}, "email", "invalid_email"),
    ({"last_name": "A", "country": "UK"}, "country", "invalid_country"),
    ({"last_name": "A", "source": "carrier_pigeon"}, "source", "invalid_choice"),
    ({"last_name": "A", "company_size": "lots"}, "company_size", "invalid_choice"),
    ({"last_name": "A", "consent_basis": "maybe"}, "consent_basis", "invalid_choice"),
    ({"last_name": "A", "consent_ip": "999.1.1.1"}, "consent_ip", "invalid_ip"),
    ({"last_name": "A", "status": "qualified"}, "status", "unknown_field"),
    ({"last_name": "A", "score": 99}, "score", "unknown_field"),
])
def test_lead_create_rejects_bad_input_and_writes_nothing(rep, values, field, code):
    with pytest.raises(ValidationFailed) as exc_info:
        services.lead_create(actor=rep, **values)
    assert codes(exc_info)[field] == code
    assert Lead.objects.count() == 0
    assert AuditEvent.objects.count() == 0


def test_finance_cannot_create_leads(finance):
    with pytest.raises(PermissionDenied):
        services.lead_create(actor=finance, last_name="X")


def test_consent_gets_a_time(rep):
    lead = services.lead_create(actor=rep, last_name="A", consent_basis="consent", consent_source="webinar form")
    assert lead.consent_at is not None


def test_lead_update_audits_changes(rep):
    lead = LeadFactory(owner=rep, company="Old Co")
    services.lead_update(lead=lead, actor=rep, company="New Co", email="A@B.COM")
    lead.refresh_from_db()
    assert lead.email == "A@b.com"
    assert events_of(lead, "update").get().changes["company"] == ["Old Co", "New Co"]


def test_lead_update_refuses_status_and_converted_leads(rep):
    lead = LeadFactory(owner=rep)
    with pytest.raises(ValidationFailed) as exc_info:
        services.lead_update(lead=lead, actor=rep, status="qualified")
    assert codes(exc_info) == {"status": "unknown_field"}
    converted = LeadFactory(owner=rep, status=LeadStatus.CONVERTED)
    with pytest.raises(Conflict):
        services.lead_update(lead=converted, actor=rep, company="X")


# --- assignment -------------------------------------------------------------------------------

def test_manager_assigns_lead_within_team(manager, rep, rep2, published, django_capture_on_commit_callbacks):
    lead = LeadFactory(owner=None)
    with django_capture_on_commit_callbacks(execute=True):
        services.lead_assign(lead=lead, owner=rep2, actor=manager)
    lead.refresh_from_db()
    assert lead.owner == rep2
    assert events_of(lead, "update").get().changes == {"owner": [None, rep2.pk]}
    assert ("lead.assigned", {"lead_id": lead.pk, "from_owner_id": None, "owner_id": rep2.pk,
                              "actor_id": manager.pk}) in published


def test_assign_to_same_owner_records_nothing(manager, rep):
    lead = LeadFactory(owner=rep)
    services.lead_assign(lead=lead, owner=rep, actor=manager)
    assert not events_of(lead).exists()


def test_rep_cannot_hand_a_lead_to_a_colleague_or_unassign_it(rep, rep2):
    lead = LeadFactory(owner=rep)
    with pytest.raises(ValidationFailed) as exc_info:
        services.lead_assign(lead=lead, owner=rep2, actor=rep)
    assert codes(exc_info) == {"owner": "not_allowed"}
    with pytest.raises(ValidationFailed):
        services.lead_assign(lead=lead, owner=None, actor=rep)
    lead.refresh_from_db()
    assert lead.owner == rep


def test_manager_cannot_assign_outside_team_nor_to_inactive(manager, outsider, rep2):
    lead = LeadFactory(owner=None)
    with pytest.raises(ValidationFailed):
        services.lead_assign(lead=lead, owner=outsider, actor=manager)
    rep2.is_active = False
    rep2.save()
    with pytest.raises(ValidationFailed) as exc_info:
        services.lead_assign(lead=lead, owner=rep2, actor=manager)
    assert codes(exc_info) == {"owner": "inactive_owner"}


# --- status transitions -----------------------------------------------------------------------

ALL_PAIRS = [(a, b) for a in LeadStatus.values for b in LeadStatus.values]


@pytest.mark.parametrize("current, target", ALL_PAIRS)
def test_every_status_pair_follows_the_transition_table(rep, current, target):
    lead = LeadFactory(owner=rep, status=current)
    allowed = target in LEAD_TRANSITIONS[current] and target != LeadStatus.CONVERTED
    if allowed:
        services.lead_change_status(lead=lead, status=target, actor=rep, reason="no budget")
        lead.refresh_from_db()
        assert lead.status == target
        event = events_of(lead, "transition").get()
        assert event.changes["status"] == [current, target]
    else:
        with pytest.raises(InvalidTransition) as exc_info:
            services.lead_change_status(lead=lead, status=target, actor=rep, reason="no budget")
        lead.refresh_from_db()
        assert lead.status == current
        assert not events_of(lead).exists()
        if target != LeadStatus.CONVERTED:
            assert current in exc_info.value.message and target in exc_info.value.message


def test_converted_is_refused_with_a_pointer_to_conversion(rep):
    lead = LeadFactory(owner=rep, status=LeadStatus.QUALIFIED)
    with pytest.raises(InvalidTransition, match="convert"):
        services.lead_change_status(lead=lead, status="converted", actor=rep)


def test_unknown_status_is_a_validation_error(rep):
    lead = LeadFactory(owner=rep)
    with pytest.raises(ValidationFailed) as exc_info:
        services.lead_change_status(lead=lead, status="won", actor=rep)
    assert codes(exc_info) == {"status": "invalid_choice"}


def test_disqualify_needs_a_reason_and_keeps_it(rep, published, django_capture_on_commit_callbacks):
    lead = LeadFactory(owner=rep, status=LeadStatus.WORKING)
    with pytest.raises(ValidationFailed) as exc_info:
        services.lead_change_status(lead=lead, status="disqualified", actor=rep, reason="   ")
    assert codes(exc_info) == {"reason": "required"}
    with pytest.raises(ValidationFailed) as exc_info:
        services.lead_change_status(lead=lead, status="disqualified", actor=rep, reason="r" * 201)
    assert codes(exc_info) == {"reason": "max_length"}
    lead.refresh_from_db()
    assert lead.status == LeadStatus.WORKING

    with django_capture_on_commit_callbacks(execute=True):
        services.lead_change_status(lead=lead, status="disqualified", actor=rep, reason="Student, no budget")
    lead.refresh_from_db()
    assert (lead.status, lead.disqualified_reason) == ("disqualified", "Student, no budget")
    assert events_of(lead, "transition").get().changes["disqualified_reason"] == ["", "Student, no budget"]
    assert ("lead.status_changed", {"lead_id": lead.pk, "from": "working", "to": "disqualified",
                                    "reason": "Student, no budget", "actor_id": rep.pk}) in published

    services.lead_change_status(lead=lead, status="working", actor=rep)
    lead.refresh_from_db()
    assert lead.disqualified_reason == ""


def test_allowed_status_changes_never_offer_conversion():
    for status in LeadStatus.values:
        assert LeadStatus.CONVERTED not in allowed_status_changes(status)
    assert can_convert(LeadStatus.QUALIFIED)
    assert not can_convert(LeadStatus.WORKING)


# --- conversion mark --------------------------------------------------------------------------

def test_mark_converted_from_qualified(rep, published, django_capture_on_commit_callbacks):
    lead = LeadFactory(owner=rep, status=LeadStatus.QUALIFIED)
    contact = ContactFactory(owner=rep)
    with django_capture_on_commit_callbacks(execute=True):
        services.lead_mark_converted(lead=lead, account=contact.account, contact=contact, opportunity_id=42, actor=rep)
    lead.refresh_from_db()
    assert lead.status == LeadStatus.CONVERTED
    assert (lead.converted_account, lead.converted_contact, lead.converted_opportunity_id) == (
        contact.account, contact, 42)
    assert lead.converted_at is not None
    assert events_of(lead, "transition").get().changes["status"] == ["qualified", "converted"]
    assert ("lead.converted", {"lead_id": lead.pk, "account_id": contact.account_id, "contact_id": contact.pk,
                               "opportunity_id": 42, "actor_id": rep.pk}) in published


@pytest.mark.parametrize("status", [s for s in LeadStatus.values if s != LeadStatus.QUALIFIED])
def test_mark_converted_only_from_qualified(rep, status):
    lead = LeadFactory(owner=rep, status=status)
    contact = ContactFactory(owner=rep)
    with pytest.raises(InvalidTransition):
        services.lead_mark_converted(lead=lead, account=contact.account, contact=contact, opportunity_id=1, actor=rep)
    lead.refresh_from_db()
    assert lead.status == status and lead.converted_at is None


def test_mark_converted_contact_must_belong_to_account(rep):
    lead = LeadFactory(owner=rep, status=LeadStatus.QUALIFIED)
    contact = ContactFactory(owner=rep)
    other = AccountFactory(owner=rep)
    with pytest.raises(ValidationFailed):
        services.lead_mark_converted(lead=lead, account=other, contact=contact, opportunity_id=1, actor=rep)
