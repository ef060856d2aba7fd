"""Dunning: seeded levels, one e-mail per customer with every overdue invoice, pauses (disputed, promise to pay),
stopping when paid, idempotent daily runs, a refused e-mail retried, the task, the page and the API."""
import datetime as dt
from decimal import Decimal

import pytest
from django.test import Client

from l2c.core.errors import PermissionDenied, ValidationFailed
from l2c.pipeline.models import Activity
from l2c.receivables import selectors, services, tasks
from l2c.receivables.models import DunningEvent, DunningLevel, DunningRun

from .support import customer, pay, pdf_text, posted_invoice

pytestmark = pytest.mark.django_db
DAY = dt.date(2026, 1, 5)  # net 30: due 2026-02-04
DUE = DAY + dt.timedelta(days=30)


def on(days_after_due: int) -> dt.date:
    return DUE + dt.timedelta(days=days_after_due)


@pytest.fixture
def book(finance, rep):
    """Customer A: two invoices (due Feb 4 and Feb 14); customer B: one (due Feb 4)."""
    a = customer(rep, name="客户甲 Alpha", email="ap@alpha.example")
    b = customer(rep, name="Beta Ltd", email="ap@beta.example")
    return {
        "a": a, "b": b,
        "a1": posted_invoice(finance, account=a, issue_date=DAY),
        "a2": posted_invoice(finance, account=a, issue_date=DAY + dt.timedelta(days=10)),
        "b1": posted_invoice(finance, account=b, issue_date=DAY),
    }


def test_seeded_levels():
    assert [(level.days_overdue, level.name, level.active) for level in DunningLevel.objects.all()] == [
        (7, "Friendly reminder", True), (21, "Firm reminder", True), (45, "Final notice", True)]


def test_one_email_per_customer_listing_all_overdue_invoices(smtp, book):
    # when: 21 days after the first due date (a1 and b1 at 21 days: firm; a2 at 11 days: friendly)
    run = services.run_dunning(on(21))
    # then
    assert (run.emails_sent, run.invoices_reminded, run.failures) == (2, 3, [])
    by_to = {m["To"]: m for m in smtp.messages}
    assert set(by_to) == {"ap@alpha.example", "ap@beta.example"}
    alpha = by_to["ap@alpha.example"]
    assert alpha["Subject"] == "Second reminder: 2 overdue invoice(s) from " + _company()
    files = sorted(a.get_filename() for a in alpha.iter_attachments())
    assert files == sorted([f"{book['a1'].number}.pdf", f"{book['a2'].number}.pdf"])
    assert all(book["a1"].number in pdf_text(a.get_content()) or book["a2"].number in pdf_text(a.get_content())
               for a in alpha.iter_attachments())
    body = alpha.get_body(preferencelist=("plain",)).get_content()
    assert book["a1"].number in body and book["a2"].number in body and "/portal/c/" in body
    assert "Total overdue: USD 220.00" in body
    levels = {e.invoice_id: e.level.days_overdue for e in DunningEvent.objects.select_related("level")}
    assert levels == {book["a1"].pk: 21, book["a2"].pk: 7, book["b1"].pk: 21}
    # each customer's timeline has the reminder
    assert Activity.objects.filter(account=book["a"], kind="email").count() == 1
    assert Activity.objects.filter(account=book["b"], kind="email").count() == 1


def _company():
    from l2c.core.models import CompanyProfile

    return CompanyProfile.get().name


def test_nothing_before_the_first_level_and_then_level_by_level(smtp, book):
    assert services.run_dunning(on(6)).emails_sent == 0
    assert selectors.dunning_plan(on(6)) == []
    services.run_dunning(on(7))
    assert {m["To"] for m in smtp.messages} == {"ap@alpha.example", "ap@beta.example"}
    assert smtp.messages[0]["Subject"].startswith("Payment reminder")
    smtp.envelopes.clear()
    assert services.run_dunning(on(8)).emails_sent == 0  # same level: nothing new
    services.run_dunning(on(17))  # a2 reaches 7 days
    assert [m["To"] for m in smtp.messages] == ["ap@alpha.example"]
    assert [a.get_filename() for a in smtp.messages[0].iter_attachments()] == [f"{book['a2'].number}.pdf"]


