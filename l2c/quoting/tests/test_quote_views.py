"""Quote pages: list, new quote, the editor (HTMX lines and totals), approvals inbox, approval rules.

Numbers: a CNY price book (goods 100.00 at CN VAT 13 %, a service 50.00 at 6 %) on a Chinese account.
"""
import re
from decimal import Decimal

import pytest
from django.test import Client

from l2c.pipeline.tests.factories import AccountFactory, ContactFactory, OpportunityFactory
from l2c.quoting.models import ApprovalRule, ApprovalStatus, Quote, QuoteLine, QuoteStatus, TaxRate
from l2c.quoting.services import approvals as approval_services
from l2c.quoting.services import quotes as quote_services

from .factories import PriceBookEntryFactory, PriceBookFactory, ProductFactory, TaxRateFactory

HTMX = {"HTTP_HX_REQUEST": "true"}


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


def text(response) -> str:
    return response.content.decode()


def block(html: str, element_id: str) -> str:
    """The HTML of the element with `element_id` (up to its closing tag at the same depth, roughly: the
    blocks the tests look at are <section>/<div> without nested elements of the same name)."""
    match = re.search(rf'<(section|div)[^>]*id="{element_id}"[^>]*>', html)
    assert match, f"#{element_id} not in the answer"
    tag = match.group(1)
    end = html.find(f"</{tag}>", match.end())
    if tag == "div":  # the lines block nests divs: take everything up to the add-line form's end
        end = len(html)
    return html[match.start():end]


def total(html: str, name: str) -> str:
    """The text of a totals cell (`data-total="net"` …) in the totals block."""
    found = re.findall(rf'data-total="{name}">([^<]*)<', block(html, "quote-totals"))
    assert found, f"no {name} total"
    return found[0] if name != "tax" else " + ".join(found)


@pytest.fixture(autouse=True)
def rules(db):
    """The approval rules these tests rely on (not the seeded defaults): over 15 % a manager, over 30 %
    finance, one level after the other."""
    ApprovalRule.objects.all().delete()
    return [
        ApprovalRule.objects.create(name="Over 15", measure="overall", threshold_percent=Decimal("15"),
                                    approver_roles=["manager", "admin"], level=1),
        ApprovalRule.objects.create(name="Over 30", measure="overall", threshold_percent=Decimal("30"),
                                    approver_roles=["finance", "admin"], level=2),
    ]


@pytest.fixture
def catalogue(db):
    TaxRate.objects.filter(country="CN").delete()
    TaxRateFactory(country="CN", tax_category="standard", rate=Decimal("13"))
    TaxRateFactory(country="CN", tax_category="services", rate=Decimal("6"))
    book = PriceBookFactory(currency="CNY", name="China list")
    goods = ProductFactory(sku="BOX-1", name="Server box", tax_category="standard")
    service = ProductFactory(sku="SVC-1", name="Installation", kind="service", tax_category="services")
    PriceBookEntryFactory(price_book=book, product=goods, list_price=Decimal("100.00"))
    PriceBookEntryFactory(price_book=book, product=service, list_price=Decimal("50.00"))
    return {"book": book, "goods": goods, "service": service}


@pytest.fixture
def opportunity(rep, catalogue):
    account = AccountFactory(owner=rep, country="CN", name="Shanghai Widgets")
    contact = ContactFactory(owner=rep, account=account)
    return OpportunityFactory(owner=rep, account=account, contact=contact, currency="CNY", name="Widgets deal")


@pytest.fixture
def quote(rep, opportunity, catalogue):
    return quote_services.quote_create(actor=rep, opportunity=opportunity, price_book=catalogue["book"],
                                       title="Widgets for Shanghai")


def add_line(quote, product, quantity="1", discount="0", actor=None):
    return quote_services.line_add(actor=actor or quote.owner, quote=quote, product=product,
                                   quantity=Decimal(quantity), discount_percent=Decimal(discount))


def pending_quote(quote, catalogue, discount="20"):
    """`quote` with one discounted line, submitted by its owner: awaiting the manager's approval."""
    add_line(quote, catalogue["goods"], "2", discount)
    quote.refresh_from_db()
    submitted = approval_services.quote_submit(actor=quote.owner, quote=quote)
    assert submitted.status == QuoteStatus.PENDING_APPROVAL
    return submitted


