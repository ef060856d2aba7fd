import getpass

from django.core.management.base import BaseCommand, CommandError

from l2c.core.errors import DomainError
from l2c.core.visibility import Role
from l2c.identity import services
from l2c.identity.models import Team


class Command(BaseCommand):
    help = "Create a user. Prompts for the password unless --password or L2C_PASSWORD is given."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", choices=Role.values, default=Role.REP)
        parser.add_argument("--team", help="team name (created if missing)")
        parser.add_argument("--email", default="")
        parser.add_argument("--first-name", default="")
        parser.add_argument("--last-name", default="")
        parser.add_argument("--password", help="password (avoid on shared machines: it shows in the process list)")

    def handle(self, *args, **opts):
        import os

        password = opts["password"] or os.environ.get("L2C_PASSWORD")
        if not password:
            if not self.stdin_is_tty():
                raise CommandError("no password: pass --password, set L2C_PASSWORD, or run in a terminal")
            password = getpass.getpass("Password: ")
            if password != getpass.getpass("Password (again): "):
                raise CommandError("the passwords differ")
        team = None
        if opts["team"]:
            team, _ = Team.objects.get_or_create(name=opts["team"])
        try:
            user = services.user_create(
                username=opts["username"], password=password, role=opts["role"], team=team,
                email=opts["email"], first_name=opts["first_name"], last_name=opts["last_name"], actor=None,
            )
        except DomainError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"created user {user.username} ({user.get_role_display()})"))

    @staticmethod
    def stdin_is_tty() -> bool:
        import sys

        return sys.stdin.isatty()
