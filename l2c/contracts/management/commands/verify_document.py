"""`l2c verify-document FILE`: check a signed PDF's signature and hash against L2C's signature records."""
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from l2c.contracts import signing


class Command(BaseCommand):
    help = ("Check a signed PDF: its PAdES signature, that it is signed by the company's certificate, that "
            "nothing changed after signing, and the signature record it belongs to. Exits 0 when the "
            "document is valid and matches a record, 1 otherwise, 2 when the file cannot be read.")

    requires_system_checks = []  # a verification must not depend on the rest of the configuration

    def add_arguments(self, parser):
        parser.add_argument("file", help="the signed PDF")

    def handle(self, *args, **options):
        path = options["file"]
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            raise CommandError(_("cannot read %(file)s: %(error)s") % {"file": path, "error": exc.strerror or exc},
                               returncode=2) from exc

        result = signing.verify_document(data)
        ok = result.valid and result.matches_record
        out = self.stdout
        out.write(_("File: %(file)s") % {"file": path})
        out.write(_("SHA-256: %(hash)s") % {"hash": result.sha256})
        verdict = _("VALID") if ok else _("NOT VALID")
        out.write((self.style.SUCCESS if ok else self.style.ERROR)(_("Verdict: %(verdict)s") % {"verdict": verdict}))
        out.write(_("Signature intact: %(answer)s") % {"answer": _("yes") if result.intact else _("no")})
        if result.signer:
            out.write(_("Signed by: %(subject)s") % {"subject": result.signer})
            out.write(_("Certificate SHA-256: %(hash)s") % {"hash": result.signer_fingerprint})
        if result.signed_at:
            out.write(_("Signing time: %(time)s") % {"time": result.signed_at.isoformat()})
        record = result.signature
        if record is not None:
            quote = record.quote
            contract = getattr(record, "contract", None)
            out.write(_("Record: signature #%(id)s on quote %(quote)s version %(version)s%(contract)s") % {
                "id": record.pk, "quote": quote.number, "version": quote.version,
                "contract": (_(", contract %(number)s") % {"number": contract.number}) if contract else ""})
            out.write(_("  Signer: %(name)s <%(email)s>") % {"name": record.signer_name,
                                                             "email": record.signer_email or "-"})
            out.write(_("  Signed at: %(time)s") % {"time": record.signed_at.isoformat()})
            out.write(_("  IP address: %(ip)s") % {"ip": record.ip_address or "-"})
            out.write(_("  Consent version: %(version)s") % {"version": record.consent_version})
        for problem in result.problems:
            out.write(self.style.WARNING(_("Problem: %(problem)s") % {"problem": problem}))
        if not ok:
            raise CommandError(_("not verified: see the problems listed above"), returncode=1)