# --- pages and roles --------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/quotes/", "/approvals/", "/settings/approval-rules/", "/quotes/1/"])
def test_anonymous_goes_to_login(db, path):
    response = Client().get(path)
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_rep_pages_render(rep, quote, opportunity):
    client = client_for(rep)
    listing = client.get("/quotes/")
    assert listing.status_code == 200 and quote.number in text(listing)
    editor = client.get(f"/quotes/{quote.pk}/")
    assert editor.status_code == 200
    page = text(editor)
    assert "Widgets for Shanghai" in page and 'id="quote-lines"' in page and 'id="quote-totals"' in page
    assert 'id="line-add"' in page and "Submit for approval" in page
    assert f'href="/quotes/{quote.pk}/pdf"' in page
    assert f'href="/quotes/{quote.pk}/send/"' not in page  # only once approved
    new = client.get(f"/opportunities/{opportunity.pk}/quotes/new/")
    assert new.status_code == 200 and "China list" in text(new)
    detail = text(client.get(f"/opportunities/{opportunity.pk}/"))
    assert 'id="opportunity-quotes"' in detail and quote.number in detail
    assert f"/opportunities/{opportunity.pk}/quotes/new/" in detail
    # the inbox and the rule settings are not a rep's pages
    assert client.get("/approvals/").status_code == 404
    assert client.get("/settings/approval-rules/").status_code == 404


@pytest.mark.parametrize("role, status", [("rep", 200), ("manager", 200), ("admin_user", 200), ("finance", 200),
                                          ("rep2", 404), ("outsider", 404)])
def test_quote_visibility(role, status, request, quote):
    client = client_for(request.getfixturevalue(role))
    assert client.get(f"/quotes/{quote.pk}/").status_code == status
    assert (quote.number in text(client.get("/quotes/"))) is (status == 200)


def test_finance_reads_quotes_without_edit_controls(finance, quote, catalogue):
    add_line(quote, catalogue["goods"])
    page = text(client_for(finance).get(f"/quotes/{quote.pk}/"))
    assert "Your role can read quotes but not change them." in page
    assert 'id="line-add"' not in page and "Submit for approval" not in page
    before = QuoteLine.objects.filter(quote=quote).count()
    response = client_for(finance).post(f"/quotes/{quote.pk}/lines/", {
        "add-product": catalogue["goods"].pk, "add-quantity": "1"}, **HTMX)
    assert response.status_code in (200, 403)
    assert QuoteLine.objects.filter(quote=quote).count() == before


def test_another_reps_quote_is_404_for_every_page_and_action(rep2, outsider, quote, catalogue):
    line = add_line(quote, catalogue["goods"])
    for user in (rep2, outsider):
        client = client_for(user)
        assert client.get(f"/quotes/{quote.pk}/").status_code == 404
        assert client.get(f"/quotes/{quote.pk}/totals/").status_code == 404
        assert client.post(f"/quotes/{quote.pk}/", {"h-title": "Mine"}).status_code == 404
        assert client.post(f"/quotes/{quote.pk}/lines/", {"add-product": catalogue["goods"].pk,
                                                          "add-quantity": "1"}, **HTMX).status_code == 404
        assert client.post(f"/quotes/{quote.pk}/lines/{line.pk}/", {f"l{line.pk}-quantity": "9"}).status_code == 404
        assert client.post(f"/quotes/{quote.pk}/lines/{line.pk}/delete/").status_code == 404
        for action in ("submit", "approve", "reject", "primary", "new-version"):
            assert client.post(f"/quotes/{quote.pk}/{action}/", {"comment": "x"}).status_code == 404, action
        assert client.get(f"/opportunities/{quote.opportunity_id}/quotes/new/").status_code == 404
    quote.refresh_from_db()
    assert quote.title == "Widgets for Shanghai" and quote.status == QuoteStatus.DRAFT
    assert QuoteLine.objects.get(pk=line.pk).quantity == Decimal("1")


# --- new quote --------------------------------------------------------------------------------------

