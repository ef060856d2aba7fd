"""Discount approvals: each rule, levels in order, who may decide, reject with a comment, blockers,
the inbox, and the approval-rule services."""
from decimal import Decimal as D

import pytest

from l2c.core.errors import InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from l2c.core.models import AuditEvent
from l2c.identity.models import User
from l2c.quoting import selectors
from l2c.quoting.models import ApprovalRule, ApprovalStatus, QuoteStatus
from l2c.quoting.services import approvals as approval_services
from l2c.quoting.services import quotes as quote_services
from l2c.quoting.tests.quote_factories import Catalogue, default_rules, draft_quote, gb_vat

pytestmark = pytest.mark.django_db


@pytest.fixture
def cat(db):
    gb_vat()
    default_rules()
    return Catalogue("USD")


def submitted(rep, cat, discount):
    quote = draft_quote(rep, catalogue=cat, lines=[(cat.good, 10, discount)])
    return approval_services.quote_submit(actor=rep, quote=quote)


def test_no_rule_hit_approves_at_once(rep, cat):
    quote = submitted(rep, cat, 15)  # 15 is not over 15
    assert quote.status == QuoteStatus.APPROVED and quote.approved_at and not quote.approvals.exists()
    assert approval_services.blockers(quote) == []


def test_overall_discount_over_15_needs_a_manager(rep, manager, cat):
    # given a 22.5 % discount
    quote = submitted(rep, cat, "22.5")
    # then one approval, with its reason in words
    assert quote.status == QuoteStatus.PENDING_APPROVAL
    approval = quote.approvals.get()
    assert (approval.level, approval.approver_roles) == (1, ["manager", "admin"])
    assert approval.reason == "Overall discount 22.50 % is over 15 %"
    blockers = approval_services.blockers(quote)
    assert len(blockers) == 1 and "Overall discount 22.50 % is over 15 %" in blockers[0] and "Manager" in blockers[0]
    # when the team's manager approves
    quote = approval_services.quote_approve(actor=manager, quote=quote, comment="ok")
    # then
    assert quote.status == QuoteStatus.APPROVED and quote.approval_fingerprint
    approval.refresh_from_db()
    assert (approval.status, approval.decided_by, approval.comment) == (ApprovalStatus.APPROVED, manager, "ok")
    assert AuditEvent.objects.filter(object_type="quoting.quote", object_id=str(quote.pk), action="transition") \
        .count() == 2


def test_over_30_needs_level_1_then_finance(rep, manager, finance, admin_user, cat):
    quote = submitted(rep, cat, 35)
    assert list(quote.approvals.values_list("level", flat=True)) == [1, 2]
    # finance may not decide level 1, and level 2 waits for it
    with pytest.raises(PermissionDenied) as caught:
        approval_services.quote_approve(actor=finance, quote=quote)
    assert "Level 1 must be approved first" in caught.value.message
    assert quote.approvals.filter(status=ApprovalStatus.PENDING).count() == 2
    approval_services.quote_approve(actor=manager, quote=quote)
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.PENDING_APPROVAL
    # the manager cannot decide level 2
    with pytest.raises(PermissionDenied):
        approval_services.quote_approve(actor=manager, quote=quote)
    approval_services.quote_approve(actor=finance, quote=quote)
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.APPROVED


def test_any_line_rule(rep, manager, cat):
    ApprovalRule.objects.all().delete()
    ApprovalRule.objects.create(name="Line over 40", measure="any_line", threshold_percent=D(40),
                                approver_roles=["manager"], level=1)
    quote = draft_quote(rep, catalogue=cat, lines=[(cat.good, 10, 0), (cat.service, 1, 50)])
    quote = approval_services.quote_submit(actor=rep, quote=quote)
    assert quote.status == QuoteStatus.PENDING_APPROVAL
    assert quote.approvals.get().reason == "A line discount of 50.00 % is over 40 %"


def test_inactive_rules_are_ignored(rep, cat):
    ApprovalRule.objects.update(active=False)
    assert submitted(rep, cat, 50).status == QuoteStatus.APPROVED


def test_who_may_decide(rep, rep2, manager, outsider, admin_user, cat):
    quote = submitted(rep, cat, 20)
    # the owner
    with pytest.raises(PermissionDenied) as caught:
        approval_services.quote_approve(actor=rep, quote=quote)
    assert "your own quote" in caught.value.message
    # another rep (cannot even see it) and a rep of another team
    for other in (rep2, outsider):
        with pytest.raises(NotFound):
            approval_services.quote_approve(actor=other, quote=quote)
    # a manager of another team
    west = User.objects.create_user(username="westboss", password="x", role="manager", team=outsider.team)
    with pytest.raises(NotFound):
        approval_services.quote_approve(actor=west, quote=quote)
    assert approval_services.decide_refusal(west, quote.approvals.get()) == \
        "A manager approves only quotes of their own team."
    # a manager's own quote needs someone else
    own = submitted(manager, cat, 20)
    with pytest.raises(PermissionDenied):
        approval_services.quote_approve(actor=manager, quote=own)
    approval_services.quote_approve(actor=admin_user, quote=own)
    own.refresh_from_db()
    assert own.status == QuoteStatus.APPROVED
    assert quote.approvals.get().status == ApprovalStatus.PENDING


