from django.core.management.base import BaseCommand, CommandError

from l2c.core import audit


class Command(BaseCommand):
    help = "Verify the hash-chained audit trail; exits non-zero naming the first bad event."

    def handle(self, *args, **options):
        count, problem = audit.verify_chain()
        if problem is not None:
            raise CommandError(f"audit chain broken at {problem} ({count} events in the trail)")
        self.stdout.write(self.style.SUCCESS(f"audit chain intact: {count} events verified"))