def test_create_a_quote_from_the_opportunity(rep, opportunity, catalogue):
    client = client_for(rep)
    response = client.post(f"/opportunities/{opportunity.pk}/quotes/new/", {
        "title": "First offer", "contact": opportunity.contact_id, "price_book": catalogue["book"].pk,
        "valid_until": "2099-12-31", "payment_terms": "net_45", "contract_start": "2099-01-01",
        "contract_term_months": "24", "auto_renew": "on", "notice_days": "60", "terms": "", "notes": ""})
    quote = Quote.objects.get(opportunity=opportunity)
    assert response.status_code == 302 and response["Location"] == f"/quotes/{quote.pk}/"
    assert (quote.title, quote.currency, quote.price_book, quote.payment_terms, quote.contract_term_months,
            quote.auto_renew, quote.notice_days, quote.owner) == (
        "First offer", "CNY", catalogue["book"], "net_45", 24, True, 60, rep)
    assert quote.valid_until.isoformat() == "2099-12-31"


def test_create_refuses_bad_input_and_creates_nothing(rep, opportunity, catalogue):
    response = client_for(rep).post(f"/opportunities/{opportunity.pk}/quotes/new/", {
        "title": "Bad", "price_book": catalogue["book"].pk, "payment_terms": "net_30", "valid_until": "soon",
        "contract_term_months": "-3", "notice_days": "30"})
    assert response.status_code == 422
    page = text(response)
    assert 'id="id_valid_until_errors"' in page and 'id="id_contract_term_months_errors"' in page
    assert not Quote.objects.filter(opportunity=opportunity).exists()


def test_finance_cannot_create_quotes(finance, opportunity):
    assert client_for(finance).get(f"/opportunities/{opportunity.pk}/quotes/new/").status_code == 404


# --- the editor: HTMX lines and totals --------------------------------------------------------------

def test_htmx_add_edit_delete_lines_answers_the_updated_totals(rep, quote, catalogue):
    client = client_for(rep)
    # when a line is added: 3 × 100.00 at 10 % off = 270.00 net, 13 % VAT 35.10
    response = client.post(f"/quotes/{quote.pk}/lines/", {
        "add-product": catalogue["goods"].pk, "add-quantity": "3", "add-discount_percent": "10"}, **HTMX)
    assert response.status_code == 200
    html = text(response)
    assert html.lstrip().startswith('<div id="quote-lines"')  # the lines block, not the whole page
    assert "<html" not in html
    assert 'id="quote-totals" class="card totals" hx-swap-oob="true"' in html
    assert (total(html, "net"), total(html, "tax"), total(html, "gross")) == ("270.00 CNY", "35.10 CNY", "305.10 CNY")
    assert total(html, "list") == "300.00 CNY" and total(html, "discount") == "−30.00 CNY"
    line = QuoteLine.objects.get(quote=quote)
    assert f'id="line-row-{line.pk}"' in html
    # when a service line is added: 2 × 50.00 = 100.00 at 6 % → two tax lines
    html = text(client.post(f"/quotes/{quote.pk}/lines/", {
        "add-product": catalogue["service"].pk, "add-quantity": "2"}, **HTMX))
    assert total(html, "net") == "370.00 CNY" and total(html, "gross") == "411.10 CNY"
    assert total(html, "tax") == "6.00 CNY + 35.10 CNY"
    # when the first line's quantity changes to 5 (discount stays 10 %): 450.00 + 58.50 tax
    html = text(client.post(f"/quotes/{quote.pk}/lines/{line.pk}/", {
        f"l{line.pk}-quantity": "5", f"l{line.pk}-discount_percent": "10", f"l{line.pk}-section": "",
        f"l{line.pk}-description": ""}, **HTMX))
    assert (total(html, "net"), total(html, "gross")) == ("550.00 CNY", "614.50 CNY")
    assert QuoteLine.objects.get(pk=line.pk).quantity == Decimal("5")
    # when it is deleted, only the service is left
    html = text(client.post(f"/quotes/{quote.pk}/lines/{line.pk}/delete/", **HTMX))
    assert (total(html, "net"), total(html, "tax"), total(html, "gross")) == ("100.00 CNY", "6.00 CNY", "106.00 CNY")
    assert not QuoteLine.objects.filter(pk=line.pk).exists()
    quote.refresh_from_db()
    assert quote.gross_total == Decimal("106.00")
    # and the full page shows the same totals
    assert total(text(client.get(f"/quotes/{quote.pk}/")), "gross") == "106.00 CNY"
    assert total(text(client.get(f"/quotes/{quote.pk}/totals/")), "gross") == "106.00 CNY"


