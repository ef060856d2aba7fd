"""Quote services: creation from an opportunity, lines and their validation, price book re-pricing,
versions, the primary quote and the opportunity amount, the customer's side, expiry, permissions."""
import datetime as dt
from decimal import Decimal as D

import pytest
from django.utils import timezone

from l2c.core.errors import InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from l2c.core.models import AuditEvent
from l2c.pipeline.models import Opportunity
from l2c.quoting.models import ApprovalRule, ApprovalStatus, Quote, QuoteStatus
from l2c.quoting.services import approvals as approval_services
from l2c.quoting.services import quotes as quote_services
from l2c.quoting.tests.factories import (
    PriceBookEntryFactory,
    PriceBookFactory,
    ProductFactory,
    SubscriptionProductFactory,
)
from l2c.quoting.tests.quote_factories import Catalogue, default_rules, draft_quote, gb_vat, opportunity_for

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.7 test document"


def fields_of(exc) -> set[str]:
    return {e.field for e in exc.value.errors}


@pytest.fixture(autouse=True)
def _no_rules(db):
    ApprovalRule.objects.all().delete()


@pytest.fixture
def cat(db):
    gb_vat()
    return Catalogue("USD")


# --- create ------------------------------------------------------------------------------------------------

def test_create_takes_over_the_opportunity_and_picks_the_price_book(rep, cat):
    # given
    opportunity = opportunity_for(rep, currency="USD", country="GB")
    # when
    quote = quote_services.quote_create(actor=rep, opportunity=opportunity, title="First offer")
    # then
    today = timezone.localdate()
    assert quote.account == opportunity.account and quote.contact == opportunity.contact
    assert quote.currency == "USD" and quote.price_book == cat.book and quote.tax_country == "GB"
    assert quote.quote_date == today and quote.valid_until == today + dt.timedelta(days=30)
    assert quote.number == f"QUO-{today.year}-000001" and quote.version == 1
    assert quote.status == QuoteStatus.DRAFT and quote.is_primary and quote.owner == rep
    assert AuditEvent.objects.filter(object_type="quoting.quote", object_id=str(quote.pk), action="create").exists()
    second = quote_services.quote_create(actor=rep, opportunity=opportunity)
    assert second.number == f"QUO-{today.year}-000002" and not second.is_primary


def test_create_prefers_the_segments_price_book(rep, cat):
    enterprise = PriceBookFactory(currency="USD", segment="enterprise")
    opportunity = opportunity_for(rep, segment="enterprise")
    assert quote_services.quote_create(actor=rep, opportunity=opportunity).price_book == enterprise


def test_create_validates_every_field(rep, cat):
    opportunity = opportunity_for(rep)
    eur_book = PriceBookFactory(currency="EUR")
    with pytest.raises(ValidationFailed) as caught:
        quote_services.quote_create(actor=rep, opportunity=opportunity, currency="XXY", tax_country="ZZ",
                                    header_discount_percent=D("150"), payment_terms="someday",
                                    contract_term_months=0, title="x" * 201)
    assert fields_of(caught) == {"currency", "tax_country", "header_discount_percent", "payment_terms",
                                 "contract_term_months", "title"}
    with pytest.raises(ValidationFailed) as caught:
        quote_services.quote_create(actor=rep, opportunity=opportunity, price_book=eur_book)
    assert fields_of(caught) == {"price_book"}
    with pytest.raises(ValidationFailed) as caught:
        quote_services.quote_create(actor=rep, opportunity=opportunity, quote_date=dt.date(2026, 5, 1),
                                    valid_until=dt.date(2026, 4, 30))
    assert fields_of(caught) == {"valid_until"}
    with pytest.raises(ValidationFailed) as caught:
        quote_services.quote_create(actor=rep, opportunity=opportunity, colour="red")
    assert fields_of(caught) == {"colour"}
    assert not Quote.objects.exists()


def test_a_contact_of_another_account_is_refused(rep, cat):
    other = opportunity_for(rep)
    with pytest.raises(ValidationFailed) as caught:
        quote_services.quote_create(actor=rep, opportunity=opportunity_for(rep), contact=other.contact)
    assert fields_of(caught) == {"contact"}


def test_permissions_to_create(rep, outsider, finance, manager, cat):
    opportunity = opportunity_for(rep)
    with pytest.raises(NotFound):
        quote_services.quote_create(actor=outsider, opportunity=opportunity)
    with pytest.raises(PermissionDenied):
        quote_services.quote_create(actor=finance, opportunity=opportunity)
    quote = quote_services.quote_create(actor=manager, opportunity=opportunity)
    assert quote.owner == rep  # the deal's owner owns its quotes


