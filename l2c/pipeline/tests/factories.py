"""Factories for the pipeline (factory_boy). Accounts, contacts and leads come from their apps' factories."""
from decimal import Decimal

import factory
from django.utils import timezone

from l2c.customers.tests.factories import AccountFactory, ContactFactory  # noqa: F401 - re-exported for tests
from l2c.leads.tests.factories import CampaignFactory, LeadFactory  # noqa: F401 - re-exported for tests
from l2c.pipeline.choices import ActivityKind
from l2c.pipeline.models import Activity, Opportunity, Stage, StageHistory


def stage_named(name: str) -> Stage:
    """One of the default stages (seeded by migration 0002)."""
    from l2c.pipeline.services import ensure_default_stages

    ensure_default_stages()
    return Stage.objects.get(name=name)


class StageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Stage

    name = factory.Sequence(lambda n: f"Stage {n}")
    order = factory.Sequence(lambda n: 100 + n)
    probability = 30


class OpportunityFactory(factory.django.DjangoModelFactory):
    """An opportunity in Prospecting with its first stage stay (as the service would write it)."""

    class Meta:
        model = Opportunity
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Deal {n}")
    owner = None
    account = factory.SubFactory(AccountFactory, owner=factory.SelfAttribute("..owner"))
    amount = Decimal("10000.00")
    currency = "USD"
    stage = factory.LazyFunction(lambda: stage_named("Prospecting"))
    probability = factory.LazyAttribute(lambda o: o.stage.probability)
    stage_entered_at = factory.LazyFunction(timezone.now)

    @factory.post_generation
    def history(obj, create, extracted, **kwargs):
        if create:
            StageHistory.objects.create(opportunity=obj, stage=obj.stage, entered_at=obj.stage_entered_at,
                                        probability=obj.probability, amount=obj.amount)


class ActivityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Activity

    kind = ActivityKind.TASK
    subject = factory.Sequence(lambda n: f"Follow up {n}")
    due_at = factory.LazyFunction(lambda: timezone.now() + timezone.timedelta(hours=2))
    owner = None
