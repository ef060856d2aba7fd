"""Signing and declining through the contract services, contract status changes and the renewal job."""
import datetime as dt
import hashlib
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from l2c.contracts import services, signing
from l2c.contracts.models import Contract, ContractStatus, Signature
from l2c.core.errors import Conflict, InvalidTransition, PermissionDenied, ValidationFailed
from l2c.core.events import subscribe
from l2c.core.models import AuditEvent
from l2c.pipeline.models import Activity, Opportunity, Stage
from l2c.quoting.models import PortalLink, Quote, QuoteStatus

from .factories import _signing_var_dir, drawn_png, make_sent_quote, sign, signing_var  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def published():
    seen = []

    def handler(name, payload):
        seen.append((name, payload))

    subscribe("*", handler)
    yield seen
    from l2c.core import events

    events._SUBSCRIBERS["*"].remove(handler)


def portal_events(quote, name):
    return AuditEvent.objects.filter(object_type="quoting.quote", object_id=str(quote.pk),
                                     changes__portal_event__1=name)


def assert_nothing_signed(quote, link):
    quote.refresh_from_db()
    link.refresh_from_db()
    assert quote.status == QuoteStatus.SENT
    assert link.used_at is None
    assert not Signature.objects.filter(quote=quote).exists()
    assert not Contract.objects.filter(quote=quote).exists()


# --- dates -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("start, months, end", [
    (dt.date(2027, 1, 1), 12, dt.date(2027, 12, 31)),
    (dt.date(2027, 3, 15), 1, dt.date(2027, 4, 14)),
    (dt.date(2028, 1, 31), 1, dt.date(2028, 2, 28)),  # 29 Feb 2028 is the clamped day one month on, minus one
    (dt.date(2027, 6, 1), 24, dt.date(2029, 5, 31)),
    (dt.date(2027, 6, 1), 0, dt.date(2027, 6, 1)),
])
def test_contract_end_is_start_plus_term_minus_one_day(start, months, end):
    assert services.contract_end(start, months) == end


# --- signing ---------------------------------------------------------------------------------------------

def test_signing_creates_the_contract_with_frozen_lines_and_wins_the_deal(rep, published,
                                                                         django_capture_on_commit_callbacks):
    # given
    quote, link, _token = make_sent_quote(owner=rep, contract_start=dt.date(2027, 1, 1), term=12, auto_renew=True,
                                          notice_days=45)
    # when
    with django_capture_on_commit_callbacks(execute=True):
        contract = sign(link, quote, signer_email="jane@example.com", signer_title="CFO")
    # then: the contract
    year = timezone.localdate().year
    assert contract.number == f"CTR-{year}-000001"
    assert contract.status == ContractStatus.ACTIVE and contract.owner == rep
    assert (contract.start_date, contract.end_date, contract.term_months) == (dt.date(2027, 1, 1),
                                                                              dt.date(2027, 12, 31), 12)
    assert contract.auto_renew and contract.notice_days == 45
    assert contract.account_id == quote.account_id and contract.opportunity_id == quote.opportunity_id
    assert (contract.net_total, contract.tax_total, contract.gross_total) == (quote.net_total, quote.tax_total,
                                                                             quote.gross_total)
    assert contract.net_total == Decimal("1150.00") and contract.gross_total == Decimal("1380.00")
    # the lines: optional one left out, values frozen from the quote
    quote_lines = list(quote.lines.filter(optional=False).order_by("position"))
    lines = list(contract.lines.order_by("position"))
    assert len(lines) == 2 and quote.lines.count() == 3
    for frozen, original in zip(lines, quote_lines, strict=True):
        assert frozen.quote_line_id == original.pk and frozen.product_id == original.product_id
        assert (frozen.quantity, frozen.unit_price, frozen.net_amount, frozen.tax_amount, frozen.gross_amount) == (
            original.quantity, original.unit_price, original.net_amount, original.tax_amount, original.gross_amount)
    # the quote, the link, the opportunity
    quote.refresh_from_db()
    link.refresh_from_db()
    assert quote.status == QuoteStatus.ACCEPTED and quote.accepted_at is not None
    assert link.used_at is not None
    opportunity = Opportunity.objects.select_related("stage").get(pk=quote.opportunity_id)
    assert opportunity.stage.is_won and opportunity.closed_at is not None
    # the signature: what was shown, and a signed PDF that verifies against the record
    signature = contract.signature
    assert signature.signer_name == "Jane Buyer" and signature.signer_title == "CFO"
    assert signature.shown_pdf_sha256 == quote.sent_pdf_sha256
    assert signature.consent_version == services.CONSENT_VERSION and "binding" in signature.consent_text
    assert signature.ip_address == "203.0.113.7" and signature.user_agent == "pytest-browser/1.0"
    assert [e["event"] for e in signature.events][0] == "sent"
    assert [e["event"] for e in signature.events][-2:] == ["consented", "signed"]
    assert hashlib.sha256(bytes(signature.signed_pdf)).hexdigest() == signature.signed_pdf_sha256
    verdict = signing.verify_document(bytes(signature.signed_pdf))
    assert verdict.valid and verdict.signature == signature
    # audit and events
    assert AuditEvent.objects.filter(object_type="contracts.signature", object_id=str(signature.pk)).exists()
    assert AuditEvent.objects.filter(object_type="contracts.contract", object_id=str(contract.pk),
                                     action="create").exists()
    assert portal_events(quote, "signed").exists()
    assert portal_events(quote, "consented").get().changes["consent_version"] == [None, services.CONSENT_VERSION]
    names = [name for name, _payload in published]
    assert "quote.signed" in names and "contract.created" in names and "opportunity.won" in names
    # the signer's copy
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["jane@example.com"]
    assert mail.outbox[0].attachments[0][2] == "application/pdf"
    assert mail.outbox[0].attachments[0][1] == bytes(signature.signed_pdf)


