"""The lead form's "let the assignment rules choose the owner" choice."""
from l2c.leads.models import AssignmentRule, Lead


def _post(client, **extra):
    data = {"last_name": "Auto", "source": "manual", "country": "CN", **extra}
    return client.post("/leads/new/", data)


def test_rules_choose_the_owner(client, manager, rep2):
    # given a rule that sends Chinese leads to rep2
    AssignmentRule.objects.create(name="China", priority=1, countries=["CN"], assign_to=rep2)
    client.force_login(manager)
    # when the manager creates a Chinese lead and ticks auto-assign
    response = _post(client, auto_assign="on", owner=manager.pk)
    # then rep2 owns it (the owner chosen in the form is ignored)
    assert response.status_code == 302
    assert Lead.objects.get(last_name="Auto").owner_id == rep2.pk


def test_a_rep_without_a_matching_rule_keeps_the_lead(client, rep):
    client.force_login(rep)
    response = _post(client, auto_assign="on", owner="")
    assert response.status_code == 302
    assert Lead.objects.get(last_name="Auto").owner_id == rep.pk


def test_without_the_choice_the_form_owner_is_used(client, manager, rep2):
    AssignmentRule.objects.create(name="China", priority=1, countries=["CN"], assign_to=rep2)
    client.force_login(manager)
    _post(client, owner=manager.pk)
    assert Lead.objects.get(last_name="Auto").owner_id == manager.pk
