"""`l2c serve`: L2C on one machine — gunicorn (static files by WhiteNoise) plus a Celery worker with
an embedded beat, on the broker from settings (by default kombu's filesystem transport, no server).

Ctrl-C or SIGTERM stops everything; if one child dies, the others are stopped and the command
exits non-zero. For several machines run `gunicorn l2c.wsgi` and `l2c worker` separately instead.
"""
from __future__ import annotations

import argparse
import os
import socket
import sys
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from l2c.core.supervisor import Child, Supervisor


def positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from exc
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} must be at least 1")
    return number


def port_number(value: str) -> int:
    number = positive_int(value)
    if number > 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a TCP port (1-65535)")
    return number


def ensure_broker_folders() -> list[Path]:
    """Create the folders of kombu's filesystem transport (the embedded broker), if it is in use."""
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}) or {}
    if not str(settings.CELERY_BROKER_URL).startswith("filesystem://"):
        return []
    folders = []
    for key in ("data_folder_in", "data_folder_out", "processed_folder"):
        if options.get(key):
            folder = Path(options[key])
            folder.mkdir(parents=True, exist_ok=True)
            folders.append(folder)
    return folders


def bind_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def gunicorn_argv(*, host: str, port: int, workers: int) -> list[str]:
    return [
        sys.executable, "-m", "gunicorn", "l2c.wsgi:application",
        "--bind", bind_address(host, port),
        "--workers", str(workers),
        # Threaded workers: a long export streams in one thread while the others keep serving, and
        # the worker's heartbeat (--timeout) runs apart from the requests, so it is not cut off.
        "--worker-class", "gthread",
        "--threads", "4",
        "--access-logfile", "-",
        "--error-logfile", "-",
        "--graceful-timeout", "10",
        "--timeout", "60",
    ]


def celery_worker_argv(*, concurrency: int = 1, beat: bool = True, loglevel: str = "info") -> list[str]:
    argv = [sys.executable, "-m", "celery", "-A", "l2c", "worker", "--concurrency", str(concurrency),
            "-l", loglevel]
    if beat:
        argv += ["-B", "--schedule", str(settings.CELERY_BEAT_SCHEDULE_FILENAME)]
    return argv


def demo_logins() -> list[tuple[str, str]]:
    """(user name, role) of the demo users that exist, in the documented order."""
    from l2c.demo import DEMO_USERS
    from l2c.identity.models import User

    shown = [u.username for u in DEMO_USERS if u.shown]
    present = dict(User.objects.filter(username__in=shown).values_list("username", "role"))
    return [(name, present[name]) for name in shown if name in present]


class Command(BaseCommand):
    help = ("Run L2C on this machine: gunicorn (static files via WhiteNoise) plus a Celery worker with beat. "
            "Ctrl-C stops all of it.")
    requires_system_checks = "__all__"

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
        parser.add_argument("--port", type=port_number, default=8000, help="TCP port (default 8000)")
        parser.add_argument("--workers", type=positive_int, default=None,
                            help="gunicorn web processes (default $WEB_CONCURRENCY or 2)")
        parser.add_argument("--no-worker", action="store_true",
                            help="web only: do not start the Celery worker and beat")

    def build_children(self, *, host: str, port: int, workers: int, no_worker: bool) -> list[Child]:
        children = [Child("web", gunicorn_argv(host=host, port=port, workers=workers))]
        if not no_worker:
            children.append(Child("worker", celery_worker_argv(concurrency=1, beat=True)))
        return children

    def handle(self, *args, host, port, workers, no_worker, **options):
        workers = workers or self.default_workers()
        self._warn_unapplied_migrations()
        call_command("collectstatic", interactive=False, verbosity=0)
        if not no_worker:
            ensure_broker_folders()
        if self._port_in_use(host, port):
            raise CommandError(f"{bind_address(host, port)} is already in use: stop the other server or pick --port")
        logins = self._logins_banner()
        connections.close_all()  # the children open their own connections

        supervisor = Supervisor(self.build_children(host=host, port=port, workers=workers, no_worker=no_worker),
                                log=lambda m: self.stderr.write(f"l2c serve: {m}"))
        announced = False

        def announce_when_ready():
            nonlocal announced
            if announced or not self._port_in_use(host, port):
                return
            announced = True
            shown_host = f"[{host}]" if ":" in host else host
            if host in ("0.0.0.0", "::"):
                shown_host = "127.0.0.1"
            self.stdout.write(self.style.SUCCESS(f"\nL2C is running at http://{shown_host}:{port}/"))
            if logins:
                self.stdout.write(logins)
            self.stdout.write("Press Ctrl-C to stop.\n")
            self.stdout.flush()

        supervisor.install_signal_handlers()
        try:
            supervisor.start()
        except OSError as exc:
            supervisor.stop_all()
            raise CommandError(f"could not start a child process: {exc}") from exc
        code = supervisor.watch(on_tick=announce_when_ready)
        if code:
            raise CommandError("a child process failed; L2C stopped", returncode=code)
        self.stdout.write("L2C stopped.")

    @staticmethod
    def default_workers() -> int:
        value = os.environ.get("WEB_CONCURRENCY") or "2"
        try:
            return positive_int(value)
        except argparse.ArgumentTypeError as exc:
            raise CommandError(f"WEB_CONCURRENCY: {exc}") from exc

    def _logins_banner(self) -> str:
        try:
            logins = demo_logins()
        except Exception:  # noqa: BLE001 - a missing table must not stop the server from starting
            return ""
        if not logins:
            return ""
        names = ", ".join(f"{name} ({role})" for name, role in logins)
        return f"Demo log-ins (password: demo): {names}"

    def _warn_unapplied_migrations(self) -> None:
        from django.db.migrations.executor import MigrationExecutor

        executor = MigrationExecutor(connections["default"])
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if plan:
            self.stderr.write(self.style.WARNING(
                f"{len(plan)} migration(s) are not applied: run `l2c migrate` first."))

    @staticmethod
    def _port_in_use(host: str, port: int) -> bool:
        target = "127.0.0.1" if host in ("0.0.0.0", "") else ("::1" if host == "::" else host)
        try:
            with socket.create_connection((target, port), timeout=0.5):
                return True
        except OSError:
            return False