def test_contract_starts_on_the_signing_date_when_the_quote_names_none(rep):
    quote, link, _token = make_sent_quote(owner=rep, contract_start=None, term=6)
    contract = sign(link, quote)
    today = timezone.localdate()
    assert contract.start_date == today and contract.end_date == services.contract_end(today, 6)
    assert not mail.outbox  # no e-mail given: no copy sent


def test_a_refused_move_to_won_still_creates_the_contract_and_leaves_a_task(rep):
    # given: the won stage requires a field the opportunity does not have
    won = Stage.objects.get(is_won=True)
    won.required_fields = ["competitor"]
    won.save()
    quote, link, _token = make_sent_quote(owner=rep)
    # when
    contract = sign(link, quote)
    # then
    opportunity = Opportunity.objects.select_related("stage").get(pk=quote.opportunity_id)
    assert contract.pk and not opportunity.stage.is_won
    task = Activity.objects.get(opportunity=opportunity, kind="task")
    assert contract.number in task.subject and task.owner == rep and "Competitor" in task.body


@pytest.mark.parametrize("override, field", [
    ({"consent": False}, "consent"),
    ({"signer_name": "   "}, "signer_name"),
    ({"signer_name": "x" * 201}, "signer_name"),
    ({"signer_email": "not-an-address"}, "signer_email"),
    ({"drawn_signature": b""}, "drawn_signature"),
    ({"drawn_signature": drawn_png(blank=True)}, "drawn_signature"),
    ({"drawn_signature": b"GIF89a not a png"}, "drawn_signature"),
    ({"drawn_signature": b"\x89PNG\r\n\x1a\n" + b"\x00" * 100}, "drawn_signature"),
    ({"drawn_signature": b"\x89PNG\r\n\x1a\n" + b"\x00" * (200 * 1024)}, "drawn_signature"),
])
def test_bad_signing_input_is_refused_names_the_field_and_records_only_the_refusal(rep, override, field):
    quote, link, _token = make_sent_quote(owner=rep)
    with pytest.raises(ValidationFailed) as caught:
        sign(link, quote, **override)
    assert field in {e.field for e in caught.value.errors}
    assert_nothing_signed(quote, link)
    refusal = portal_events(quote, "sign_refused").get()
    assert field in refusal.changes["fields"][1] and refusal.changes["ip"][1] == "203.0.113.7"


def test_signature_without_consent_is_refused_even_with_everything_else_right(rep):
    quote, link, _token = make_sent_quote(owner=rep)
    with pytest.raises(ValidationFailed) as caught:
        sign(link, quote, consent=False)
    assert [e.code for e in caught.value.errors] == ["consent_required"]
    assert_nothing_signed(quote, link)


def test_a_hash_that_is_not_the_sent_pdf_is_refused(rep):
    quote, link, _token = make_sent_quote(owner=rep)
    with pytest.raises(Conflict) as caught:
        sign(link, quote, shown_pdf_sha256="0" * 64)
    assert caught.value.code == "document_changed"
    assert_nothing_signed(quote, link)


def test_a_used_link_cannot_sign_again(rep):
    quote, link, _token = make_sent_quote(owner=rep)
    sign(link, quote)
    with pytest.raises(InvalidTransition) as caught:
        sign(link, quote, signer_name="Someone Else")
    assert caught.value.code == "link_used"
    assert Signature.objects.filter(quote=quote).count() == 1 and Contract.objects.count() == 1


