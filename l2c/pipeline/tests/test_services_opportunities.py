import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from l2c.core.errors import NotFound, PermissionDenied, ValidationFailed
from l2c.core.events import subscribe
from l2c.core.models import AuditEvent
from l2c.pipeline import services
from l2c.pipeline.choices import ForecastCategory
from l2c.pipeline.models import Opportunity, StageHistory

from .factories import AccountFactory, ContactFactory, OpportunityFactory


@pytest.fixture
def published(django_capture_on_commit_callbacks):
    seen = []

    def handler(name, payload):
        seen.append((name, payload))

    subscribe("*", handler)
    yield seen
    from l2c.core import events

    events._SUBSCRIBERS["*"].remove(handler)


def test_create_enters_the_first_stage_and_opens_its_history(rep, stages, published,
                                                             django_capture_on_commit_callbacks):
    account = AccountFactory(owner=rep)
    contact = ContactFactory(account=account, owner=rep)
    with django_capture_on_commit_callbacks(execute=True):
        opp = services.opportunity_create(actor=rep, name="Big deal", account=account.pk, contact=contact.pk,
                                          amount="1200.50", currency="eur")
    assert opp.stage == stages["Prospecting"]
    assert opp.owner == rep and opp.probability == 10 and opp.currency == "EUR"
    assert opp.amount == Decimal("1200.50")
    [stay] = StageHistory.objects.filter(opportunity=opp)
    assert stay.stage == stages["Prospecting"] and stay.left_at is None and stay.from_stage is None
    assert AuditEvent.objects.filter(object_type="pipeline.opportunity", object_id=str(opp.pk), action="create").exists()
    assert ("opportunity.created", published[-1][1]) == published[-1] and published[-1][1]["opportunity_id"] == opp.pk


def test_create_refuses_an_account_the_actor_cannot_see(rep, rep2, stages):
    hidden = AccountFactory(owner=rep2)
    with pytest.raises(ValidationFailed) as exc:
        services.opportunity_create(actor=rep, name="x", account=hidden.pk)
    assert [e.field for e in exc.value.errors] == ["account"]
    assert not Opportunity.objects.exists()


@pytest.mark.parametrize("fields, field", [
    ({"amount": "-1"}, "amount"),
    ({"amount": "12.345"}, "amount"),
    ({"amount": "abc"}, "amount"),
    ({"currency": "XXQ"}, "currency"),
    ({"currency": "usd1"}, "currency"),
    ({"probability": 101}, "probability"),
    ({"name": "n" * 201}, "name"),
    ({"next_step": "s" * 256}, "next_step"),
    ({"forecast_category": "closed"}, "forecast_category"),
    ({"forecast_category": "maybe"}, "forecast_category"),
    ({"stage": 999999}, "stage"),
    ({"owner": 999999}, "owner"),
])
def test_create_refuses_bad_fields(rep, stages, fields, field):
    account = AccountFactory(owner=rep)
    with pytest.raises(ValidationFailed) as exc:
        services.opportunity_create(actor=rep, name=fields.pop("name", "Deal"), account=account, **fields)
    assert field in [e.field for e in exc.value.errors]
    assert not Opportunity.objects.exists()


def test_contact_must_belong_to_the_account(rep, stages):
    account = AccountFactory(owner=rep)
    elsewhere = ContactFactory(owner=rep)
    with pytest.raises(ValidationFailed) as exc:
        services.opportunity_create(actor=rep, name="Deal", account=account, contact=elsewhere)
    assert exc.value.errors[0].field == "contact"


def test_a_rep_cannot_give_a_deal_to_a_colleague_but_a_manager_can(rep, rep2, manager, stages):
    account = AccountFactory(owner=manager)
    with pytest.raises(ValidationFailed):
        services.opportunity_create(actor=rep, name="Deal", account=AccountFactory(owner=rep), owner=rep2.pk)
    opp = services.opportunity_create(actor=manager, name="Deal", account=account, owner=rep2.pk)
    assert opp.owner == rep2


