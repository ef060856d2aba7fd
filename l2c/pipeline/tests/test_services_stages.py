import pytest

from l2c.core.errors import Conflict, PermissionDenied, ValidationFailed
from l2c.core.models import AuditEvent
from l2c.pipeline import services
from l2c.pipeline.models import Stage

from .factories import OpportunityFactory


def test_fresh_database_has_the_default_stages(db):
    # given the data migration ran, when we look at the stages
    stages = list(Stage.objects.order_by("order"))
    # then the six default stages are there, in order, with their rules
    assert [s.name for s in stages] == ["Prospecting", "Qualification", "Proposal", "Negotiation", "Closed Won",
                                        "Closed Lost"]
    by_name = {s.name: s for s in stages}
    assert by_name["Qualification"].required_fields == ["budget", "need"]
    assert by_name["Proposal"].required_fields == ["amount", "expected_close_date"]
    assert by_name["Closed Won"].is_won and by_name["Closed Won"].probability == 100
    assert by_name["Closed Lost"].is_lost and by_name["Closed Lost"].required_fields == ["lost_reason"]


def test_ensure_default_stages_is_idempotent(stages):
    before = Stage.objects.count()
    services.ensure_default_stages()
    assert Stage.objects.count() == before == 6


def test_admin_creates_a_stage_with_required_fields(admin_user, stages):
    stage = services.stage_create(actor=admin_user, name="Demo", probability=40,
                                  required_fields=["next_step", "contact", "next_step"])
    assert stage.required_fields == ["contact", "next_step"]
    assert stage.order > stages["Closed Lost"].order
    assert AuditEvent.objects.filter(object_type="pipeline.stage", object_id=str(stage.pk), action="create").exists()


@pytest.mark.parametrize("fields, field", [
    ({"required_fields": ["owner"]}, "required_fields"),
    ({"probability": 101}, "probability"),
    ({"probability": -1}, "probability"),
    ({"is_won": True, "is_lost": True}, "is_lost"),
    ({"name": ""}, "name"),
    ({"name": "x" * 101}, "name"),
    ({"name": "prospecting"}, "name"),
])
def test_stage_create_refuses_bad_input(admin_user, stages, fields, field):
    values = {"name": "New", "probability": 10, **fields}
    with pytest.raises(ValidationFailed) as exc:
        services.stage_create(actor=admin_user, **values)
    assert field in [e.field for e in exc.value.errors]
    assert Stage.objects.count() == 6


def test_only_admins_configure_stages(manager, rep, stages):
    for user in (manager, rep):
        with pytest.raises(PermissionDenied):
            services.stage_create(actor=user, name="Nope", probability=10)
        with pytest.raises(PermissionDenied):
            services.stage_update(stage=stages["Proposal"], actor=user, probability=60)


def test_stage_update_and_reorder(admin_user, stages):
    services.stage_update(stage=stages["Proposal"], actor=admin_user, probability=60, required_fields=["amount"])
    stages["Proposal"].refresh_from_db()
    assert stages["Proposal"].probability == 60 and stages["Proposal"].required_fields == ["amount"]
    order = [stages[n].pk for n in ("Qualification", "Prospecting")]
    services.stage_reorder(actor=admin_user, stage_ids=order)
    names = list(Stage.objects.order_by("order").values_list("name", flat=True))
    assert names[:3] == ["Qualification", "Prospecting", "Proposal"]
    with pytest.raises(ValidationFailed):
        services.stage_reorder(actor=admin_user, stage_ids=[999999])


def test_a_stage_with_open_deals_cannot_be_deactivated(admin_user, stages):
    OpportunityFactory(stage=stages["Negotiation"])
    with pytest.raises(Conflict):
        services.stage_update(stage=stages["Negotiation"], actor=admin_user, is_active=False)
    assert Stage.objects.get(pk=stages["Negotiation"].pk).is_active
