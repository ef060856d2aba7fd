"""The account page's deal-to-cash thread: opportunity → quote → contract → orders → invoices → payments,
each as far as the viewer may see it."""
import datetime as dt
from decimal import Decimal

import pytest
from django.test import Client

from l2c.billing import services
from l2c.orders.services import order_create_from_contract

from .factories import make_contract

DAY = dt.date(2026, 3, 10)


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def paid_contract(db, rep, finance):
    contract = make_contract(owner=rep, start=DAY)
    order = order_create_from_contract(contract)
    invoice = services.invoice_post(actor=finance, invoice=services.invoice_create_from_contract(
        actor=finance, contract=contract, issue_date=DAY))
    payment = services.payment_record(actor=finance, account=contract.account, date=DAY + dt.timedelta(days=5),
                                      method="bank_transfer", currency="USD", amount=Decimal("1500"),
                                      reference="wire", allocations=[(invoice, invoice.gross_total)])
    return {"contract": contract, "order": order, "invoice": invoice, "payment": payment}


def test_the_thread_shows_every_step_to_the_cash(paid_contract, finance, admin_user):
    c = paid_contract
    page = client_for(admin_user).get(f"/accounts/{c['contract'].account_id}/thread/")
    assert page.status_code == 200
    html = page.content.decode()
    positions = [html.index(text) for text in (c["contract"].opportunity.name, c["contract"].quote.number,
                                               c["contract"].number, c["order"].number, c["invoice"].number,
                                               c["payment"].number)]
    assert positions == sorted(positions)  # in the order of the flow
    assert "not yet applied" in html  # 1500 paid against 1380: the rest is customer credit
    # finance sees contracts, orders, invoices and payments, but not the pipeline
    finance_html = client_for(finance).get(f"/accounts/{c['contract'].account_id}/thread/").content.decode()
    assert c["invoice"].number in finance_html and c["payment"].number in finance_html
    assert f'/opportunities/{c["contract"].opportunity_id}/' not in finance_html


def test_the_rep_sees_their_deal_and_another_team_sees_nothing(paid_contract, rep, outsider):
    c = paid_contract
    html = client_for(rep).get(f"/accounts/{c['contract'].account_id}/thread/").content.decode()
    assert c["contract"].number in html and c["invoice"].number in html
    assert client_for(outsider).get(f"/accounts/{c['contract'].account_id}/thread/").status_code == 404


def test_the_account_page_loads_the_thread(paid_contract, admin_user):
    html = client_for(admin_user).get(f"/accounts/{paid_contract['contract'].account_id}/").content.decode()
    assert f'hx-get="/accounts/{paid_contract["contract"].account_id}/thread/"' in html