def test_idempotent_per_day(smtp, book):
    first = services.run_dunning(on(21))
    again = services.run_dunning(on(21))
    assert len(smtp.messages) == 2
    assert again.pk == first.pk and again.emails_sent == 2  # nothing added by the second run
    assert DunningRun.objects.count() == 1 and DunningEvent.objects.count() == 3


def test_disputed_and_promised_invoices_pause(smtp, finance, book):
    services.collection_update(actor=finance, invoice=book["a1"], disputed=True, dispute_note="Wrong quantity")
    services.collection_update(actor=finance, invoice=book["b1"], promise_to_pay_date=on(25))
    services.run_dunning(on(21))
    # only a2 goes out (a1 disputed, b1 promised for a later day)
    assert [m["To"] for m in smtp.messages] == ["ap@alpha.example"]
    assert set(DunningEvent.objects.values_list("invoice_id", flat=True)) == {book["a2"].pk}
    # the promised day passes without payment: b1 is reminded again; the dispute is resolved: a1 too
    smtp.envelopes.clear()
    services.collection_update(actor=finance, invoice=book["a1"], disputed=False)
    services.run_dunning(on(26))
    assert sorted(m["To"] for m in smtp.messages) == ["ap@alpha.example", "ap@beta.example"]


def test_stops_when_paid(smtp, finance, book):
    services.run_dunning(on(7))
    pay(finance, book["a1"], "110.00", on(10))
    pay(finance, book["b1"], "50.00", on(10))  # partly paid: still reminded for the rest
    smtp.envelopes.clear()
    services.run_dunning(on(21))
    by_to = {m["To"]: m for m in smtp.messages}
    # a1 is paid: alpha's reminder lists only a2 (now 11 days overdue); beta's the rest of b1
    assert [a.get_filename() for a in by_to["ap@alpha.example"].iter_attachments()] == [f"{book['a2'].number}.pdf"]
    assert "USD 60.00" in by_to["ap@beta.example"].get_body(preferencelist=("plain",)).get_content()
    assert not DunningEvent.objects.filter(invoice=book["a1"], level__days_overdue=21).exists()
    event = DunningEvent.objects.get(invoice=book["b1"], level__days_overdue=21)
    assert event.balance == Decimal("60.0000")


def test_a_long_overdue_invoice_gets_only_the_highest_level_once(smtp, book):
    services.run_dunning(on(50))
    assert DunningEvent.objects.filter(invoice=book["a1"]).get().level.days_overdue == 45
    smtp.envelopes.clear()
    services.run_dunning(on(51))  # the lower levels it skipped are not sent afterwards
    assert smtp.messages == []


def test_inactive_levels_are_skipped(smtp, finance, book):
    DunningLevel.objects.filter(days_overdue=7).update(active=False)
    assert services.run_dunning(on(10)).emails_sent == 0



def test_refused_email_records_nothing_so_the_next_run_retries(dead_smtp, book):
    run = services.run_dunning(on(21))
    assert run.emails_sent == 0 and len(run.failures) == 2
    assert not DunningEvent.objects.exists() and not Activity.objects.exists()
    assert len(selectors.dunning_plan(on(21))) == 2  # still due: the next run sends them


def test_customer_without_email_is_reported(smtp, finance, rep):
    account = customer(rep, email="")
    posted_invoice(finance, account=account, issue_date=DAY)
    run = services.run_dunning(on(7))
    assert run.failures == [{"account": account.pk, "error": "No e-mail address is known."}]
    assert smtp.messages == []


def test_recipient_is_where_the_invoice_was_last_sent(smtp, finance, book):
    services.invoice_send(actor=finance, invoice=book["a1"], to="billing@alpha.example")
    smtp.envelopes.clear()
    services.run_dunning(on(7))
    assert "billing@alpha.example" in {m["To"] for m in smtp.messages}