def test_lines_are_grouped_by_section_and_reordered(rep, quote, catalogue):
    first = quote_services.line_add(actor=rep, quote=quote, product=catalogue["goods"], section="Hardware")
    second = quote_services.line_add(actor=rep, quote=quote, product=catalogue["service"], section="Services")
    client = client_for(rep)
    page = text(client.get(f"/quotes/{quote.pk}/"))
    assert page.index(">Hardware<") < page.index(f'id="line-row-{first.pk}"') < page.index(">Services<") \
        < page.index(f'id="line-row-{second.pk}"')
    html = text(client.post(f"/quotes/{quote.pk}/lines/{second.pk}/move/", {"direction": "up"}, **HTMX))
    assert html.index(f'id="line-row-{second.pk}"') < html.index(f'id="line-row-{first.pk}"')
    assert list(QuoteLine.objects.filter(quote=quote).order_by("position", "id").values_list("pk", flat=True)) == [
        second.pk, first.pk]


def test_without_javascript_a_line_change_redirects_to_the_editor(rep, quote, catalogue):
    response = client_for(rep).post(f"/quotes/{quote.pk}/lines/", {
        "add-product": catalogue["goods"].pk, "add-quantity": "2"})
    assert response.status_code == 302 and response["Location"] == f"/quotes/{quote.pk}/"
    assert QuoteLine.objects.get(quote=quote).quantity == Decimal("2")


@pytest.mark.parametrize("field, value", [("quantity", "-2"), ("quantity", "0"), ("discount_percent", "150"),
                                          ("discount_percent", "-1"), ("quantity", "lots")])
def test_bad_line_input_shows_the_error_and_adds_nothing(rep, quote, catalogue, field, value):
    data = {"add-product": catalogue["goods"].pk, "add-quantity": "1", "add-discount_percent": "0"}
    data[f"add-{field}"] = value
    html = text(client_for(rep).post(f"/quotes/{quote.pk}/lines/", data, **HTMX))
    assert f'id="id_add-{field}_errors"' in html
    assert not QuoteLine.objects.filter(quote=quote).exists()
    assert total(html, "gross") == "0.00 CNY"


@pytest.mark.parametrize("field, value, label", [("quantity", "-1", "Quantity"), ("discount_percent", "150",
                                                                                  "Discount (%)")])
def test_bad_line_edit_shows_the_error_beside_the_line_and_changes_nothing(rep, quote, catalogue, field, value, label):
    line = add_line(quote, catalogue["goods"], "2", "5")
    html = text(client_for(rep).post(f"/quotes/{quote.pk}/lines/{line.pk}/", {
        f"l{line.pk}-quantity": "2", f"l{line.pk}-discount_percent": "5", f"l{line.pk}-{field}": value}, **HTMX))
    errors = re.search(r'<tr class="line-errors">.*?</tr>', html, re.S)
    assert errors and label in errors.group(0)
    line.refresh_from_db()
    assert (line.quantity, line.discount_percent) == (Decimal("2"), Decimal("5"))
    assert total(html, "net") == "190.00 CNY"


def test_bad_header_input_shows_the_error_and_changes_nothing(rep, quote):
    response = client_for(rep).post(f"/quotes/{quote.pk}/", {
        "h-title": "Changed", "h-price_book": quote.price_book_id, "h-quote_date": quote.quote_date.isoformat(),
        "h-valid_until": quote.valid_until.isoformat(), "h-payment_terms": "net_30",
        "h-header_discount_percent": "150", "h-contract_term_months": "12", "h-notice_days": "30"})
    assert response.status_code == 422
    assert 'id="id_h-header_discount_percent_errors"' in text(response)
    quote.refresh_from_db()
    assert quote.title == "Widgets for Shanghai" and quote.header_discount_percent == 0


