"""Rules of the campaign services."""
import datetime as dt
from decimal import Decimal

import pytest

from l2c.core.errors import PermissionDenied, ValidationFailed
from l2c.core.models import AuditEvent
from l2c.leads import services
from l2c.leads.models import Campaign

from .factories import CampaignFactory


def codes(exc_info) -> dict:
    return {e.field: e.code for e in exc_info.value.errors}


def test_campaign_create(manager):
    campaign = services.campaign_create(actor=manager, name="Spring webinar", type="webinar", currency="eur",
                                        budget="1000.5", cost=Decimal("0"), start_date=dt.date(2025, 3, 1),
                                        end_date=dt.date(2025, 3, 1))
    campaign.refresh_from_db()
    assert campaign.budget == Decimal("1000.50") and campaign.currency == "EUR"
    assert campaign.owner == manager
    assert AuditEvent.objects.filter(object_type="leads.campaign", action="create").count() == 1


@pytest.mark.parametrize("values, field, code", [
    ({"name": ""}, "name", "required"),
    ({"name": "n" * 201}, "name", "max_length"),
    ({"name": "A", "budget": Decimal("-1")}, "budget", "min_value"),
    ({"name": "A", "cost": "-0.01"}, "cost", "min_value"),
    ({"name": "A", "cost": "1.001"}, "cost", "max_decimal_places"),
    ({"name": "A", "cost": "abc"}, "cost", "invalid_amount"),
    ({"name": "A", "budget": 1.5}, "budget", "invalid_amount"),
    ({"name": "A", "budget": "1e30"}, "budget", "max_value"),
    ({"name": "A", "currency": "EURO"}, "currency", "max_length"),
    ({"name": "A", "currency": "ABC"}, "currency", "invalid_currency"),
    ({"name": "A", "type": "telepathy"}, "type", "invalid_choice"),
    ({"name": "A", "status": "sleeping"}, "status", "invalid_choice"),
    ({"name": "A", "start_date": dt.date(2025, 3, 2), "end_date": dt.date(2025, 3, 1)}, "end_date", "date_order"),
])
def test_campaign_create_rejects_bad_input(manager, values, field, code):
    with pytest.raises(ValidationFailed) as exc_info:
        services.campaign_create(actor=manager, **values)
    assert codes(exc_info)[field] == code
    assert Campaign.objects.count() == 0


def test_campaign_names_are_unique_ignoring_case(manager):
    CampaignFactory(name="Expo 2025")
    with pytest.raises(ValidationFailed) as exc_info:
        services.campaign_create(actor=manager, name="expo 2025")
    assert codes(exc_info) == {"name": "unique"}


def test_only_managers_and_admins_write_campaigns(rep, finance, admin_user):
    for actor in (rep, finance):
        with pytest.raises(PermissionDenied):
            services.campaign_create(actor=actor, name="X")
    assert services.campaign_create(actor=admin_user, name="X").pk


def test_campaign_update_checks_dates_against_stored_values(manager):
    campaign = CampaignFactory(start_date=dt.date(2025, 3, 1), end_date=dt.date(2025, 3, 31))
    with pytest.raises(ValidationFailed) as exc_info:
        services.campaign_update(campaign=campaign, actor=manager, end_date=dt.date(2025, 2, 1))
    assert codes(exc_info) == {"end_date": "date_order"}
    services.campaign_update(campaign=campaign, actor=manager, cost="1500", status="active")
    campaign.refresh_from_db()
    assert campaign.cost == Decimal("1500.00") and campaign.status == "active"
    event = AuditEvent.objects.get(object_type="leads.campaign", action="update")
    assert event.changes == {"cost": ["1200.00", "1500.00"], "status": ["planned", "active"]}
