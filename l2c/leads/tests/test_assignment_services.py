"""Assignment rules (create/update/delete/reorder, validation, permissions) and applying them to leads."""
import pytest

from l2c.core import audit
from l2c.core.errors import Conflict, PermissionDenied, ValidationFailed
from l2c.core.models import AuditEvent
from l2c.identity.models import Team, User
from l2c.leads import services as lead_services
from l2c.leads.assignment import services
from l2c.leads.choices import LeadStatus
from l2c.leads.models import AssignmentRule, Lead
from l2c.leads.tests.factories import CampaignFactory, LeadFactory


def codes(exc_info) -> dict:
    return {e.field: e.code for e in exc_info.value.errors}


def events_for(obj):
    return list(AuditEvent.objects.filter(object_type=audit.object_type_of(obj), object_id=str(obj.pk)).order_by("id"))


# --- rules --------------------------------------------------------------------------------------------

def test_create_rule_normalises_and_audits(admin_user, rep):
    campaign = CampaignFactory()
    rule = services.rule_create(actor=admin_user, name="  China  ", countries="cn, hk,CN", sources=["event", "api"],
                                campaign=campaign, assign_to=rep)
    assert (rule.name, rule.countries, rule.sources) == ("China", ["CN", "HK"], ["event", "api"])
    assert rule.priority == 10
    second = services.rule_create(actor=admin_user, name="Rest", assign_to=rep)
    assert second.priority == 20  # new rules go last
    [event] = events_for(rule)
    assert event.action == audit.Action.CREATE and event.changes["countries"] == [None, ["CN", "HK"]]


def test_create_rule_reports_every_bad_field_and_writes_nothing(admin_user, rep):
    with pytest.raises(ValidationFailed) as exc:
        services.rule_create(actor=admin_user, name="", countries=["XX"], sources=["fax"], priority=-1,
                             assign_to=rep, team=rep.team)
    assert codes(exc) == {"name": "required", "countries": "invalid_country", "sources": "invalid_choice",
                          "priority": "out_of_range", "assign_to": "one_target"}
    assert "'XX'" in str(exc.value)
    assert not AssignmentRule.objects.exists()
    assert not AuditEvent.objects.filter(object_type="leads.assignmentrule").exists()


@pytest.mark.parametrize("countries", [["ZZ"], "US, Mars", [1], {"a": 1}])
def test_bad_country_lists(admin_user, rep, countries):
    with pytest.raises(ValidationFailed) as exc:
        services.rule_create(actor=admin_user, name="x", countries=countries, assign_to=rep)
    assert "countries" in codes(exc)


def test_rule_needs_exactly_one_target(admin_user):
    with pytest.raises(ValidationFailed) as exc:
        services.rule_create(actor=admin_user, name="nobody")
    assert codes(exc) == {"assign_to": "target_required"}


def test_user_target_must_be_an_active_sales_user(admin_user, rep, finance):
    with pytest.raises(ValidationFailed) as exc:
        services.rule_create(actor=admin_user, name="x", assign_to=finance)
    assert codes(exc) == {"assign_to": "invalid_owner"}
    rep.is_active = False
    rep.save()
    with pytest.raises(ValidationFailed) as exc:
        services.rule_create(actor=admin_user, name="x", assign_to=rep)
    assert codes(exc) == {"assign_to": "invalid_owner"}


def test_team_target_needs_active_reps(admin_user, manager):
    empty = Team.objects.create(name="Empty")
    with pytest.raises(ValidationFailed) as exc:
        services.rule_create(actor=admin_user, name="x", team=empty)
    assert codes(exc) == {"team": "no_active_reps"}
    # the East team has only its manager: managers take no round-robin turns
    with pytest.raises(ValidationFailed):
        services.rule_create(actor=admin_user, name="x", team=manager.team)


def test_reps_and_finance_cannot_manage_rules(rep, finance, rep2):
    for actor in (rep, finance):
        with pytest.raises(PermissionDenied):
            services.rule_create(actor=actor, name="x", assign_to=rep2)


def test_manager_routes_only_to_own_team(manager, rep, outsider, other_team):
    rule = services.rule_create(actor=manager, name="mine", team=manager.team, countries=["DE"])
    assert rule.team == manager.team and rep.team == manager.team
    with pytest.raises(ValidationFailed) as exc:
        services.rule_create(actor=manager, name="theirs", assign_to=outsider)
    assert codes(exc) == {"assign_to": "not_allowed"}
    with pytest.raises(ValidationFailed) as exc:
        services.rule_create(actor=manager, name="theirs", team=other_team)
    assert codes(exc) == {"team": "not_allowed"}


def test_manager_cannot_touch_another_teams_rule(admin_user, manager, outsider):
    theirs = services.rule_create(actor=admin_user, name="West", assign_to=outsider)
    with pytest.raises(PermissionDenied):
        services.rule_update(rule=theirs, actor=manager, name="mine now")
    with pytest.raises(PermissionDenied):
        services.rule_delete(rule=theirs, actor=manager)
    with pytest.raises(PermissionDenied):
        services.rule_move(rule=theirs, direction="up", actor=manager)
    assert AssignmentRule.objects.get(pk=theirs.pk).name == "West"


