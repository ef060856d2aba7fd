"""`l2c worker`: a Celery worker for production (replaces this process with `celery -A l2c worker`).

Run as many as you like on as many machines as you like; pass `--beat` to exactly ONE of them (or run
`celery -A l2c beat` once), so scheduled jobs fire once.
"""
from __future__ import annotations

import os
import sys

from django.core.management.base import BaseCommand

from .serve import celery_worker_argv, ensure_broker_folders, positive_int


class Command(BaseCommand):
    help = "Run a Celery worker (production). --beat also runs the scheduler: use it on one worker only."
    requires_system_checks = "__all__"

    def add_arguments(self, parser):
        parser.add_argument("--concurrency", type=positive_int, default=None,
                            help="worker processes (default: the number of CPUs)")
        parser.add_argument("--beat", action="store_true",
                            help="also run the beat scheduler in this worker (exactly one in a cluster)")
        parser.add_argument("--loglevel", default="info", choices=["debug", "info", "warning", "error"])

    def argv(self, *, concurrency: int | None, beat: bool, loglevel: str) -> list[str]:
        return celery_worker_argv(concurrency=concurrency or os.cpu_count() or 1, beat=beat, loglevel=loglevel)

    def handle(self, *args, concurrency, beat, loglevel, **options):
        ensure_broker_folders()
        argv = self.argv(concurrency=concurrency, beat=beat, loglevel=loglevel)
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(argv[0], argv)
