"""`l2c close-period 2026-11`: recognise the month's revenue, post it and lock the month (idempotent).
`l2c close-period 2026-11 --reopen --as admin --reason "…"` reopens it (admin only)."""
import json

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from l2c.core.errors import DomainError


class Command(BaseCommand):
    help = ("Close a month for revenue: post every contract's recognition for it into the ledger (journal REVENUE) "
            "and lock the month. Running it again for a closed month posts nothing. With --reopen (an admin, "
            "--as USERNAME, and --reason), reverse the month's revenue entries and unlock it.")

    def add_arguments(self, parser):
        parser.add_argument("period", help="the month, YYYY-MM (e.g. 2026-11)")
        parser.add_argument("--as", dest="username", default="",
                            help="the finance or admin user acting (default: the system, as the monthly job)")
        parser.add_argument("--reopen", action="store_true", help="reopen the month instead (admin only)")
        parser.add_argument("--reason", default="", help="why the month is reopened (required with --reopen)")
        parser.add_argument("--json", action="store_true", help="print the summary as JSON")

    def handle(self, *args, **options):
        from django.contrib.auth import get_user_model

        from l2c.revenue import close

        actor = None
        if options["username"]:
            actor = get_user_model().objects.filter(username=options["username"], is_active=True).first()
            if actor is None:
                raise CommandError(_("No active user %(name)r.") % {"name": options["username"]})
        try:
            if options["reopen"]:
                done = close.reopen_period(actor=actor, period=options["period"], reason=options["reason"])
                self.stdout.write(_("%(month)s reopened: its revenue entries were reversed and the month unlocked.")
                                  % {"month": done})
                return
            summary = close.close_period(actor=actor, period=options["period"])
        except DomainError as exc:
            raise CommandError(_describe(exc)) from exc
        if options["json"]:
            self.stdout.write(json.dumps(summary.as_dict()))
        elif summary.already_closed:
            self.stdout.write(_("%(month)s is already closed: nothing posted.") % {"month": summary.period})
        else:
            self.stdout.write(_("%(month)s closed: %(contracts)s contracts, %(entries)s journal entries (%(lines)s "
                                "lines), revenue %(revenue)s, in %(seconds).1f s; the month is locked.") % {
                "month": summary.period, "contracts": summary.contracts, "entries": summary.entries,
                "lines": summary.lines, "revenue": summary.revenue_base, "seconds": summary.seconds})


def _describe(exc: DomainError) -> str:
    errors = getattr(exc, "errors", None)
    if errors:
        return "; ".join(f"{e.field}: {e.message}" for e in errors)
    return str(getattr(exc, "message", "") or exc)