def test_update_switches_target_and_restarts_round_robin(admin_user, rep, rep2):
    rule = services.rule_create(actor=admin_user, name="x", assign_to=rep)
    rule = services.rule_update(rule=rule, actor=admin_user, team=rep.team)
    assert rule.assign_to is None and rule.team == rep.team
    assert services.choose_owner(values={}) == rep
    rule = services.rule_update(rule=rule, actor=admin_user, assign_to=rep2)
    assert rule.team is None and rule.last_assigned is None
    [_create, first, second] = events_for(rule)
    assert first.changes["team"] == [None, rep.team.pk] and first.changes["assign_to"] == [rep.pk, None]
    assert second.changes["assign_to"] == [None, rep2.pk]


def test_update_refuses_unknown_fields_and_bad_values(admin_user, rep):
    rule = services.rule_create(actor=admin_user, name="x", assign_to=rep)
    with pytest.raises(ValidationFailed) as exc:
        services.rule_update(rule=rule, actor=admin_user, last_assigned=rep)
    assert codes(exc) == {"last_assigned": "unknown_field"}
    with pytest.raises(ValidationFailed) as exc:
        services.rule_update(rule=rule, actor=admin_user, assign_to=None)
    assert codes(exc) == {"assign_to": "target_required"}
    with pytest.raises(ValidationFailed) as exc:
        services.rule_update(rule=rule, actor=admin_user, is_active="yes", priority=True)
    assert codes(exc) == {"is_active": "invalid", "priority": "invalid"}
    assert AssignmentRule.objects.get(pk=rule.pk).assign_to == rep


def test_delete_is_audited(admin_user, rep):
    rule = services.rule_create(actor=admin_user, name="x", assign_to=rep)
    pk = rule.pk
    services.rule_delete(rule=rule, actor=admin_user)
    assert not AssignmentRule.objects.filter(pk=pk).exists()
    event = AuditEvent.objects.filter(object_type="leads.assignmentrule", object_id=str(pk)).latest("id")
    assert event.action == audit.Action.DELETE and event.changes["name"] == ["x", None]


def test_reorder_and_move(admin_user, manager, rep, outsider):
    a = services.rule_create(actor=admin_user, name="a", assign_to=rep)
    b = services.rule_create(actor=admin_user, name="b", assign_to=outsider)
    c = services.rule_create(actor=admin_user, name="c", assign_to=rep)
    services.rule_reorder(rule_ids=[c.pk, a.pk, b.pk], actor=admin_user)
    assert list(AssignmentRule.objects.values_list("name", "priority")) == [("c", 10), ("a", 20), ("b", 30)]
    with pytest.raises(ValidationFailed):
        services.rule_reorder(rule_ids=[c.pk, a.pk], actor=admin_user)
    with pytest.raises(PermissionDenied):
        services.rule_reorder(rule_ids=[a.pk, b.pk, c.pk], actor=manager)
    # a manager moves their own team's rule
    services.rule_move(rule=a, direction="up", actor=manager)
    assert list(AssignmentRule.objects.values_list("name", flat=True)) == ["a", "c", "b"]
    services.rule_move(rule=a, direction="up", actor=manager)  # already first: stays
    assert list(AssignmentRule.objects.values_list("name", flat=True)) == ["a", "c", "b"]
    with pytest.raises(ValidationFailed):
        services.rule_move(rule=a, direction="sideways", actor=admin_user)
    assert audit.verify_chain()[1] is None


# --- applying the rules -------------------------------------------------------------------------------

@pytest.fixture
def two_reps_rule(admin_user, rep, rep2):
    return services.rule_create(actor=admin_user, name="East round-robin", team=rep.team)


def test_lead_auto_assign(manager, rep, two_reps_rule):
    lead = LeadFactory()
    lead = services.lead_auto_assign(lead=lead, actor=manager)
    assert lead.owner == rep
    [event] = events_for(lead)
    assert event.changes == {"owner": [None, rep.pk], "assignment_rule": [None, f"East round-robin (#{two_reps_rule.pk})"]}
    assert event.actor_id == manager.pk
    with pytest.raises(Conflict):
        services.lead_auto_assign(lead=lead, actor=manager)


def test_auto_assign_may_route_outside_the_managers_team(manager, admin_user, outsider):
    services.rule_create(actor=admin_user, name="West", assign_to=outsider)
    lead = services.lead_auto_assign(lead=LeadFactory(), actor=manager)
    assert lead.owner == outsider


def test_auto_assign_without_matching_rule_leaves_lead_unassigned(manager, admin_user, rep):
    services.rule_create(actor=admin_user, name="CN", countries=["CN"], assign_to=rep)
    lead = services.lead_auto_assign(lead=LeadFactory(country="US"), actor=manager)
    assert lead.owner is None
    assert not events_for(lead)