def test_a_closed_opportunity_gets_no_new_quote(rep, cat):
    opportunity = opportunity_for(rep)
    Opportunity.objects.filter(pk=opportunity.pk).update(closed_at=timezone.now())
    with pytest.raises(ValidationFailed) as caught:
        quote_services.quote_create(actor=rep, opportunity=opportunity)
    assert fields_of(caught) == {"opportunity"}


# --- lines ---------------------------------------------------------------------------------------------------

def test_line_add_prices_from_the_book_and_updates_totals_and_the_opportunity(rep, cat):
    quote = draft_quote(rep, catalogue=cat)
    line = quote_services.line_add(actor=rep, quote=quote, product=cat.good, quantity=D(3), discount_percent=D(10))
    quote.refresh_from_db()
    assert line.list_price == D("100") and line.unit_price == D("90") and line.position == 1
    assert line.unit == "each" and line.tax_rate == D("20")
    assert (quote.net_total, quote.tax_total, quote.gross_total) == (D("270"), D("54"), D("324"))
    assert Opportunity.objects.get(pk=quote.opportunity_id).amount == D("270.00")


def test_a_typed_list_price_wins_and_stays_when_the_quantity_changes(rep, cat):
    quote = draft_quote(rep, catalogue=cat)
    line = quote_services.line_add(actor=rep, quote=quote, product=cat.good, list_price=D("80"))
    line = quote_services.line_update(actor=rep, line=line, quantity=D(5))
    assert line.list_price == D("80")
    line = quote_services.line_update(actor=rep, line=line, list_price=None)  # back to the book
    assert line.list_price == D("100")


def test_a_book_price_follows_the_tier_when_the_quantity_changes(rep, cat):
    seats = ProductFactory(name="Seat")
    PriceBookEntryFactory(price_book=cat.book, product=seats, list_price=D("10"), pricing="volume",
                          tiers=[("1", "10"), ("50", "9")])
    quote = draft_quote(rep, catalogue=cat)
    line = quote_services.line_add(actor=rep, quote=quote, product=seats, quantity=D(10))
    assert line.list_price == D("10")
    line = quote_services.line_update(actor=rep, line=line, quantity=D(60))
    assert line.list_price == D("9")


def test_line_validation_names_each_field_and_changes_nothing(rep, cat):
    quote = draft_quote(rep, catalogue=cat)
    inactive = ProductFactory(active=False)
    with pytest.raises(ValidationFailed) as caught:
        quote_services.line_add(actor=rep, quote=quote, product=cat.good, quantity=D(0), discount_percent=D(101),
                                list_price=D("-1"))
    assert fields_of(caught) == {"quantity", "discount_percent", "list_price"}
    with pytest.raises(ValidationFailed) as caught:
        quote_services.line_add(actor=rep, quote=quote, product=inactive)
    assert fields_of(caught) == {"product"}
    with pytest.raises(ValidationFailed) as caught:
        quote_services.line_add(actor=rep, quote=quote, product=999999)
    assert fields_of(caught) == {"product"}
    with pytest.raises(ValidationFailed) as caught:
        quote_services.line_add(actor=rep, quote=quote, product=cat.good, quantity="1.23456")
    assert fields_of(caught) == {"quantity"}
    with pytest.raises(ValidationFailed) as caught:
        quote_services.line_add(actor=rep, quote=quote, product=ProductFactory(name="Not in book"))
    assert fields_of(caught) == {"list_price"}
    assert "Not in book is not in the price book" in caught.value.errors[0].message
    with pytest.raises(ValidationFailed) as caught:
        quote_services.line_add(actor=rep, quote=quote, product=cat.good, service_start=dt.date(2026, 2, 1),
                                service_end=dt.date(2026, 1, 1))
    assert fields_of(caught) == {"service_end"}
    assert not quote.lines.exists()


def test_a_subscription_needs_service_dates(rep, cat):
    sub = SubscriptionProductFactory()
    PriceBookEntryFactory(price_book=cat.book, product=sub, list_price=D("50"))
    quote = draft_quote(rep, catalogue=cat)
    with pytest.raises(ValidationFailed) as caught:
        quote_services.line_add(actor=rep, quote=quote, product=sub, quantity=D(12))
    assert fields_of(caught) == {"service_start", "service_end"}
    line = quote_services.line_add(actor=rep, quote=quote, product=sub, quantity=D(12),
                                   service_start=dt.date(2026, 1, 1), service_end=dt.date(2026, 12, 31))
    assert line.gross_amount == D("720")  # 12 × 50 + 20 %
    with pytest.raises(ValidationFailed) as caught:
        quote_services.line_update(actor=rep, line=line, service_end=None)
    assert fields_of(caught) == {"service_end"}


