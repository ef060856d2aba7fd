from decimal import Decimal

import pytest

from l2c.core.errors import InvalidTransition, NotFound, ValidationFailed
from l2c.core.models import AuditEvent
from l2c.customers.models import Account, Contact
from l2c.leads.choices import LeadStatus
from l2c.pipeline import services
from l2c.pipeline.models import Opportunity, StageHistory

from .factories import AccountFactory, ActivityFactory, CampaignFactory, ContactFactory, LeadFactory


def test_convert_creates_account_contact_and_opportunity_keeping_the_origin(rep, stages):
    # given a qualified lead from a campaign, with an open task
    campaign = CampaignFactory()
    lead = LeadFactory(owner=rep, status=LeadStatus.QUALIFIED, company="Nimbus Ltd", email="ann@nimbus.example",
                       first_name="Ann", last_name="Ng", title="CTO", campaign=campaign, source="event")
    task = ActivityFactory(owner=rep, lead=lead)
    # when it is converted
    result = services.lead_convert(lead=lead, actor=rep, opportunity_name="Nimbus rollout", amount=Decimal("9000"),
                                   currency="EUR")
    # then there is a new account, a contact and an opportunity that remembers where it came from
    assert result.account_created and result.account.name == "Nimbus Ltd" and result.account.domain == "nimbus.example"
    assert result.contact.account == result.account and result.contact.email == "ann@nimbus.example"
    opp = result.opportunity
    assert opp.name == "Nimbus rollout" and opp.amount == Decimal("9000") and opp.currency == "EUR"
    assert opp.lead == lead and opp.source == "event" and opp.campaign == campaign
    assert opp.contact == result.contact and opp.owner == rep and opp.stage == stages["Prospecting"]
    assert StageHistory.objects.filter(opportunity=opp).count() == 1
    # the lead's activities follow the person and the deal, and keep their lead link
    task.refresh_from_db()
    assert task.lead == lead and task.contact == result.contact and task.opportunity == opp
    assert result.activities_moved == 1
    lead.refresh_from_db()
    assert lead.status == LeadStatus.CONVERTED and lead.converted_opportunity_id == opp.pk
    assert lead.converted_account == result.account and lead.converted_contact == result.contact
    assert AuditEvent.objects.filter(object_type="pipeline.activity", object_id=str(task.pk), action="update").exists()


def test_convert_uses_the_matching_account_and_existing_contact(rep, stages):
    account = AccountFactory(owner=rep, name="Orbit GmbH", domain="orbit.example")
    existing = ContactFactory(account=account, owner=rep, email="max@orbit.example")
    lead = LeadFactory(owner=rep, status=LeadStatus.QUALIFIED, company="ORBIT GMBH", email="max@orbit.example")
    result = services.lead_convert(lead=lead, actor=rep)
    assert result.account == account and not result.account_created
    assert result.contact == existing and not result.contact_created
    assert Account.objects.count() == 1


def test_convert_matches_by_email_domain(rep, stages):
    account = AccountFactory(owner=rep, name="Acme Corporation", domain="acme.example")
    lead = LeadFactory(owner=rep, status=LeadStatus.QUALIFIED, company="Acme", email="bo@acme.example")
    assert services.matching_accounts(lead=lead, user=rep) == [account]
    result = services.lead_convert(lead=lead, actor=rep)
    assert result.account == account


def test_free_mail_never_matches(rep, stages):
    AccountFactory(owner=rep, name="Somebody", domain="gmail.com")
    lead = LeadFactory(owner=rep, status=LeadStatus.QUALIFIED, company="Fresh Co", email="x@gmail.com")
    result = services.lead_convert(lead=lead, actor=rep)
    assert result.account_created and result.account.name == "Fresh Co"


def test_a_hidden_account_is_not_matched(rep, outsider, stages):
    AccountFactory(owner=outsider, name="Secret Co")
    lead = LeadFactory(owner=rep, status=LeadStatus.QUALIFIED, company="Secret Co", email="a@secret.example")
    result = services.lead_convert(lead=lead, actor=rep)
    assert result.account_created and result.account.owner == rep


def test_convert_to_a_chosen_account_without_an_opportunity(rep, stages):
    account = AccountFactory(owner=rep)
    lead = LeadFactory(owner=rep, status=LeadStatus.QUALIFIED)
    result = services.lead_convert(lead=lead, actor=rep, account=account.pk, create_opportunity=False)
    assert result.account == account and result.opportunity is None
    lead.refresh_from_db()
    assert lead.status == LeadStatus.CONVERTED and lead.converted_opportunity_id is None


@pytest.mark.parametrize("status", [LeadStatus.NEW, LeadStatus.WORKING, LeadStatus.DISQUALIFIED, LeadStatus.CONVERTED])
def test_only_a_qualified_lead_converts(rep, stages, status):
    lead = LeadFactory(owner=rep, status=status)
    with pytest.raises(InvalidTransition):
        services.lead_convert(lead=lead, actor=rep)
    assert not Account.objects.exists() and not Opportunity.objects.exists()


def test_refusals_change_nothing(rep, outsider, stages):
    lead = LeadFactory(owner=rep, status=LeadStatus.QUALIFIED)
    ActivityFactory(owner=rep, lead=lead)
    # a hidden chosen account
    with pytest.raises(ValidationFailed) as exc:
        services.lead_convert(lead=lead, actor=rep, account=AccountFactory(owner=outsider).pk)
    assert exc.value.errors[0].field == "account_id"
    # a bad amount: the account and contact made before it roll back
    with pytest.raises(ValidationFailed) as exc:
        services.lead_convert(lead=lead, actor=rep, amount="-5")
    assert exc.value.errors[0].field == "amount"
    with pytest.raises(ValidationFailed) as exc:
        services.lead_convert(lead=lead, actor=rep, opportunity_name="o" * 201)
    assert exc.value.errors[0].field == "opportunity_name"
    assert Account.objects.count() == 1 and not Contact.objects.exists() and not Opportunity.objects.exists()
    lead.refresh_from_db()
    assert lead.status == LeadStatus.QUALIFIED
    assert lead.activities.get().contact is None


def test_someone_elses_lead_is_not_found(rep, outsider, stages):
    lead = LeadFactory(owner=outsider, status=LeadStatus.QUALIFIED)
    with pytest.raises(NotFound):
        services.lead_convert(lead=lead, actor=rep)
