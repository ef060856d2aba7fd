import datetime as dt

import pytest
from django.utils import timezone

from l2c.core.errors import InvalidTransition, NotFound, ValidationFailed
from l2c.pipeline import selectors, services
from l2c.pipeline.models import Activity

from .factories import AccountFactory, ActivityFactory, ContactFactory, LeadFactory, OpportunityFactory


def test_create_a_task_on_a_visible_record(rep, stages):
    opp = OpportunityFactory(owner=rep)
    due = timezone.now() + dt.timedelta(days=1)
    activity = services.activity_create(actor=rep, kind="task", subject="Send proposal", due_at=due,
                                        opportunity=opp.pk)
    assert activity.owner == rep and activity.opportunity == opp and activity.done_at is None


@pytest.mark.parametrize("fields, field", [
    ({"kind": "fax"}, "kind"),
    ({"subject": ""}, "subject"),
    ({"subject": "s" * 201}, "subject"),
    ({"due_at": None}, "due_at"),
    ({"due_at": "tomorrow"}, "due_at"),
    ({"opportunity": None}, "target"),
])
def test_create_refuses_bad_input(rep, stages, fields, field):
    opp = OpportunityFactory(owner=rep)
    values = {"kind": "task", "subject": "Call", "due_at": timezone.now(), "opportunity": opp, **fields}
    with pytest.raises(ValidationFailed) as exc:
        services.activity_create(actor=rep, **values)
    assert field in [e.field for e in exc.value.errors]
    assert not Activity.objects.exists()


def test_every_attached_record_must_be_visible(rep, rep2, stages):
    mine = AccountFactory(owner=rep)
    theirs = LeadFactory(owner=rep2)
    with pytest.raises(ValidationFailed) as exc:
        services.activity_create(actor=rep, kind="note", subject="x", account=mine, lead=theirs.pk)
    assert [e.field for e in exc.value.errors] == ["lead"]


def test_a_note_is_done_when_written_and_a_logged_call_too(rep):
    account = AccountFactory(owner=rep)
    note = services.activity_create(actor=rep, kind="note", subject="Met at fair", account=account)
    call = services.activity_create(actor=rep, kind="call", subject="Intro call", account=account, done=True)
    assert note.done_at is not None and call.done_at is not None
    with pytest.raises(InvalidTransition):
        services.activity_complete(activity=note, actor=rep)
    with pytest.raises(InvalidTransition):
        services.activity_reopen(activity=note, actor=rep)


def test_complete_and_reopen(rep):
    account = AccountFactory(owner=rep)
    task = ActivityFactory(owner=rep, account=account)
    services.activity_complete(activity=task, actor=rep)
    task.refresh_from_db()
    assert task.done_at is not None
    with pytest.raises(InvalidTransition):
        services.activity_complete(activity=task, actor=rep)
    services.activity_reopen(activity=task, actor=rep)
    task.refresh_from_db()
    assert task.done_at is None


def test_update_validates_and_hidden_activity_is_not_found(rep, outsider):
    task = ActivityFactory(owner=rep, account=AccountFactory(owner=rep))
    with pytest.raises(ValidationFailed):
        services.activity_update(activity=task, actor=rep, due_at=None)
    services.activity_update(activity=task, actor=rep, subject="Renamed")
    task.refresh_from_db()
    assert task.subject == "Renamed"
    with pytest.raises(NotFound):
        services.activity_update(activity=task, actor=outsider, subject="hijack")


def test_visibility_own_or_on_a_visible_record(rep, rep2, manager, outsider, finance, admin_user):
    # given activities owned by others on rep's records, and one owned by rep on nothing of theirs
    lead = LeadFactory(owner=rep)
    account = AccountFactory(owner=rep)
    on_lead = ActivityFactory(owner=rep2, lead=lead)
    on_account = ActivityFactory(owner=None, account=account)
    own_elsewhere = ActivityFactory(owner=rep, account=AccountFactory(owner=outsider))
    outsiders = ActivityFactory(owner=outsider, account=AccountFactory(owner=outsider))
    unassigned_lead = ActivityFactory(owner=None, lead=LeadFactory(owner=None))

    def seen(user):
        return set(Activity.objects.restrict(user).values_list("pk", flat=True))

    assert seen(rep) == {on_lead.pk, on_account.pk, own_elsewhere.pk}
    assert seen(rep2) == {on_lead.pk}
    assert seen(outsider) == {outsiders.pk, own_elsewhere.pk}
    # the manager sees the team's, plus unassigned leads' activities; never the other team's
    assert seen(manager) == {on_lead.pk, on_account.pk, own_elsewhere.pk, unassigned_lead.pk}
    # finance reads customer master data: activities on accounts and contacts
    assert seen(finance) == {on_account.pk, own_elsewhere.pk, outsiders.pk}
    assert seen(admin_user) == set(Activity.objects.values_list("pk", flat=True))


def test_my_tasks_are_overdue_and_due_today_most_urgent_first(rep, rep2):
    account = AccountFactory(owner=rep)
    now = timezone.now()
    start, end = selectors.today_bounds()
    overdue = ActivityFactory(owner=rep, account=account, due_at=now - dt.timedelta(days=2))
    today = ActivityFactory(owner=rep, account=account, due_at=max(start, min(now + dt.timedelta(minutes=1),
                                                                              end - dt.timedelta(seconds=1))))
    ActivityFactory(owner=rep, account=account, due_at=end + dt.timedelta(days=1))  # later
    ActivityFactory(owner=rep, account=account, due_at=now - dt.timedelta(days=1), done_at=now)  # done
    ActivityFactory(owner=rep, account=account, kind="note", due_at=now - dt.timedelta(days=1))  # not a to-do
    ActivityFactory(owner=rep2, account=account, due_at=now - dt.timedelta(days=1))  # someone else's
    assert list(selectors.my_tasks(user=rep)) == [overdue, today]
    assert overdue.is_overdue


def test_contact_activity_visible_to_contact_owner(rep, rep2):
    contact = ContactFactory(owner=rep, account=AccountFactory(owner=rep2))
    activity = ActivityFactory(owner=rep2, contact=contact)
    assert Activity.objects.restrict(rep).filter(pk=activity.pk).exists()
