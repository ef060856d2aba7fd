"""The chart of accounts and the journals that the postings of billing and revenue need (DESIGN.md,
"Ledger postings"). Other apps code against these account codes; users may rename or add accounts."""

from django.db import migrations

ACCOUNTS = [
    # code, name, type, normal balance, is_control
    ("1000", "Bank", "asset", "debit", False),
    ("1100", "Accounts receivable", "asset", "debit", True),
    ("1150", "Contract asset (unbilled revenue)", "asset", "debit", False),
    ("2100", "Deferred revenue", "liability", "credit", False),
    ("2200", "Tax payable", "liability", "credit", False),
    ("2300", "Customer credits (unapplied cash)", "liability", "credit", False),
    ("3000", "Retained earnings", "equity", "credit", False),
    ("4000", "Revenue", "revenue", "credit", False),
    ("6100", "Bad-debt expense", "expense", "debit", False),
    ("7100", "Realised FX gain", "revenue", "credit", False),
    ("7200", "Realised FX loss", "expense", "debit", False),
]

JOURNALS = [
    ("SALES", "Sales journal"),
    ("CASH", "Cash journal"),
    ("GENERAL", "General journal"),
    ("REVENUE", "Revenue journal"),
]


def seed(apps, schema_editor):
    LedgerAccount = apps.get_model("ledger", "LedgerAccount")
    Journal = apps.get_model("ledger", "Journal")
    for code, name, type_, normal, control in ACCOUNTS:
        LedgerAccount.objects.get_or_create(code=code, defaults={
            "name": name, "type": type_, "normal_balance": normal, "is_control": control})
    for code, name in JOURNALS:
        Journal.objects.get_or_create(code=code, defaults={"name": name})


class Migration(migrations.Migration):

    dependencies = [("ledger", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