def test_finance_cannot_write_the_pipeline(finance, stages):
    with pytest.raises(PermissionDenied):
        services.opportunity_create(actor=finance, name="Deal", account=AccountFactory())


def test_move_lists_every_missing_required_field_and_changes_nothing(rep, stages):
    opp = OpportunityFactory(owner=rep, amount=None)
    with pytest.raises(ValidationFailed) as exc:
        services.opportunity_move(opportunity=opp, stage=stages["Proposal"], actor=rep)
    errors = {e.field: e for e in exc.value.errors}
    assert set(errors) == {"amount", "expected_close_date"}
    assert errors["amount"].code == "required_for_stage"
    assert "Proposal" in errors["amount"].message and "Amount" in errors["amount"].message
    opp.refresh_from_db()
    assert opp.stage == stages["Prospecting"]
    assert StageHistory.objects.filter(opportunity=opp).count() == 1
    assert not AuditEvent.objects.filter(object_type="pipeline.opportunity", action="transition").exists()


def test_fields_given_with_the_move_satisfy_the_stage(rep, stages):
    opp = OpportunityFactory(owner=rep)
    services.opportunity_move(opportunity=opp, stage=stages["Qualification"], actor=rep,
                              fields={"budget": "50k approved", "need": "Replace spreadsheets"})
    opp.refresh_from_db()
    assert opp.stage == stages["Qualification"] and opp.probability == 20 and opp.budget == "50k approved"


def test_move_closes_the_stay_and_opens_a_new_one_with_time_in_stage(rep, stages):
    opp = OpportunityFactory(owner=rep)
    # given the deal entered Prospecting three days ago
    three_days_ago = timezone.now() - dt.timedelta(days=3, hours=1)
    Opportunity.objects.filter(pk=opp.pk).update(stage_entered_at=three_days_ago)
    StageHistory.objects.filter(opportunity=opp).update(entered_at=three_days_ago)
    opp.refresh_from_db()
    assert opp.days_in_stage == 3
    # when it moves to Negotiation
    services.opportunity_move(opportunity=opp, stage=stages["Negotiation"], actor=rep)
    # then the first stay has left_at, the second is open, and the time in the first is 3 days
    first, second = StageHistory.objects.filter(opportunity=opp).order_by("entered_at")
    assert first.left_at is not None and first.left_at == second.entered_at
    assert first.duration.days == 3 and first.days == 3
    assert second.stage == stages["Negotiation"] and second.from_stage == stages["Prospecting"]
    assert second.left_at is None and second.moved_by == rep
    opp.refresh_from_db()
    assert opp.days_in_stage == 0 and opp.probability == 75
    event = AuditEvent.objects.get(object_type="pipeline.opportunity", object_id=str(opp.pk), action="transition")
    assert event.changes["stage"] == [stages["Prospecting"].pk, stages["Negotiation"].pk]
    assert event.changes["probability"] == [10, 75]


def test_lost_needs_a_reason(rep, stages):
    opp = OpportunityFactory(owner=rep)
    with pytest.raises(ValidationFailed) as exc:
        services.opportunity_move(opportunity=opp, stage=stages["Closed Lost"], actor=rep)
    assert [e.field for e in exc.value.errors] == ["lost_reason"]
    opp.refresh_from_db()
    assert opp.closed_at is None


def test_lost_reason_is_required_even_if_the_stage_forgot_it(admin_user, rep, stages):
    services.stage_update(stage=stages["Closed Lost"], actor=admin_user, required_fields=[])
    opp = OpportunityFactory(owner=rep)
    with pytest.raises(ValidationFailed):
        services.opportunity_move(opportunity=opp, stage=stages["Closed Lost"], actor=rep)