def test_header_update_saves_and_reprices(rep, quote, catalogue):
    add_line(quote, catalogue["goods"], "2")
    response = client_for(rep).post(f"/quotes/{quote.pk}/", {
        "h-title": "Better offer", "h-price_book": quote.price_book_id, "h-quote_date": quote.quote_date.isoformat(),
        "h-valid_until": quote.valid_until.isoformat(), "h-payment_terms": "net_60",
        "h-header_discount_percent": "10", "h-contract_term_months": "12", "h-notice_days": "30"})
    assert response.status_code == 302
    quote.refresh_from_db()
    assert (quote.title, quote.payment_terms, quote.net_total) == ("Better offer", "net_60", Decimal("180.00"))


def test_missing_tax_rate_is_a_warning_in_the_totals(rep, quote, catalogue):
    odd = ProductFactory(sku="ODD-1", tax_category="exotic")
    PriceBookEntryFactory(price_book=catalogue["book"], product=odd, list_price=Decimal("10.00"))
    html = text(client_for(rep).post(f"/quotes/{quote.pk}/lines/", {
        "add-product": odd.pk, "add-quantity": "1"}, **HTMX))
    totals = block(html, "quote-totals")
    assert 'class="warnings"' in totals and "exotic" in totals
    assert total(html, "gross") == "10.00 CNY"


# --- submit, approve, reject ------------------------------------------------------------------------

def test_submit_without_rule_hit_is_approved_and_can_be_sent(rep, quote, catalogue):
    add_line(quote, catalogue["goods"], "1", "5")
    client = client_for(rep)
    response = client.post(f"/quotes/{quote.pk}/submit/")
    assert response.status_code == 302
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.APPROVED
    page = text(client.get(f"/quotes/{quote.pk}/"))
    assert f'href="/quotes/{quote.pk}/send/"' in page


def test_rep_cannot_approve_their_own_quote(rep, quote, catalogue):
    pending_quote(quote, catalogue)
    client = client_for(rep)
    page = text(client.get(f"/quotes/{quote.pk}/"))
    assert f"/quotes/{quote.pk}/approve/" not in page and f"/quotes/{quote.pk}/reject/" not in page
    assert "Why this quote cannot be sent" in page
    response = client.post(f"/quotes/{quote.pk}/approve/", {"comment": "fine by me"})
    assert response.status_code == 403
    assert 'class="flash flash-error"' in text(response)
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.PENDING_APPROVAL
    assert quote.approvals.get().status == ApprovalStatus.PENDING


def test_pending_quote_is_read_only_with_reason_blockers_and_new_version(rep, quote, catalogue):
    pending_quote(quote, catalogue)
    client = client_for(rep)
    page = text(client.get(f"/quotes/{quote.pk}/"))
    assert "awaiting approval" in page and 'id="line-add"' not in page
    assert "Why this quote cannot be sent" in page
    approval = quote.approvals.get()
    assert approval.reason in page
    assert f"/quotes/{quote.pk}/new-version/" in page
    # a line change is refused and changes nothing
    line = quote.lines.get()
    client.post(f"/quotes/{quote.pk}/lines/{line.pk}/", {f"l{line.pk}-quantity": "7"}, **HTMX)
    assert QuoteLine.objects.get(pk=line.pk).quantity == Decimal("2")
    # New version: a draft v2, the old one superseded and read-only with a link to the new one
    response = client.post(f"/quotes/{quote.pk}/new-version/")
    newer = Quote.objects.get(number=quote.number, version=2)
    assert response.status_code == 302 and response["Location"] == f"/quotes/{newer.pk}/"
    assert newer.status == QuoteStatus.DRAFT
    old_page = text(client.get(f"/quotes/{quote.pk}/"))
    assert 'class="flash flash-warning read-only-reason"' in old_page and f'href="/quotes/{newer.pk}/"' in old_page
    assert 'id="line-add"' not in old_page and f"/quotes/{quote.pk}/new-version/" not in old_page
    new_page = text(client.get(f"/quotes/{newer.pk}/"))
    assert 'id="line-add"' in new_page and f'href="/quotes/{quote.pk}/"' in new_page


