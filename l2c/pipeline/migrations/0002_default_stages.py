"""Seed the default sales stages so a fresh database has a working pipeline."""
from django.db import migrations

DEFAULT_STAGES = [
    {"name": "Prospecting", "order": 10, "probability": 10, "required_fields": [], "expected_days": 14},
    {"name": "Qualification", "order": 20, "probability": 20, "required_fields": ["budget", "need"],
     "expected_days": 14},
    {"name": "Proposal", "order": 30, "probability": 50, "required_fields": ["amount", "expected_close_date"],
     "expected_days": 21},
    {"name": "Negotiation", "order": 40, "probability": 75, "required_fields": [], "expected_days": 21},
    {"name": "Closed Won", "order": 50, "probability": 100, "is_won": True, "required_fields": []},
    {"name": "Closed Lost", "order": 60, "probability": 0, "is_lost": True, "required_fields": ["lost_reason"]},
]


def seed(apps, schema_editor):
    Stage = apps.get_model("pipeline", "Stage")
    if Stage.objects.exists():  # an existing installation keeps its own stages
        return
    for spec in DEFAULT_STAGES:
        Stage.objects.create(**spec)


class Migration(migrations.Migration):
    dependencies = [("pipeline", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
