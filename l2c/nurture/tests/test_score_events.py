"""`lead.score_changed`: published when a lead's grade changes (its first score included), never for a change
inside a grade; a workflow rule on it qualifies hot leads and tells their owner."""
import pytest

from l2c.automation import rule_services
from l2c.automation.models import Notification
from l2c.core import events
from l2c.leads.models import Lead
from l2c.leads.tests.factories import LeadFactory
from l2c.nurture.scoring import services

pytestmark = pytest.mark.django_db


@pytest.fixture
def published(monkeypatch):
    seen = []
    monkeypatch.setitem(events._SUBSCRIBERS, "lead.score_changed", [lambda name, payload: seen.append(payload)])
    return seen


def _fit_rule(actor, points, value="CEO"):
    return services.rule_create(actor=actor, name=f"{value} {points}", kind="fit", field="title", operator="equals",
                                value=value, points=points)


def test_grade_changes_are_published_and_changes_within_a_grade_are_not(manager, published,
                                                                       django_capture_on_commit_callbacks):
    ceo = LeadFactory(title="CEO", source="manual")
    intern = LeadFactory(title="Intern", source="manual")
    with django_capture_on_commit_callbacks(execute=True):
        rule = _fit_rule(manager, 85)
        services.rescore_all()
    first = sorted((p["lead_id"], p["previous_grade"], p["grade"]) for p in published)
    assert first == sorted([(ceo.pk, "", "A"), (intern.pk, "", "D")])

    published.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.rule_update(actor=manager, rule=rule, points=90)  # 85 -> 90: still A
        services.rescore_all()
    assert published == []

    with django_capture_on_commit_callbacks(execute=True):
        services.rule_update(actor=manager, rule=rule, points=65)  # A -> B
        services.rescore_all()
    assert published == [{"lead_id": ceo.pk, "score": 65, "previous_score": 90, "grade": "B",
                          "previous_grade": "A"}]


def test_a_rule_on_the_score_event_qualifies_hot_leads_and_tells_the_owner(manager, rep,
                                                                          django_capture_on_commit_callbacks):
    rule_services.rule_create(actor=manager, **{
        "name": "Hot lead: qualify", "record_type": "lead", "trigger": "event",
        "trigger_config": {"event": "lead.score_changed"},
        "conditions": [{"field": "score", "operator": "gte", "value": 80},
                       {"field": "status", "operator": "in", "value": ["new", "working", "nurturing"]}],
        "actions": [{"type": "update_field", "params": {"field": "status", "value": "qualified"}},
                    {"type": "notify_user", "params": {"text": "{record} scored 80 or more: qualified"}}]})
    hot = LeadFactory(title="CEO", owner=rep, source="manual")
    cold = LeadFactory(title="Intern", owner=rep, source="manual")

    with django_capture_on_commit_callbacks(execute=True):
        _fit_rule(manager, 85)
        services.rescore_all()

    assert Lead.objects.get(pk=hot.pk).status == "qualified"
    assert Lead.objects.get(pk=cold.pk).status == "new"
    note = Notification.objects.get(recipient=rep)
    assert "qualified" in note.text and str(hot.pk) in note.link
