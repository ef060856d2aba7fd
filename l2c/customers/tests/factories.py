"""Factories for customers (factory_boy). Owners must be passed (or default to none)."""
import factory

from l2c.customers.models import Account, Contact


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account

    name = factory.Sequence(lambda n: f"Company {n} Ltd")
    domain = factory.Sequence(lambda n: f"company{n}.example")
    website = factory.LazyAttribute(lambda o: f"https://{o.domain}")
    industry = "Software"
    size = "51-200"
    city = "Shanghai"
    country = "CN"
    owner = None


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    account = factory.SubFactory(AccountFactory, owner=factory.SelfAttribute("..owner"))
    first_name = factory.Sequence(lambda n: f"Ann{n}")
    last_name = factory.Sequence(lambda n: f"Lee{n}")
    email = factory.LazyAttribute(lambda o: f"{o.first_name.lower()}@{o.account.domain}")
    country = "CN"
    owner = None
