"""Account and contact pages: lists, detail with contacts/history/panels, forms, visibility."""
import pytest
from django.test import Client

from l2c.customers.models import Account, Contact

from .factories import AccountFactory, ContactFactory


@pytest.fixture
def as_user():
    def login(user):
        client = Client()
        client.force_login(user)
        return client
    return login


def test_account_list_bounded_queries_search_and_sort(rep, rep2, as_user, django_assert_max_num_queries):
    for n in range(30):
        account = AccountFactory(owner=rep, name=f"Firm {n:02d}", country="DE" if n % 2 else "FR")
        ContactFactory(account=account, owner=rep)
    AccountFactory(owner=rep2, name="Firm Hidden")
    client = as_user(rep)
    with django_assert_max_num_queries(10):
        response = client.get("/accounts/")
    page = response.content.decode()
    assert "Firm 00" in page and "Firm 29" not in page and "Firm Hidden" not in page
    with django_assert_max_num_queries(10):
        response = client.get("/accounts/", {"q": "firm", "country": "de", "ordering": "-name"})
    page = response.content.decode()
    assert page.index("Firm 29") < page.index("Firm 27")
    assert "Firm 28" not in page
    assert "?q=firm&amp;country=de&amp;ordering=name" in page


def test_contact_list_bounded_queries_and_filter_by_account(rep, as_user, django_assert_max_num_queries):
    acme = AccountFactory(owner=rep, name="Acme")
    ContactFactory.create_batch(30, owner=rep, account=acme)
    other = ContactFactory(owner=rep, last_name="Zed")
    client = as_user(rep)
    with django_assert_max_num_queries(10):
        response = client.get("/contacts/")
    assert response.status_code == 200
    page = client.get("/contacts/", {"account": other.account_id}).content.decode()
    assert "Zed" in page and "Acme" not in page


@pytest.mark.parametrize("role, status", [("rep", 200), ("manager", 200), ("admin_user", 200), ("finance", 200),
                                          ("rep2", 404), ("outsider", 404)])
def test_account_and_contact_detail_visibility(role, status, rep, request, as_user):
    contact = ContactFactory(owner=rep)
    client = as_user(request.getfixturevalue(role))
    assert client.get(f"/accounts/{contact.account_id}/").status_code == status
    assert client.get(f"/contacts/{contact.pk}/").status_code == status


def test_finance_reads_but_cannot_edit(finance, rep, as_user):
    account = AccountFactory(owner=rep)
    client = as_user(finance)
    page = client.get(f"/accounts/{account.pk}/").content.decode()
    assert f"/accounts/{account.pk}/edit/" not in page
    assert client.get(f"/accounts/{account.pk}/edit/").status_code == 403
    assert client.get("/accounts/new/").status_code == 403
    assert client.post("/contacts/new/", {"account": account.pk, "last_name": "X"}).status_code == 403


def test_account_detail_lists_contacts_history_and_panels(rep, as_user):
    client = as_user(rep)
    response = client.post("/accounts/new/", {"name": "Acme", "country": "cn", "owner": rep.pk})
    account = Account.objects.get()
    assert response["Location"] == f"/accounts/{account.pk}/"
    client.post(f"/accounts/{account.pk}/edit/", {"name": "Acme Ltd", "country": "CN", "owner": rep.pk})
    client.post("/contacts/new/", {"account": account.pk, "last_name": "Wang", "first_name": "Lei",
                                   "email": "lei@acme.cn", "owner": rep.pk})
    page = client.get(f"/accounts/{account.pk}/").content.decode()
    assert "Lei Wang" in page
    assert f'hx-get="/opportunities/panel/?account={account.pk}"' in page
    assert f'hx-get="/activities/panel/?account={account.pk}"' in page
    assert "<del>Acme</del>" in page and "<ins>Acme Ltd</ins>" in page
    contact = Contact.objects.get()
    page = client.get(f"/contacts/{contact.pk}/").content.decode()
    assert f'hx-get="/activities/panel/?contact={contact.pk}"' in page and "History" in page


def test_account_form_errors_beside_fields_and_nothing_saved(rep, as_user):
    response = as_user(rep).post("/accounts/new/", {"name": "", "country": "QQ", "domain": "nope", "owner": rep.pk})
    errors = response.context["form"].errors
    assert "name" in errors
    assert 'id="id_name_errors"' in response.content.decode()
    assert Account.objects.count() == 0


def test_service_errors_are_mapped_to_form_fields(rep, as_user):
    response = as_user(rep).post("/accounts/new/", {"name": "Acme", "country": "QQ", "domain": "no-dot",
                                                    "owner": rep.pk})
    errors = response.context["form"].errors
    assert "ISO 3166" in errors["country"][0]
    assert "domain" in errors
    assert Account.objects.count() == 0


def test_rep_cannot_pick_another_owner_in_form(rep, rep2, as_user):
    response = as_user(rep).post("/accounts/new/", {"name": "Acme", "owner": rep2.pk})
    assert "owner" in response.context["form"].errors
    assert Account.objects.count() == 0


def test_contact_form_prefills_account_and_offers_only_visible_accounts(rep, outsider, as_user):
    mine = AccountFactory(owner=rep, name="Mine")
    AccountFactory(owner=outsider, name="Theirs")
    response = as_user(rep).get("/contacts/new/", {"account": mine.pk})
    form = response.context["form"]
    assert list(form.fields["account"].queryset) == [mine]
    assert form.initial["account"] == mine.pk