def test_line_delete_and_reorder(rep, cat):
    quote = draft_quote(rep, catalogue=cat, lines=[(cat.good, 1, 0), (cat.service, 1, 0), (cat.good, 2, 0)])
    a, b, c = quote.lines.order_by("position")
    quote_services.lines_reorder(actor=rep, quote=quote, line_ids=[c.pk, a.pk, b.pk])
    assert list(quote.lines.order_by("position").values_list("pk", flat=True)) == [c.pk, a.pk, b.pk]
    with pytest.raises(ValidationFailed) as caught:
        quote_services.lines_reorder(actor=rep, quote=quote, line_ids=[c.pk, a.pk])
    assert fields_of(caught) == {"line_ids"}
    quote_services.line_delete(actor=rep, line=b)
    quote.refresh_from_db()
    assert quote.net_total == D("300")
    assert AuditEvent.objects.filter(object_type="quoting.quoteline", object_id=str(b.pk), action="delete").exists()


def test_header_discount_and_price_book_change(rep, cat):
    quote = draft_quote(rep, catalogue=cat, lines=[(cat.good, 2, 0)])
    typed = quote_services.line_add(actor=rep, quote=quote, product=cat.service, list_price=D("500"))
    quote = quote_services.quote_update(actor=rep, quote=quote, header_discount_percent=D("10"))
    assert quote.net_total == D("630")  # (200 + 500) × 0.9
    cheaper = PriceBookFactory(currency="USD")
    PriceBookEntryFactory(price_book=cheaper, product=cat.good, list_price=D("80"))
    quote = quote_services.quote_update(actor=rep, quote=quote, price_book=cheaper)
    lines = {line.product_id: line for line in quote.lines.all()}
    assert lines[cat.good.pk].list_price == D("80")  # followed the book
    assert lines[typed.product_id].list_price == D("500")  # typed: kept
    assert quote.net_total == D("594")  # (160 + 500) × 0.9


def test_a_book_without_a_lines_product_is_refused(rep, cat):
    quote = draft_quote(rep, catalogue=cat, lines=[(cat.good, 1, 0)])
    empty = PriceBookFactory(currency="USD")
    with pytest.raises(ValidationFailed) as caught:
        quote_services.quote_update(actor=rep, quote=quote, price_book=empty)
    assert fields_of(caught) == {"price_book"}
    quote.refresh_from_db()
    assert quote.price_book == cat.book


def test_the_currency_changes_only_without_lines(rep, cat):
    eur = PriceBookFactory(currency="EUR")
    quote = draft_quote(rep, catalogue=cat)
    quote = quote_services.quote_update(actor=rep, quote=quote, currency="EUR")
    assert quote.currency == "EUR" and quote.price_book == eur
    PriceBookEntryFactory(price_book=eur, product=cat.good, list_price=D("90"))
    quote_services.line_add(actor=rep, quote=quote, product=cat.good)
    with pytest.raises(ValidationFailed) as caught:
        quote_services.quote_update(actor=rep, quote=quote, currency="USD")
    assert fields_of(caught) == {"currency"}


# --- permissions on edits --------------------------------------------------------------------------------------

def test_edit_permissions(rep, rep2, outsider, manager, finance, admin_user, cat):
    quote = draft_quote(rep, catalogue=cat)
    for other in (rep2, outsider):
        with pytest.raises(NotFound):
            quote_services.line_add(actor=other, quote=quote, product=cat.good)
    with pytest.raises(PermissionDenied):
        quote_services.quote_update(actor=finance, quote=quote, title="finance edit")
    quote_services.line_add(actor=manager, quote=quote, product=cat.good)
    quote_services.quote_update(actor=admin_user, quote=quote, title="by admin")
    assert quote.lines.count() == 1


# --- approval and editing ---------------------------------------------------------------------------------------

