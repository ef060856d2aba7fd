"""`l2c demo [--leads N] [--seed S] [--if-empty]`: load the demo data set (and the demo log-ins)."""
from __future__ import annotations

import argparse

from django.core.management.base import BaseCommand, CommandError

from l2c.demo import DEMO_PASSWORD, DEMO_USERNAMES, DEMO_USERS


def non_negative_int(value: str) -> int:
    try:
        number = int(value.replace("_", ""))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from exc
    if number < 0:
        raise argparse.ArgumentTypeError(f"{value!r} is negative")
    return number


class Command(BaseCommand):
    help = ("Load realistic demo data: teams, the demo users (password \"demo\"), stages, campaigns, leads in "
            "every status, accounts, contacts, opportunities in every stage with history, and activities. "
            "Deterministic for a seed; scales to --leads 1000000.")

    def add_arguments(self, parser):
        parser.add_argument("--leads", type=non_negative_int, default=500, help="number of leads (default 500)")
        parser.add_argument("--seed", type=int, default=1, help="random seed: the same seed gives the same data")
        parser.add_argument("--if-empty", action="store_true",
                            help="do nothing when the demo users exist or the database already holds leads "
                                 "(used by `make run` on every start)")

    def handle(self, *args, leads, seed, if_empty, **options):
        from django.db import connection

        from l2c.demo import generate
        from l2c.demo.order_to_cash import ensure_demo_order_to_cash
        from l2c.identity.models import User
        from l2c.leads.models import Lead

        if if_empty:
            if User.objects.filter(username__in=DEMO_USERNAMES).exists():
                self.stdout.write("demo data already loaded (the demo users exist); nothing to do")
                return
            if Lead.objects.exists():
                self.stdout.write("the database already holds leads; not adding demo data")
                return

        def progress(done, total):
            if total >= 50_000 and options.get("verbosity", 1) >= 1:
                self.stderr.write(f"  {done:,} / {total:,} leads")

        try:
            result = generate(leads=leads, seed=seed, progress=progress)
            contracts = 0
            # signed contracts, orders, invoices, payments, a bank statement and closed revenue months; its
            # event subscribers run after each commit, so not inside a test's transaction
            if leads and not connection.in_atomic_block:
                contracts = ensure_demo_order_to_cash(
                    {u.username: u for u in User.objects.filter(username__in=DEMO_USERNAMES)})
            nurture = {}
            if leads:
                from l2c.demo.nurture import ensure_demo_nurture

                nurture = ensure_demo_nurture({u.username: u for u in User.objects.filter(username__in=DEMO_USERNAMES)})
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        summary = ", ".join(f"{count:,} {label.split('.')[-1].lower()}" for label, count in result.counts.items())
        if contracts:
            summary += f", {contracts} signed contracts with orders, invoices, payments and closed revenue months"
        if nurture:
            summary += ", " + ", ".join(f"{count} {label}" for label, count in nurture.items())
        self.stdout.write(self.style.SUCCESS(
            f"demo data (seed {seed}) created in {result.seconds:.1f}s: {summary}; audit: {result.audit_mode} events"))
        shown = ", ".join(u.username for u in DEMO_USERS if u.shown)
        self.stdout.write(f"log in as {shown} (password: {DEMO_PASSWORD})")
