"""Seal after commit: events get chain_seq (their place in the chain) and are chained after their transaction
commits. Existing events were chained in id order by the old writer: number them in that order, keep their
hashes (which do not cover chain_seq: AuditChainHead.legacy_seq marks them) and move the head to the end."""

from django.conf import settings
from django.db import migrations, models

GENESIS = "0" * 64


def number_existing_events(apps, schema_editor):
    AuditEvent = apps.get_model("core", "AuditEvent")
    AuditChainHead = apps.get_model("core", "AuditChainHead")
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # the append-only guard of the old schema refuses every UPDATE; post_migrate installs the new one
            cursor.execute("DROP TRIGGER IF EXISTS core_auditevent_append_only ON core_auditevent")
            cursor.execute(
                "UPDATE core_auditevent SET chain_seq = numbered.n FROM "
                "(SELECT id, ROW_NUMBER() OVER (ORDER BY id) AS n FROM core_auditevent) AS numbered "
                "WHERE core_auditevent.id = numbered.id"
            )
        else:  # portable to any SQLite Django supports (UPDATE ... FROM needs 3.33)
            ids = AuditEvent.objects.order_by("id").values_list("id", flat=True).iterator(chunk_size=10_000)
            cursor.executemany("UPDATE core_auditevent SET chain_seq = %s WHERE id = %s",
                               [(n, pk) for n, pk in enumerate(ids, start=1)])
    last = AuditEvent.objects.order_by("-id").first()
    head, created = AuditChainHead.objects.get_or_create(pk=1)
    head.seq = head.legacy_seq = AuditEvent.objects.count()
    if created and last is not None:
        head.last_event_id, head.last_hash = last.pk, last.hash
    # else: the old writer's last_hash stays, so a tail deleted before the upgrade is still reported
    head.save()


class Migration(migrations.Migration):

    dependencies = [
        ('core', '0003_action_labels'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='auditchainhead',
            name='legacy_seq',
            field=models.BigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='auditchainhead',
            name='seq',
            field=models.BigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='auditevent',
            name='chain_seq',
            field=models.BigIntegerField(blank=True, null=True, unique=True),
        ),
        migrations.RunPython(number_existing_events, migrations.RunPython.noop, elidable=False),
        migrations.AlterField(
            model_name='auditevent',
            name='hash',
            field=models.CharField(blank=True, max_length=64, null=True, unique=True),
        ),
        migrations.AlterField(
            model_name='auditevent',
            name='prev_hash',
            field=models.CharField(blank=True, max_length=64, null=True),
        ),
        migrations.AddIndex(
            model_name='auditevent',
            index=models.Index(condition=models.Q(('chain_seq__isnull', True)), fields=['id'], name='core_audit_unsealed'),
        ),
    ]
