"""Default tax rates and discount approval rules; both are edited in the UI afterwards."""
from decimal import Decimal

from django.db import migrations

TAX_RATES = [
    # name, country, category, rate
    ("China VAT 13% (goods)", "CN", "standard", "13"),
    ("China VAT 6% (services)", "CN", "services", "6"),
    ("China VAT 6% (software subscriptions)", "CN", "subscription", "6"),
    ("China export 0%", "CN", "zero", "0"),
    ("UK VAT 20%", "GB", "standard", "20"),
    ("UK VAT 20% (services)", "GB", "services", "20"),
    ("UK VAT 20% (subscriptions)", "GB", "subscription", "20"),
    ("UK zero-rated 0%", "GB", "zero", "0"),
]

RULES = [
    # name, measure, threshold, roles, level
    ("Discount over 15% needs a sales manager", "overall", "15", ["manager", "admin"], 1),
    ("Discount over 30% needs finance or an admin", "overall", "30", ["finance", "admin"], 2),
]


def seed(apps, schema_editor):
    TaxRate = apps.get_model("quoting", "TaxRate")
    ApprovalRule = apps.get_model("quoting", "ApprovalRule")
    if not TaxRate.objects.exists():
        for name, country, category, rate in TAX_RATES:
            TaxRate.objects.create(name=name, country=country, tax_category=category, rate=Decimal(rate))
    if not ApprovalRule.objects.exists():
        for name, measure, threshold, roles, level in RULES:
            ApprovalRule.objects.create(name=name, measure=measure, threshold_percent=Decimal(threshold),
                                        approver_roles=roles, level=level)


class Migration(migrations.Migration):
    dependencies = [("quoting", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