def test_reject_needs_a_comment_then_the_quote_is_editable_and_resubmittable(rep, manager, cat):
    quote = submitted(rep, cat, 20)
    with pytest.raises(ValidationFailed) as caught:
        approval_services.quote_reject(actor=manager, quote=quote, comment=" ")
    assert caught.value.errors[0].field == "comment"
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.PENDING_APPROVAL
    quote = approval_services.quote_reject(actor=manager, quote=quote, comment="Max 10 % for this customer")
    assert quote.status == QuoteStatus.REJECTED
    assert approval_services.blockers(quote)[0] == "Rejected by Manager: Max 10 % for this customer"
    # edit and resubmit: no rule hit now
    line = quote.lines.get()
    quote_services.line_update(actor=rep, line=line, discount_percent=D(10))
    quote = approval_services.quote_submit(actor=rep, quote=quote)
    assert quote.status == QuoteStatus.APPROVED


def test_reject_at_level_2_cancels_nothing_already_approved(rep, manager, finance, cat):
    quote = submitted(rep, cat, 35)
    approval_services.quote_approve(actor=manager, quote=quote)
    approval_services.quote_reject(actor=finance, quote=quote, comment="No")
    statuses = list(quote.approvals.order_by("level").values_list("status", flat=True))
    assert statuses == [ApprovalStatus.APPROVED, ApprovalStatus.REJECTED]


def test_submit_refusals(rep, manager, cat):
    quote = draft_quote(rep, catalogue=cat)
    with pytest.raises(ValidationFailed) as caught:
        approval_services.quote_submit(actor=rep, quote=quote)
    assert caught.value.errors[0].field == "lines"
    assert "The quote has no lines." in approval_services.blockers(quote)
    quote = submitted(rep, cat, 0)
    with pytest.raises(InvalidTransition):
        approval_services.quote_submit(actor=rep, quote=quote)
    with pytest.raises(InvalidTransition):
        approval_services.quote_approve(actor=manager, quote=quote)


def test_finance_decides_but_cannot_submit(rep, finance, cat):
    quote = draft_quote(rep, catalogue=cat, lines=[(cat.good, 1, 0)])
    with pytest.raises(PermissionDenied):
        approval_services.quote_submit(actor=finance, quote=quote)


def test_inbox_lists_what_the_user_may_decide_now(rep, manager, finance, admin_user, outsider, cat):
    small = submitted(rep, cat, 20)
    big = submitted(rep, cat, 40)
    inbox = {a.quote_id: a.level for a in selectors.approvals_inbox(manager)}
    assert inbox == {small.pk: 1, big.pk: 1}
    assert list(selectors.approvals_inbox(finance)) == []  # level 2 waits
    assert list(selectors.approvals_inbox(rep)) == []  # own quotes
    assert list(selectors.approvals_inbox(outsider)) == []
    assert {a.quote_id for a in selectors.approvals_inbox(admin_user)} == {small.pk, big.pk}
    approval_services.quote_approve(actor=manager, quote=big)
    assert [(a.quote_id, a.level) for a in selectors.approvals_inbox(finance)] == [(big.pk, 2)]
    assert [a.quote_id for a in selectors.approvals_inbox(manager)] == [small.pk]
    assert [a.quote_id for a in selectors.approvals_decided(manager)] == [big.pk]
    assert approval_services.can_decide(finance, big) and not approval_services.can_decide(manager, big)


def test_blockers_say_who_can_approve(rep, manager, cat):
    quote = submitted(rep, cat, 40)
    blockers = approval_services.blockers(quote)
    assert blockers[0].startswith("Waiting for approval (level 1): Overall discount 40.00 % is over 15 %")
    assert "Manager" in blockers[0]
    assert blockers[1].startswith("Then approval level 2: Overall discount 40.00 % is over 30 %")
    assert "nobody yet" in blockers[1]  # no finance user exists in this test


# --- approval rules ------------------------------------------------------------------------------------------------

def test_rule_crud_is_admin_only_and_validated(admin_user, manager):
    with pytest.raises(PermissionDenied):
        approval_services.approval_rule_create(actor=manager, name="x", threshold_percent=D(10),
                                               approver_roles=["manager"])
    with pytest.raises(ValidationFailed) as caught:
        approval_services.approval_rule_create(actor=admin_user, name="", threshold_percent=D(120),
                                               approver_roles=["rep"], measure="vibes", level=0)
    assert {e.field for e in caught.value.errors} == {"name", "threshold_percent", "approver_roles", "measure",
                                                      "level"}
    rule = approval_services.approval_rule_create(actor=admin_user, name="Over 50", threshold_percent=D(50),
                                                  approver_roles=["admin", "admin"], level=3)
    assert rule.approver_roles == ["admin"]
    rule = approval_services.approval_rule_update(actor=admin_user, rule=rule, active=False)
    assert not rule.active
    approval_services.approval_rule_delete(actor=admin_user, rule=rule)
    assert not ApprovalRule.objects.filter(pk=rule.pk).exists()
    assert AuditEvent.objects.filter(object_type="quoting.approvalrule", action="delete").exists()