def test_an_expired_link_cannot_sign(rep):
    quote, link, _token = make_sent_quote(owner=rep)
    PortalLink.objects.filter(pk=link.pk).update(expires_at=timezone.now() - dt.timedelta(minutes=1))
    link.refresh_from_db()
    with pytest.raises(InvalidTransition) as caught:
        sign(link, quote)
    assert caught.value.code == "link_expired"
    assert_nothing_signed(quote, link)


def test_the_link_of_a_superseded_quote_cannot_sign(rep):
    from l2c.quoting.services import quotes as quote_services

    quote, link, _token = make_sent_quote(owner=rep)
    quote_services.quote_new_version(actor=rep, quote=quote)
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.SUPERSEDED
    with pytest.raises(InvalidTransition) as caught:
        sign(link, quote)
    assert caught.value.code == "link_superseded"
    assert not Signature.objects.exists()


def test_a_quote_past_its_validity_cannot_be_signed(rep):
    quote, link, _token = make_sent_quote(owner=rep)
    Quote.objects.filter(pk=quote.pk).update(valid_until=timezone.localdate() - dt.timedelta(days=1))
    with pytest.raises(InvalidTransition) as caught:
        sign(link, quote)
    assert caught.value.code == "quote_expired"


# --- declining -------------------------------------------------------------------------------------------

def test_decline_needs_a_reason(rep):
    quote, link, _token = make_sent_quote(owner=rep)
    for reason in ("", "   ", "x" * 2001):
        with pytest.raises(ValidationFailed) as caught:
            services.decline_quote(link=link, reason=reason, ip="203.0.113.8", user_agent="ua")
        assert caught.value.errors[0].field == "reason"
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.SENT and portal_events(quote, "decline_refused").count() == 3


def test_decline_marks_the_quote_uses_the_link_and_tells_the_owner(rep):
    quote, link, _token = make_sent_quote(owner=rep)
    services.decline_quote(link=link, reason="Too expensive for this year.", ip="203.0.113.8", user_agent="ua")
    quote.refresh_from_db()
    link.refresh_from_db()
    assert quote.status == QuoteStatus.DECLINED and quote.decline_reason == "Too expensive for this year."
    assert link.used_at is not None
    task = Activity.objects.get(opportunity_id=quote.opportunity_id, kind="task")
    assert task.owner == rep and "Too expensive" in task.body and task.done_at is None
    assert portal_events(quote, "declined").exists()
    with pytest.raises(InvalidTransition):
        sign(link, quote)


# --- contract status ------------------------------------------------------------------------------------

@pytest.fixture
def contract(rep):
    quote, link, _token = make_sent_quote(owner=rep, contract_start=timezone.localdate(), term=12, auto_renew=True,
                                          notice_days=30)
    return sign(link, quote)


def test_expire_only_after_the_end_date(contract):
    with pytest.raises(InvalidTransition):
        services.contract_expire(contract=contract)
    services.contract_expire(contract=contract, today=contract.end_date + dt.timedelta(days=1))
    contract.refresh_from_db()
    assert contract.status == ContractStatus.EXPIRED and contract.status_changed_at is not None
    assert AuditEvent.objects.filter(object_type="contracts.contract", object_id=str(contract.pk),
                                     action="transition").exists()


def test_terminate_checks_date_reason_and_role(contract, rep, manager, finance):
    with pytest.raises(PermissionDenied):
        services.contract_terminate(contract=contract, actor=rep, date=contract.start_date, reason="x")
    with pytest.raises(ValidationFailed) as caught:
        services.contract_terminate(contract=contract, actor=manager, date=contract.end_date + dt.timedelta(days=1),
                                    reason="")
    assert {e.field for e in caught.value.errors} == {"date", "reason"}
    contract.refresh_from_db()
    assert contract.status == ContractStatus.ACTIVE
    when = contract.start_date + dt.timedelta(days=10)
    services.contract_terminate(contract=contract, actor=finance, date=when, reason="Customer went bankrupt.")
    contract.refresh_from_db()
    assert contract.status == ContractStatus.TERMINATED and contract.terminated_on == when
    assert contract.termination_reason == "Customer went bankrupt."