def test_reps_cannot_apply_rules(rep, two_reps_rule):
    with pytest.raises(PermissionDenied):
        services.lead_auto_assign(lead=LeadFactory(), actor=rep)
    with pytest.raises(PermissionDenied):
        services.leads_auto_assign(leads=[LeadFactory()], actor=rep)


def test_bulk_auto_assign_outcomes_and_one_event_per_lead(manager, rep, rep2, admin_user, two_reps_rule):
    # given
    services.rule_create(actor=admin_user, name="CN only", priority=1, countries=["CN"], assign_to=rep2)
    fresh = [LeadFactory(country="US") for _ in range(4)]
    chinese = LeadFactory(country="CN")
    owned = LeadFactory(owner=rep)
    converted = LeadFactory(status=LeadStatus.CONVERTED)
    before = AuditEvent.objects.count()
    # when
    outcome = services.leads_auto_assign(leads=[*fresh, chinese, owned, converted], actor=manager)
    # then
    assert outcome[owned.pk] == "already_assigned" and outcome[converted.pk] == "converted"
    assert [outcome[lead.pk] for lead in fresh] == ["assigned"] * 4
    owners = list(Lead.objects.filter(pk__in=[lead.pk for lead in fresh]).order_by("pk").values_list("owner", flat=True))
    assert owners == [rep.pk, rep2.pk, rep.pk, rep2.pk]
    assert Lead.objects.get(pk=chinese.pk).owner == rep2
    assert AuditEvent.objects.count() == before + 5
    assert audit.verify_chain()[1] is None


def test_bulk_assign_audits_each_lead(manager, rep, rep2, django_capture_on_commit_callbacks, published):
    leads = [LeadFactory() for _ in range(3)] + [LeadFactory(owner=rep2)]
    last = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    with django_capture_on_commit_callbacks(execute=True):
        outcome = lead_services.leads_assign(leads=leads, owner=rep2, actor=manager)
    assert list(outcome.values()) == ["assigned", "assigned", "assigned", "unchanged"]
    assert set(Lead.objects.values_list("owner", flat=True)) == {rep2.pk}
    assert [(name, p["lead_id"], p["owner_id"]) for name, p in published if name == "lead.assigned"] == [
        ("lead.assigned", lead.pk, rep2.pk) for lead in leads[:3]]
    new = list(AuditEvent.objects.filter(pk__gt=last).order_by("id"))
    assert [(e.object_id, e.changes) for e in new] == [(str(lead.pk), {"owner": [None, rep2.pk]}) for lead in leads[:3]]
    assert audit.verify_chain()[1] is None


def test_bulk_assign_respects_the_managers_team(manager, outsider):
    lead = LeadFactory()
    with pytest.raises(ValidationFailed) as exc:
        lead_services.leads_assign(leads=[lead], owner=outsider, actor=manager)
    assert codes(exc) == {"owner": "not_allowed"}
    assert Lead.objects.get(pk=lead.pk).owner is None


def test_bulk_assign_keeps_converted_leads(admin_user, rep):
    lead = LeadFactory(status=LeadStatus.CONVERTED)
    assert lead_services.leads_assign(leads=[lead], owner=rep, actor=admin_user) == {lead.pk: "converted"}
    assert Lead.objects.get(pk=lead.pk).owner is None


def test_deactivated_rule_user_is_refused_by_lead_assign(admin_user, rep):
    rule = services.rule_create(actor=admin_user, name="x", assign_to=rep)
    User.objects.filter(pk=rep.pk).update(is_active=False)
    rep.refresh_from_db()
    with pytest.raises(ValidationFailed):
        lead_services.lead_assign(lead=LeadFactory(), owner=rep, actor=admin_user, rule=rule)


# --- creating a lead with "auto-assign" ------------------------------------------------------------------

def test_create_auto_assigned_by_a_rep_goes_to_the_rule_owner(rep, rep2, admin_user):
    rule = services.rule_create(actor=admin_user, name="DE", countries=["DE"], assign_to=rep2)
    lead = services.lead_create_auto_assigned(actor=rep, last_name="Müller", country="de")
    assert lead.owner == rep2
    create, handover = events_for(lead)
    assert create.action == audit.Action.CREATE and create.actor_id == rep.pk
    assert handover.changes == {"owner": [rep.pk, rep2.pk], "assignment_rule": [None, f"DE (#{rule.pk})"]}


def test_create_auto_assigned_without_a_match(rep, manager):
    assert services.lead_create_auto_assigned(actor=rep, last_name="A", country="US").owner == rep
    assert services.lead_create_auto_assigned(actor=manager, last_name="B", country="US").owner is None


def test_create_auto_assigned_validates_like_lead_create(manager, rep):
    with pytest.raises(ValidationFailed) as exc:
        services.lead_create_auto_assigned(actor=manager, last_name="", email="nope", country="XX")
    assert set(codes(exc)) == {"last_name", "email", "country"}
    with pytest.raises(ValidationFailed):
        services.lead_create_auto_assigned(actor=manager, last_name="x", owner=rep)
    assert not Lead.objects.exists()