def test_lost_with_reason_closes_and_omits(rep, stages, published, django_capture_on_commit_callbacks):
    opp = OpportunityFactory(owner=rep)
    with django_capture_on_commit_callbacks(execute=True):
        services.opportunity_move(opportunity=opp, stage=stages["Closed Lost"], actor=rep,
                                  fields={"lost_reason": "Price"})
    opp.refresh_from_db()
    assert opp.closed_at is not None and opp.forecast_category == ForecastCategory.OMITTED
    assert opp.probability == 0 and opp.lost_reason == "Price"
    names = [name for name, _ in published]
    assert "opportunity.stage_changed" in names and "opportunity.lost" in names


def test_won_closes_and_reopening_clears_closed_at(rep, stages, published, django_capture_on_commit_callbacks):
    opp = OpportunityFactory(owner=rep)
    with django_capture_on_commit_callbacks(execute=True):
        services.opportunity_move(opportunity=opp, stage=stages["Closed Won"], actor=rep)
    opp.refresh_from_db()
    assert opp.closed_at is not None and opp.forecast_category == ForecastCategory.CLOSED and opp.probability == 100
    assert ("opportunity.won", published[-1][1]) == published[-1]
    assert published[-1][1]["from_stage_id"] == stages["Prospecting"].pk
    services.opportunity_move(opportunity=opp, stage=stages["Negotiation"], actor=rep)
    opp.refresh_from_db()
    assert opp.closed_at is None and opp.forecast_category == ForecastCategory.PIPELINE and opp.probability == 75


def test_moving_to_the_same_stage_is_a_quiet_no_op(rep, stages):
    opp = OpportunityFactory(owner=rep)
    services.opportunity_move(opportunity=opp, stage=stages["Prospecting"], actor=rep)
    assert StageHistory.objects.filter(opportunity=opp).count() == 1
    assert not AuditEvent.objects.filter(object_type="pipeline.opportunity", action="transition").exists()


def test_unknown_or_inactive_stage_is_a_stage_id_error(admin_user, rep, stages):
    opp = OpportunityFactory(owner=rep)
    with pytest.raises(ValidationFailed) as exc:
        services.opportunity_move(opportunity=opp, stage=999999, actor=rep)
    assert exc.value.errors[0].field == "stage_id"
    extra = services.stage_create(actor=admin_user, name="Parked", probability=5, is_active=False)
    with pytest.raises(ValidationFailed):
        services.opportunity_move(opportunity=opp, stage=extra, actor=rep)


def test_someone_elses_opportunity_is_not_found(rep, outsider, stages):
    opp = OpportunityFactory(owner=outsider)
    with pytest.raises(NotFound):
        services.opportunity_move(opportunity=opp, stage=stages["Negotiation"], actor=rep)
    with pytest.raises(NotFound):
        services.opportunity_update(opportunity=opp, actor=rep, name="mine now")


def test_update_cannot_change_the_stage_or_empty_a_field_the_stage_requires(rep, stages):
    opp = OpportunityFactory(owner=rep, expected_close_date=dt.date(2030, 1, 1))
    services.opportunity_move(opportunity=opp, stage=stages["Proposal"], actor=rep)
    with pytest.raises(ValidationFailed) as exc:
        services.opportunity_update(opportunity=opp, actor=rep, stage=stages["Negotiation"].pk)
    assert exc.value.errors[0].code == "read_only"
    with pytest.raises(ValidationFailed) as exc:
        services.opportunity_update(opportunity=opp, actor=rep, amount=None)
    assert exc.value.errors[0].field == "amount"
    updated = services.opportunity_update(opportunity=opp, actor=rep, amount="5000", next_step="Demo")
    assert updated.amount == Decimal("5000") and updated.next_step == "Demo"
    event = AuditEvent.objects.filter(object_type="pipeline.opportunity", action="update").last()
    assert event.changes["next_step"] == ["", "Demo"]


def test_closed_deal_keeps_the_stage_probability(rep, stages):
    opp = OpportunityFactory(owner=rep)
    services.opportunity_move(opportunity=opp, stage=stages["Closed Won"], actor=rep)
    with pytest.raises(ValidationFailed):
        services.opportunity_update(opportunity=opp, actor=rep, probability=50)