def test_editing_an_approved_quotes_prices_sends_it_back_to_draft(rep, cat):
    quote = draft_quote(rep, catalogue=cat, lines=[(cat.good, 1, 0)])
    quote = approval_services.quote_submit(actor=rep, quote=quote)
    assert quote.status == QuoteStatus.APPROVED and quote.approval_fingerprint
    # a header field that prices nothing keeps the approval
    quote = quote_services.quote_update(actor=rep, quote=quote, notes="Delivery in May", title="Offer")
    assert quote.status == QuoteStatus.APPROVED
    line = quote.lines.get()
    quote_services.line_update(actor=rep, line=line, description="Blue widget")
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.APPROVED
    # a price change cancels it
    quote_services.line_update(actor=rep, line=line, discount_percent=D("5"))
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.DRAFT and quote.approved_at is None and quote.approval_fingerprint == ""
    assert "not been submitted" in " ".join(approval_services.blockers(quote))


def test_pending_sent_and_final_quotes_cannot_be_edited(rep, cat):
    default_rules()
    quote = draft_quote(rep, catalogue=cat, lines=[(cat.good, 1, 20)])
    quote = approval_services.quote_submit(actor=rep, quote=quote)
    assert quote.status == QuoteStatus.PENDING_APPROVAL
    with pytest.raises(InvalidTransition) as caught:
        quote_services.line_add(actor=rep, quote=quote, product=cat.good)
    assert "new version" in caught.value.message
    with pytest.raises(InvalidTransition):
        quote_services.quote_update(actor=rep, quote=quote, title="x")


# --- versions ------------------------------------------------------------------------------------------------------

def _sent(rep, cat, **kwargs):
    quote = draft_quote(rep, catalogue=cat, lines=[(cat.good, 2, 0), (cat.service, 1, 0)], **kwargs)
    quote = approval_services.quote_submit(actor=rep, quote=quote)
    return quote_services.quote_mark_sent(actor=rep, quote=quote, pdf=PDF)


def test_new_version_copies_a_sent_quote_and_supersedes_it(rep, cat):
    old = _sent(rep, cat)
    assert old.status == QuoteStatus.SENT and old.sent_pdf_sha256
    new = quote_services.quote_new_version(actor=rep, quote=old)
    old.refresh_from_db()
    assert old.status == QuoteStatus.SUPERSEDED and not old.is_primary
    assert (new.number, new.version, new.previous_version_id) == (old.number, 2, old.pk)
    assert new.status == QuoteStatus.DRAFT and new.is_primary and new.sent_pdf is None and new.sent_pdf_sha256 == ""
    assert new.lines.count() == 2 and new.net_total == old.net_total
    assert set(old.lines.values_list("pk", flat=True)).isdisjoint(new.lines.values_list("pk", flat=True))
    # the old version never changes again
    for call in (lambda: quote_services.quote_new_version(actor=rep, quote=old),
                 lambda: quote_services.line_add(actor=rep, quote=old, product=cat.good),
                 lambda: quote_services.quote_update(actor=rep, quote=old, title="x")):
        with pytest.raises(InvalidTransition):
            call()
    # and the new one is edited freely
    quote_services.line_add(actor=rep, quote=new, product=cat.good)
    assert new.lines.count() == 3 and old.lines.count() == 2


def test_a_draft_needs_no_new_version(rep, cat):
    quote = draft_quote(rep, catalogue=cat)
    with pytest.raises(InvalidTransition):
        quote_services.quote_new_version(actor=rep, quote=quote)


def test_new_version_of_a_pending_quote_cancels_its_approvals(rep, cat):
    default_rules()
    quote = approval_services.quote_submit(actor=rep, quote=draft_quote(rep, catalogue=cat, lines=[(cat.good, 1, 40)]))
    assert quote.approvals.filter(status=ApprovalStatus.PENDING).count() == 2
    quote_services.quote_new_version(actor=rep, quote=quote)
    assert quote.approvals.filter(status=ApprovalStatus.CANCELLED).count() == 2


# --- primary quote --------------------------------------------------------------------------------------------------

def test_the_opportunity_amount_follows_the_primary_quote(rep, cat):
    first = draft_quote(rep, catalogue=cat, lines=[(cat.good, 1, 0)])
    opportunity = first.opportunity
    second = quote_services.quote_create(actor=rep, opportunity=opportunity)
    quote_services.line_add(actor=rep, quote=second, product=cat.service, quantity=D(2))
    opportunity.refresh_from_db()
    assert opportunity.amount == D("100.00")  # the second is not primary
    quote_services.quote_set_primary(actor=rep, quote=second)
    opportunity.refresh_from_db()
    first.refresh_from_db()
    assert opportunity.amount == D("2000.00") and not first.is_primary
    quote_services.line_add(actor=rep, quote=second, product=cat.good)
    opportunity.refresh_from_db()
    assert opportunity.amount == D("2100.00")
    assert AuditEvent.objects.filter(object_type="pipeline.opportunity", object_id=str(opportunity.pk),
                                     action="update").exists()


