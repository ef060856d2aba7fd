"""The demo's nurture set-up: scoring rules that score the demo leads, templates in both languages and an
active welcome sequence; created once."""
import pytest

from l2c.demo.nurture import ensure_demo_nurture
from l2c.leads.models import Lead
from l2c.leads.tests.factories import LeadFactory
from l2c.nurture.models import EmailTemplate, Enrollment, ScoringRule, Sequence

pytestmark = pytest.mark.django_db


def test_demo_nurture_scores_leads_and_builds_an_active_sequence_once(admin_user):
    LeadFactory(title="CEO", company_size="201-1000", industry="Software", source="web_form")
    LeadFactory(title="Intern", company_size="1-10", industry="Retail", source="manual")

    created = ensure_demo_nurture({"admin": admin_user})
    again = ensure_demo_nurture({"admin": admin_user})

    assert created == {"scoring rules": 7, "e-mail templates": 2, "sequence": 1} and again == {}
    assert ScoringRule.objects.count() == 7 and EmailTemplate.objects.count() == 2
    assert sorted(Lead.objects.values_list("score", flat=True)) == [0, 60]
    sequence = Sequence.objects.get()
    assert sequence.status == "active" and sequence.steps.count() == 5
    assert {v.language for t in EmailTemplate.objects.all() for v in t.versions.all()} == {"en", "zh-hans"}
    assert not Enrollment.objects.exists()  # no mail server in the embedded default: nobody is enrolled
