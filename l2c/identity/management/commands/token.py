from django.core.management.base import BaseCommand, CommandError

from l2c.core.errors import DomainError
from l2c.identity import services
from l2c.identity.models import ApiToken


class Command(BaseCommand):
    help = "Manage API tokens: `token create USER [--name N]`, `token list USER`, `token revoke PREFIX`."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="create a token and print it once")
        create.add_argument("username")
        create.add_argument("--name", default="CLI token")
        listing = sub.add_parser("list", help="list a user's tokens (never the secrets)")
        listing.add_argument("username")
        revoke = sub.add_parser("revoke", help="revoke a token by its prefix")
        revoke.add_argument("prefix")

    def handle(self, *args, **opts):
        try:
            if opts["action"] == "create":
                user = services.user_get(opts["username"])
                _, raw = services.token_create(user=user, name=opts["name"], actor=None)
                self.stdout.write(raw)
                self.stderr.write("Store this token now: it is shown only once.")
            elif opts["action"] == "list":
                user = services.user_get(opts["username"])
                for token in user.api_tokens.all():
                    state = "active" if token.is_active else ("revoked" if token.revoked_at else "expired")
                    self.stdout.write(f"{token.prefix}\t{token.name}\t{state}\t{token.created_at:%Y-%m-%d %H:%M}")
            else:
                token = ApiToken.objects.filter(prefix=opts["prefix"]).first()
                if token is None:
                    raise CommandError(f"no token with prefix {opts['prefix']!r}")
                services.token_revoke(token=token, actor=None)
                self.stdout.write(f"revoked {token.prefix}")
        except DomainError as exc:
            raise CommandError(str(exc)) from exc