def test_manager_approves_in_the_inbox(rep, manager, quote, catalogue):
    pending_quote(quote, catalogue)
    client = client_for(manager)
    inbox = text(client.get("/approvals/"))
    approval = quote.approvals.get()
    assert quote.number in inbox and approval.reason in inbox and "Shanghai Widgets" in inbox
    assert "Nothing waits for your approval." not in inbox
    response = client.post(f"/quotes/{quote.pk}/approve/", {"comment": "OK for this customer", "next": "/approvals/"})
    assert response.status_code == 302 and response["Location"] == "/approvals/"
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.APPROVED
    inbox = text(client.get("/approvals/"))
    assert "Nothing waits for your approval." in inbox
    assert "OK for this customer" in inbox  # decided recently
    # the rep sees the decision on the quote
    page = text(client_for(rep).get(f"/quotes/{quote.pk}/"))
    assert "OK for this customer" in page and f'href="/quotes/{quote.pk}/send/"' in page


def test_reject_needs_a_comment_then_the_rep_sees_it(rep, manager, quote, catalogue):
    pending_quote(quote, catalogue)
    client = client_for(manager)
    response = client.post(f"/quotes/{quote.pk}/reject/", {"comment": "  ", "next": "/approvals/"}, follow=True)
    flash = re.search(r'<div class="flash flash-error"[^>]*>([^<]*)</div>', text(response))
    assert flash and "comment" in flash.group(1).lower()
    # from the editor the refusal is the page itself, with the error's status
    response = client.post(f"/quotes/{quote.pk}/reject/", {"comment": ""})
    assert response.status_code == 422 and 'class="flash flash-error"' in text(response)
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.PENDING_APPROVAL
    client.post(f"/quotes/{quote.pk}/reject/", {"comment": "Too cheap, max 10 %", "next": "/approvals/"})
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.REJECTED
    page = text(client_for(rep).get(f"/quotes/{quote.pk}/"))
    assert "Too cheap, max 10 %" in page and 'id="line-add"' in page and "Submit for approval" in page


def test_two_levels_manager_then_finance(rep, manager, finance, quote, catalogue):
    pending_quote(quote, catalogue, discount="40")
    # finance waits for the manager's level
    assert quote.number not in text(client_for(finance).get("/approvals/"))
    manager_page = text(client_for(manager).get(f"/quotes/{quote.pk}/"))
    assert f"/quotes/{quote.pk}/approve/" in manager_page
    client_for(manager).post(f"/quotes/{quote.pk}/approve/", {"next": "/approvals/"})
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.PENDING_APPROVAL
    assert quote.number in text(client_for(finance).get("/approvals/"))
    client_for(finance).post(f"/quotes/{quote.pk}/approve/", {"next": "/approvals/"})
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.APPROVED


def test_make_primary(rep, quote, opportunity, catalogue):
    other = quote_services.quote_create(actor=rep, opportunity=opportunity, price_book=catalogue["book"])
    add_line(other, catalogue["goods"], "4")
    client = client_for(rep)
    assert "Make primary" in text(client.get(f"/quotes/{other.pk}/"))
    assert client.post(f"/quotes/{other.pk}/primary/").status_code == 302
    other.refresh_from_db()
    quote.refresh_from_db()
    assert other.is_primary and not quote.is_primary
    opportunity.refresh_from_db()
    assert opportunity.amount == Decimal("400.00")
    panel = text(client.get(f"/opportunities/{opportunity.pk}/"))
    assert panel.count("primary</span>") >= 1


# --- list ---------------------------------------------------------------------------------------------

