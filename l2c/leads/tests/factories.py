"""Factories for leads and campaigns (factory_boy)."""
import datetime as dt
from decimal import Decimal

import factory

from l2c.leads.choices import LeadSource, LeadStatus
from l2c.leads.models import Campaign, Lead


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Campaign

    name = factory.Sequence(lambda n: f"Spring webinar {n}")
    type = "webinar"
    start_date = dt.date(2025, 3, 1)
    end_date = dt.date(2025, 3, 31)
    currency = "USD"
    budget = Decimal("5000.00")
    cost = Decimal("1200.00")


class LeadFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lead

    first_name = factory.Sequence(lambda n: f"Pat{n}")
    last_name = factory.Sequence(lambda n: f"Quinn{n}")
    email = factory.Sequence(lambda n: f"pat{n}@prospect{n}.example")
    phone = factory.Sequence(lambda n: f"+1 555 01{n:04d}")
    company = factory.Sequence(lambda n: f"Prospect {n} Inc")
    country = "US"
    source = LeadSource.WEB_FORM
    status = LeadStatus.NEW
    owner = None