def test_a_yen_quote_sets_amount_and_currency(rep):
    cat = Catalogue("JPY", good_price="1234", service_price="50000")
    quote = draft_quote(rep, catalogue=cat, currency="JPY", country="JP", lines=[(cat.good, 3, D("7.5"))])
    opportunity = Opportunity.objects.get(pk=quote.opportunity_id)
    assert (opportunity.amount, opportunity.currency) == (D("3424"), "JPY")
    assert quote.net_total == D("3424")


# --- the customer's side --------------------------------------------------------------------------------------------

def test_sent_viewed_accepted(rep, cat):
    quote = _sent(rep, cat)
    assert quote.sent_at is not None and bytes(Quote.objects.get(pk=quote.pk).sent_pdf) == PDF
    quote = quote_services.quote_mark_viewed(quote=quote)
    first_view = quote.viewed_at
    assert quote_services.quote_mark_viewed(quote=quote).viewed_at == first_view
    quote = quote_services.quote_mark_accepted(quote=quote)
    assert quote.status == QuoteStatus.ACCEPTED and quote.accepted_at
    with pytest.raises(InvalidTransition):
        quote_services.quote_mark_declined(quote=quote, reason="too late")
    with pytest.raises(InvalidTransition):
        quote_services.quote_new_version(actor=rep, quote=quote)


def test_only_an_approved_quote_is_sent(rep, cat):
    quote = draft_quote(rep, catalogue=cat, lines=[(cat.good, 1, 0)])
    with pytest.raises(InvalidTransition) as caught:
        quote_services.quote_mark_sent(actor=rep, quote=quote, pdf=PDF)
    assert "not been submitted" in caught.value.message
    quote = approval_services.quote_submit(actor=rep, quote=quote)
    with pytest.raises(ValidationFailed):
        quote_services.quote_mark_sent(actor=rep, quote=quote, pdf=b"<html>")


def test_declined_needs_a_reason(rep, cat):
    quote = _sent(rep, cat)
    with pytest.raises(ValidationFailed) as caught:
        quote_services.quote_mark_declined(quote=quote, reason="  ")
    assert fields_of(caught) == {"reason"}
    quote = quote_services.quote_mark_declined(quote=quote, reason="Too expensive")
    assert quote.status == QuoteStatus.DECLINED and quote.decline_reason == "Too expensive"
    assert approval_services.blockers(quote) == ["The customer declined the quote: Too expensive"]


def test_expiry(rep, cat):
    sent = _sent(rep, cat)
    draft = draft_quote(rep, catalogue=cat, lines=[(cat.good, 1, 0)])
    Quote.objects.filter(pk__in=[sent.pk, draft.pk]).update(valid_until=timezone.localdate() - dt.timedelta(days=1))
    with pytest.raises(InvalidTransition):
        quote_services.quote_mark_accepted(quote=sent)
    assert quote_services.expire_due_quotes() == 1
    sent.refresh_from_db()
    draft.refresh_from_db()
    assert sent.status == QuoteStatus.EXPIRED and draft.status == QuoteStatus.DRAFT
    assert quote_services.expire_due_quotes() == 0
    assert any("expired" in b for b in approval_services.blockers(draft))


def test_an_inactive_or_out_of_date_book_is_refused_but_the_current_one_may_be_sent_again(rep, cat):
    quote = draft_quote(rep, catalogue=cat)
    inactive = PriceBookFactory(currency="USD", active=False)
    old = PriceBookFactory(currency="USD", valid_from=dt.date(2000, 1, 1), valid_until=dt.date(2000, 12, 31))
    for book, code in ((inactive, "inactive"), (old, "not_valid_on_date")):
        with pytest.raises(ValidationFailed) as caught:
            quote_services.quote_update(actor=rep, quote=quote, price_book=book)
        assert [(e.field, e.code) for e in caught.value.errors] == [("price_book", code)]
    # the quote's own book, deactivated since, is not "changed" when a form sends it again
    type(cat.book).objects.filter(pk=cat.book.pk).update(active=False)
    quote = quote_services.quote_update(actor=rep, quote=quote, price_book=cat.book, title="Same book")
    assert quote.price_book == cat.book and quote.title == "Same book"