def test_list_filters_sorts_and_reports_a_bad_ordering(rep, quote, opportunity, catalogue,
                                                       django_assert_max_num_queries):
    other = quote_services.quote_create(actor=rep, opportunity=opportunity, price_book=catalogue["book"],
                                        title="Second look")
    add_line(other, catalogue["goods"], "1")
    approval_services.quote_submit(actor=rep, quote=Quote.objects.get(pk=other.pk))
    client = client_for(rep)
    client.get("/quotes/")
    with django_assert_max_num_queries(10):
        page = text(client.get("/quotes/"))
    assert "Widgets for Shanghai" in page and "Second look" in page
    page = text(client.get("/quotes/", {"status": "approved"}))
    assert "Second look" in page and "Widgets for Shanghai" not in page
    page = text(client.get("/quotes/", {"q": "second"}))
    assert "Second look" in page and "Widgets for Shanghai" not in page
    page = text(client.get("/quotes/", {"ordering": "-gross_total"}))
    assert page.index("Second look") < page.index("Widgets for Shanghai")
    bad = client.get("/quotes/", {"ordering": "secret"})
    assert bad.status_code == 200 and "Cannot sort by" in text(bad)


# --- approval rules ---------------------------------------------------------------------------------

def test_admin_adds_edits_and_deactivates_a_rule(admin_user, rules):
    client = client_for(admin_user)
    page = text(client.get("/settings/approval-rules/"))
    assert "Over 15" in page and "Over 30" in page
    response = client.post("/settings/approval-rules/new/", {
        "name": "Any line over 25", "measure": "any_line", "threshold_percent": "25",
        "approver_roles": ["manager"], "level": "1", "active": "on"})
    assert response.status_code == 302
    rule = ApprovalRule.objects.get(name="Any line over 25")
    assert (rule.measure, rule.threshold_percent, rule.approver_roles) == ("any_line", Decimal("25"), ["manager"])
    client.post(f"/settings/approval-rules/{rule.pk}/", {
        "name": "Any line over 20", "measure": "any_line", "threshold_percent": "20",
        "approver_roles": ["manager", "finance"], "level": "1", "active": "on"})
    rule.refresh_from_db()
    assert (rule.name, rule.threshold_percent, sorted(rule.approver_roles)) == (
        "Any line over 20", Decimal("20"), ["finance", "manager"])
    client.post(f"/settings/approval-rules/{rule.pk}/deactivate/")
    rule.refresh_from_db()
    assert rule.active is False


def test_bad_rule_input_shows_the_error_and_saves_nothing(admin_user):
    response = client_for(admin_user).post("/settings/approval-rules/new/", {
        "name": "Broken", "measure": "overall", "threshold_percent": "150", "approver_roles": ["manager"],
        "level": "1", "active": "on"})
    assert response.status_code in (400, 422)
    assert 'id="id_threshold_percent_errors"' in text(response)
    assert not ApprovalRule.objects.filter(name="Broken").exists()


@pytest.mark.parametrize("role", ["rep", "manager", "finance"])
def test_rule_settings_are_admin_only(role, request, rules):
    client = client_for(request.getfixturevalue(role))
    assert client.get("/settings/approval-rules/").status_code == 404
    assert client.post("/settings/approval-rules/new/", {"name": "x"}).status_code == 404
    assert client.post(f"/settings/approval-rules/{rules[0].pk}/deactivate/").status_code == 404
    assert ApprovalRule.objects.get(pk=rules[0].pk).active is True


def test_changing_an_approved_quotes_prices_asks_for_approval_again(rep, quote, catalogue):
    line = add_line(quote, catalogue["goods"], "1", "5")
    approval_services.quote_submit(actor=rep, quote=Quote.objects.get(pk=quote.pk))
    client = client_for(rep)
    page = text(client.get(f"/quotes/{quote.pk}/"))
    assert 'id="line-add"' in page and f'href="/quotes/{quote.pk}/send/"' in page  # approved: edited in place
    # when the discount goes up in the lines table (HTMX)
    html = text(client.post(f"/quotes/{quote.pk}/lines/{line.pk}/", {
        f"l{line.pk}-quantity": "1", f"l{line.pk}-discount_percent": "10"}, **HTMX))
    # then the status panel and the page head (out of band) say draft, and Send is gone
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.DRAFT
    status = block(html, "quote-status")
    assert 'hx-swap-oob="true"' in status and "quote-status-draft" in status and "Submit for approval" in status
    head = block(html, "quote-head")
    assert 'hx-swap-oob="true"' in head and f'href="/quotes/{quote.pk}/send/"' not in head
    assert total(html, "net") == "90.00 CNY"
