"""The three shipped dunning levels: a friendly reminder at 7 days, a firm one at 21, a final notice at 45.

The texts are templates (Django template language, see docs/receivables.md); finance edits them on the
dunning page."""
from django.db import migrations

LEVELS = [
    (7, "Friendly reminder", "Payment reminder: {{ count }} overdue invoice(s) from {{ company }}",
     "This is a friendly reminder that the invoices below are past their due date. If you have already paid, "
     "thank you, and please ignore this message."),
    (21, "Firm reminder", "Second reminder: {{ count }} overdue invoice(s) from {{ company }}",
     "The invoices below are now more than three weeks overdue. Please arrange payment within 7 days or let "
     "us know if anything is in question."),
    (45, "Final notice", "Final notice: {{ count }} overdue invoice(s) from {{ company }}",
     "Despite our earlier reminders the invoices below remain unpaid. Please pay the outstanding balance "
     "within 7 days; otherwise we may suspend service and pass the debt to collection."),
]


def seed(apps, schema_editor):
    DunningLevel = apps.get_model("receivables", "DunningLevel")
    for days, name, subject, body in LEVELS:
        DunningLevel.objects.get_or_create(days_overdue=days, defaults={
            "name": name, "email_subject": subject, "email_body": body, "active": True})


def unseed(apps, schema_editor):
    DunningLevel = apps.get_model("receivables", "DunningLevel")
    DunningLevel.objects.filter(days_overdue__in=[row[0] for row in LEVELS], events__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("receivables", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
