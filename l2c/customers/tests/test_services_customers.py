"""Rules of the account and contact services."""
import pytest

from l2c.core.errors import PermissionDenied, ValidationFailed
from l2c.core.models import AuditEvent
from l2c.customers import services
from l2c.customers.models import Account, Contact

from .factories import AccountFactory, ContactFactory


def codes(exc_info) -> dict:
    return {e.field: e.code for e in exc_info.value.errors}


# --- account_create ---------------------------------------------------------------------------

def test_account_create_defaults_owner_to_actor_and_audits(rep):
    account = services.account_create(actor=rep, name="  Acme Ltd  ", country="gb", website="https://www.Acme.co.uk/about")

    assert account.owner == rep
    assert account.name == "Acme Ltd"
    assert account.country == "GB"
    assert account.domain == "acme.co.uk"  # derived from the website for matching
    event = AuditEvent.objects.get(object_type="customers.account", object_id=str(account.pk))
    assert event.action == "create" and event.actor_id == rep.pk
    assert event.changes["name"] == [None, "Acme Ltd"]


def test_account_create_publishes_event_after_commit(rep, published, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        account = services.account_create(actor=rep, name="Acme")
    assert ("account.created", {"account_id": account.pk, "actor_id": rep.pk}) in published


@pytest.mark.parametrize("values, field, code", [
    ({"name": ""}, "name", "required"),
    ({"name": "   "}, "name", "required"),
    ({"name": "x" * 201}, "name", "max_length"),
    ({"name": "A", "phone": "1" * 41}, "phone", "max_length"),
    ({"name": "A", "country": "ZZ"}, "country", "invalid_country"),
    ({"name": "A", "country": "USA"}, "country", "max_length"),
    ({"name": "A", "size": "huge"}, "size", "invalid_choice"),
    ({"name": "A", "domain": "not a domain"}, "domain", "invalid_domain"),
])
def test_account_create_rejects_bad_input_and_writes_nothing(rep, values, field, code):
    with pytest.raises(ValidationFailed) as exc_info:
        services.account_create(actor=rep, **values)
    assert codes(exc_info)[field] == code
    assert Account.objects.count() == 0
    assert AuditEvent.objects.count() == 0


def test_account_create_reports_every_bad_field_at_once(rep):
    with pytest.raises(ValidationFailed) as exc_info:
        services.account_create(actor=rep, name="", country="xx", size="nope")
    assert set(codes(exc_info)) == {"name", "country", "size"}


def test_owner_must_be_active(rep, rep2, manager):
    rep2.is_active = False
    rep2.save()
    with pytest.raises(ValidationFailed) as exc_info:
        services.account_create(actor=manager, name="Acme", owner=rep2)
    assert codes(exc_info) == {"owner": "inactive_owner"}


def test_rep_cannot_give_records_to_others_or_to_nobody(rep, rep2):
    with pytest.raises(ValidationFailed) as exc_info:
        services.account_create(actor=rep, name="Acme", owner=rep2)
    assert codes(exc_info) == {"owner": "not_allowed"}
    with pytest.raises(ValidationFailed) as exc_info:
        services.account_create(actor=rep, name="Acme", owner=None)
    assert codes(exc_info) == {"owner": "required"}


def test_manager_assigns_within_team_only(manager, rep, outsider):
    assert services.account_create(actor=manager, name="Acme", owner=rep).owner == rep
    with pytest.raises(ValidationFailed) as exc_info:
        services.account_create(actor=manager, name="Beta", owner=outsider)
    assert codes(exc_info) == {"owner": "not_allowed"}


def test_finance_cannot_own_or_write_customers(admin_user, finance):
    with pytest.raises(ValidationFailed) as exc_info:
        services.account_create(actor=admin_user, name="Acme", owner=finance)
    assert codes(exc_info) == {"owner": "invalid_owner"}
    with pytest.raises(PermissionDenied):
        services.account_create(actor=finance, name="Acme")


# --- account_update ---------------------------------------------------------------------------

def test_account_update_records_before_and_after(rep):
    account = services.account_create(actor=rep, name="Acme", city="Berlin")
    services.account_update(account=account, actor=rep, city="Hamburg", country="de")

    account.refresh_from_db()
    assert (account.city, account.country) == ("Hamburg", "DE")
    event = AuditEvent.objects.filter(object_id=str(account.pk), action="update").get()
    assert event.changes == {"city": ["Berlin", "Hamburg"], "country": ["", "DE"]}


def test_account_update_without_change_records_nothing(rep):
    account = services.account_create(actor=rep, name="Acme")
    services.account_update(account=account, actor=rep, name="Acme")
    assert not AuditEvent.objects.filter(action="update").exists()


def test_account_update_rejects_unknown_field_and_bad_values(rep):
    account = services.account_create(actor=rep, name="Acme")
    with pytest.raises(ValidationFailed) as exc_info:
        services.account_update(account=account, actor=rep, created_at="2020-01-01")
    assert codes(exc_info) == {"created_at": "unknown_field"}
    with pytest.raises(ValidationFailed):
        services.account_update(account=account, actor=rep, name="")
    account.refresh_from_db()
    assert account.name == "Acme"


# --- contacts ---------------------------------------------------------------------------------

def test_contact_create_validates_and_inherits_country(rep):
    account = AccountFactory(owner=rep, country="CN")
    contact = services.contact_create(actor=rep, account=account, last_name="Wang", first_name="Lei",
                                      email="  Lei.Wang@EXAMPLE.CN ")
    assert contact.owner == rep
    assert contact.country == "CN"
    assert contact.email == "Lei.Wang@example.cn"
    assert contact.full_name == "Lei Wang"
    assert AuditEvent.objects.filter(object_type="customers.contact", action="create").count() == 1


@pytest.mark.parametrize("values, field, code", [
    ({"last_name": ""}, "last_name", "required"),
    ({"last_name": "x" * 101}, "last_name", "max_length"),
    ({"last_name": "Li", "email": "not-an-email"}, "email", "invalid_email"),
    ({"last_name": "Li", "email": "a@b"}, "email", "invalid_email"),
    ({"last_name": "Li", "country": "XX"}, "country", "invalid_country"),
])
def test_contact_create_rejects_bad_input(rep, values, field, code):
    account = AccountFactory(owner=rep)
    with pytest.raises(ValidationFailed) as exc_info:
        services.contact_create(actor=rep, account=account, **values)
    assert codes(exc_info)[field] == code
    assert Contact.objects.count() == 0


def test_contact_needs_an_account_the_actor_can_see(rep, outsider):
    with pytest.raises(ValidationFailed) as exc_info:
        services.contact_create(actor=rep, account=None, last_name="Li")
    assert codes(exc_info) == {"account": "required"}
    foreign = AccountFactory(owner=outsider)
    with pytest.raises(ValidationFailed) as exc_info:
        services.contact_create(actor=rep, account=foreign, last_name="Li")
    assert codes(exc_info) == {"account": "not_found"}


def test_contact_update_audits_diff(rep):
    contact = ContactFactory(owner=rep, title="CTO")
    services.contact_update(contact=contact, actor=rep, title="CEO", email="ceo@Acme.COM")
    event = AuditEvent.objects.get(object_type="customers.contact", action="update")
    assert event.changes["title"] == ["CTO", "CEO"]
    assert event.changes["email"][1] == "ceo@acme.com"


def test_contact_update_bad_email_changes_nothing(rep):
    contact = ContactFactory(owner=rep)
    before = contact.email
    with pytest.raises(ValidationFailed):
        services.contact_update(contact=contact, actor=rep, email="nope")
    contact.refresh_from_db()
    assert contact.email == before


# --- account_find_match -----------------------------------------------------------------------

def test_find_match_by_name_ignoring_case(rep):
    acme = AccountFactory(name="Acme Ltd", domain="acme.com")
    assert services.account_find_match(name="ACME ltd") == acme
    assert services.account_find_match(name="Acme") is None


def test_find_match_by_email_domain(rep):
    acme = AccountFactory(name="Acme Ltd", domain="acme.com")
    assert services.account_find_match(name="Acme Limited", domain="jane@ACME.com") == acme
    assert services.account_find_match(name="", domain="https://www.acme.com/contact") == acme
    assert services.account_find_match(name="", domain="other.com") is None


def test_find_match_ignores_free_mail_domains(db):
    AccountFactory(name="Gmail reseller", domain="gmail.com")
    assert services.account_find_match(name="Someone", domain="someone@gmail.com") is None


def test_find_match_prefers_name_and_oldest(rep):
    first = AccountFactory(name="Acme", domain="acme.com")
    AccountFactory(name="acme", domain="acme.com")
    by_domain = AccountFactory(name="Other", domain="other.com")
    assert services.account_find_match(name="ACME", domain="x@other.com") == first
    assert services.account_find_match(name="nope", domain="x@other.com") == by_domain


def test_find_match_respects_visibility_when_given_a_user(rep, outsider):
    AccountFactory(name="Acme", owner=outsider)
    assert services.account_find_match(name="Acme", user=rep) is None
    assert services.account_find_match(name="Acme", user=outsider) is not None
