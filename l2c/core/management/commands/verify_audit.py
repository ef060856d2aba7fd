from django.core.management.base import BaseCommand, CommandError

from l2c.core import audit


class Command(BaseCommand):
    help = ("Verify the hash-chained audit trail; exits non-zero naming the first bad event. Events committed "
            "but not yet sealed into the chain are sealed first (unless --no-seal).")

    def add_arguments(self, parser):
        parser.add_argument(
            "--no-seal", action="store_true",
            help="write nothing: skip events not yet sealed (those unsealed for over 5 minutes are reported)",
        )

    def handle(self, *args, **options):
        count, problem = audit.verify_chain(seal=not options["no_seal"])
        if problem is not None:
            raise CommandError(f"audit chain broken at {problem} ({count} events in the trail)")
        self.stdout.write(self.style.SUCCESS(f"audit chain intact: {count} events verified"))
