"""Fixtures of the sequence services, API, pages and report tests: an e-mail template, leads with consent
(owned by `rep` unless told otherwise) and an active three-step sequence. Import them into a test module."""
from __future__ import annotations

import pytest
from django.utils import timezone

from l2c.nurture import services as nurture_services
from l2c.nurture.sequences import services


@pytest.fixture
def welcome(manager):
    return nurture_services.template_create(actor=manager, name="Welcome", versions=[
        {"language": "en", "subject": "Hi {{ lead.first_name }}", "html": "<p>Hi</p>", "text": ""}])


@pytest.fixture
def make_lead(rep):
    from l2c.leads.models import Lead

    counter = {"n": 0}

    def make(**fields):
        counter["n"] += 1
        values = {"first_name": "Jane", "last_name": f"Doe {counter['n']}", "email": f"jane{counter['n']}@example.com",
                  "owner": rep, "consent_basis": "consent", "consent_at": timezone.now(), **fields}
        return Lead.objects.create(**values)

    return make


def steps_for(template) -> list[dict]:
    return [{"kind": "email", "template": template.pk},
            {"kind": "wait", "wait_days": 2},
            {"kind": "email", "template": template.pk}]


@pytest.fixture
def active_sequence(manager, welcome):
    sequence = services.sequence_create(actor=manager, name="Onboarding", steps=steps_for(welcome))
    return services.sequence_activate(actor=manager, sequence=sequence)