def test_task_runs_the_day(smtp, book):
    result = tasks.run_dunning.delay(on(21).isoformat()).get()
    assert result.startswith(f"{on(21)}: 2 e-mails, 3 invoices")


def test_level_update_rules(finance, rep):
    level = DunningLevel.objects.get(days_overdue=7)
    with pytest.raises(ValidationFailed) as exc:
        services.dunning_level_update(actor=finance, level=level, days_overdue=21, email_subject="{% if %}",
                                      name="")
    assert {e.field for e in exc.value.errors} == {"days_overdue", "email_subject", "name"}
    with pytest.raises(PermissionDenied):
        services.dunning_level_update(actor=rep, level=level, name="x")
    level = services.dunning_level_update(actor=finance, level=level, days_overdue=10, name="Nudge")
    assert (level.days_overdue, level.name) == (10, "Nudge")


def test_collection_flag_rules(finance, rep, book):
    with pytest.raises(ValidationFailed) as exc:
        services.collection_update(actor=finance, invoice=book["a1"], disputed=True)
    assert exc.value.errors[0].field == "dispute_note"
    with pytest.raises(ValidationFailed) as exc:
        services.collection_update(actor=finance, invoice=book["a1"], promise_to_pay_date=DAY - dt.timedelta(days=1))
    assert exc.value.errors[0].field == "promise_to_pay_date"
    with pytest.raises(PermissionDenied):
        services.collection_update(actor=rep, invoice=book["a1"], promise_to_pay_date=on(3))
    assert selectors.collection_for(book["a1"]) is None


def test_dunning_page_and_flags_form(smtp, finance, rep, book):
    client = Client()
    client.force_login(rep)
    assert client.get("/receivables/dunning/").status_code == 403
    assert client.post(f"/invoices/{book['a1'].pk}/collection/", {"disputed": "on", "dispute_note": "x"}) \
        .status_code == 403
    client.force_login(finance)
    page = client.get("/receivables/dunning/", {"date": on(21).isoformat()})
    assert page.status_code == 200
    assert book["a1"].number.encode() in page.content and b"Final notice" in page.content
    response = client.post(f"/invoices/{book['a1'].pk}/collection/",
                           {"disputed": "on", "dispute_note": "Wrong quantity", "promise_to_pay_date": ""})
    assert response.status_code == 302
    assert selectors.collection_for(book["a1"]).disputed
    page = client.get("/receivables/dunning/", {"date": on(21).isoformat()})
    assert book["a1"].number.encode() not in page.content
    level = DunningLevel.objects.get(days_overdue=45)
    response = client.post(f"/receivables/dunning/levels/{level.pk}/", {
        "name": "Last call", "days_overdue": "45", "email_subject": "Last call", "email_body": "Pay now.",
        "active": "on"})
    assert response.status_code == 302 and DunningLevel.objects.get(pk=level.pk).name == "Last call"


def test_dunning_api(smtp, api_for, finance, rep, book):
    assert api_for(rep).get("/api/v1/receivables/dunning/preview").status_code == 403
    assert api_for(rep).post("/api/v1/receivables/dunning/run", {}).status_code == 403
    preview = api_for(finance).get("/api/v1/receivables/dunning/preview", {"date": on(21).isoformat()}).json()
    assert sorted(p["email"] for p in preview) == ["ap@alpha.example", "ap@beta.example"]
    run = api_for(finance).post("/api/v1/receivables/dunning/run", {"date": on(21).isoformat()})
    assert run.status_code == 200 and run.json()["emails_sent"] == 2
    levels = api_for(finance).get("/api/v1/receivables/dunning/levels").json()
    response = api_for(finance).patch(f"/api/v1/receivables/dunning/levels/{levels[0]['id']}", {"days_overdue": 0})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "days_overdue"
    response = api_for(finance).patch(f"/api/v1/invoices/{book['a1'].pk}/collection",
                                      {"promise_to_pay_date": on(30).isoformat()})
    assert response.status_code == 200 and response.json()["promise_to_pay_date"] == on(30).isoformat()
    assert api_for(rep).patch(f"/api/v1/invoices/{book['a1'].pk}/collection", {"disputed": False}).status_code == 403
