"""`l2c rebuild-lead-flow`: recompute the per-lead flow summary behind the funnel, cycle-time and attribution
reports (the worker does it nightly; run it after changing data with raw SQL or restoring a backup)."""
import time

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from l2c.analytics import leadflow


class Command(BaseCommand):
    help = ("Recompute every lead's flow summary (furthest funnel step, first cash, attributed campaigns and "
            "amounts) used by the funnel, cycle-time and attribution reports.")

    def handle(self, *args, **options):
        started = time.perf_counter()
        verbosity = options["verbosity"]

        def progress(done, total):
            if verbosity > 1:
                self.stdout.write(_("%(done)s of %(total)s lead ids") % {"done": done, "total": total})

        written = leadflow.rebuild_all(progress=progress)
        pending = leadflow.drain()
        self.stdout.write(self.style.SUCCESS(
            _("Lead flow rebuilt: %(rows)s rows in %(seconds).1f s (%(marks)s stale marks cleared).")
            % {"rows": written, "seconds": time.perf_counter() - started, "marks": pending}))