def test_nothing_leaves_terminated(contract, manager):
    services.contract_terminate(contract=contract, actor=manager, date=contract.start_date, reason="Breach.")
    with pytest.raises(InvalidTransition):
        services.contract_terminate(contract=contract, actor=manager, date=contract.start_date, reason="Again.")
    with pytest.raises(InvalidTransition):
        services.contract_expire(contract=contract, today=contract.end_date + dt.timedelta(days=1))
    with pytest.raises(InvalidTransition):
        services.contract_renew(contract=contract, actor=manager)
    contract.refresh_from_db()
    assert contract.status == ContractStatus.TERMINATED and contract.renewal_opportunity_id is None


def test_another_reps_contract_is_not_found(contract, outsider, rep2):
    from l2c.core.errors import NotFound

    for user in (outsider, rep2):
        with pytest.raises(NotFound):
            services.contract_renew(contract=contract, actor=user)


# --- renewal -------------------------------------------------------------------------------------------

def test_renew_creates_an_opportunity_and_a_draft_quote_for_the_next_term(contract, rep):
    services.contract_renew(contract=contract, actor=rep)
    contract.refresh_from_db()
    renewal = contract.renewal_opportunity
    assert renewal is not None and renewal.owner == rep and renewal.account_id == contract.account_id
    assert renewal.expected_close_date == contract.end_date and not renewal.is_closed
    [quote] = Quote.objects.filter(opportunity=renewal)
    assert quote.status == QuoteStatus.DRAFT
    assert quote.contract_start == contract.end_date + dt.timedelta(days=1)
    assert quote.contract_term_months == contract.term_months and quote.auto_renew
    lines = list(quote.lines.order_by("position"))
    frozen = list(contract.lines.order_by("position"))
    assert [(line.product_id, line.quantity, line.list_price, line.discount_percent) for line in lines] == [
        (line.product_id, line.quantity, line.list_price, line.discount_percent) for line in frozen]
    assert contract.status == ContractStatus.ACTIVE  # renewed only once the renewal is signed
    with pytest.raises(Conflict):
        services.contract_renew(contract=contract, actor=rep)


def test_signing_the_renewal_quote_marks_the_old_contract_renewed(contract, rep):
    from l2c.quoting import portal_links
    from l2c.quoting.pdf import render_quote_pdf
    from l2c.quoting.services import approvals as approval_services
    from l2c.quoting.services import quotes as quote_services

    services.contract_renew(contract=contract, actor=rep)
    contract.refresh_from_db()
    quote = Quote.objects.get(opportunity=contract.renewal_opportunity)
    approval_services.quote_submit(actor=rep, quote=quote)
    quote.refresh_from_db()
    quote = quote_services.quote_mark_sent(actor=rep, quote=quote, pdf=render_quote_pdf(quote))
    link, _token = portal_links.link_create(actor=rep, quote=quote, email="buyer@example.com")
    renewal = sign(link, quote)
    contract.refresh_from_db()
    assert renewal.renewal_of == contract and contract.status == ContractStatus.RENEWED
    assert renewal.start_date == contract.end_date + dt.timedelta(days=1)


def test_the_daily_job_expires_and_starts_renewals_once(rep):
    from l2c.contracts.tasks import contracts_daily

    # given: one contract inside its notice window, one outside, one not auto-renewing, one ended
    today = timezone.localdate()
    due_quote, due_link, _t = make_sent_quote(owner=rep, contract_start=today - dt.timedelta(days=340), term=12,
                                              auto_renew=True, notice_days=30)
    due = sign(due_link, due_quote)
    far_quote, far_link, _t = make_sent_quote(owner=rep, contract_start=today, term=12, auto_renew=True)
    far = sign(far_link, far_quote)
    manual_quote, manual_link, _t = make_sent_quote(owner=rep, contract_start=today - dt.timedelta(days=340),
                                                    term=12, auto_renew=False)
    manual = sign(manual_link, manual_quote)
    ended_quote, ended_link, _t = make_sent_quote(owner=rep, contract_start=today - dt.timedelta(days=400),
                                                  term=12)
    ended = sign(ended_link, ended_quote)
    # when: the job runs twice
    first = contracts_daily.delay().get()
    second = contracts_daily.delay().get()
    # then
    assert first == "expired 1, renewals 1" and second == "expired 0, renewals 0"
    for item in (due, far, manual, ended):
        item.refresh_from_db()
    assert due.renewal_opportunity_id is not None and Quote.objects.filter(opportunity=due.renewal_opportunity).count() == 1
    assert far.renewal_opportunity_id is None and manual.renewal_opportunity_id is None
    assert ended.status == ContractStatus.EXPIRED and due.status == ContractStatus.ACTIVE
    assert Opportunity.objects.filter(name__startswith="Renewal").count() == 1
