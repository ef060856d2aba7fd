"""`l2c import-leads FILE`: import leads from a CSV or XLSX file (the engine of the UI and API imports).

Exit status: 0 done (rows may have been rejected in valid_rows mode: see --errors); 1 the file, the
mapping or an option cannot be used (message on stderr, nothing written); 2 rows were rejected in
all_or_nothing mode (nothing written); 3 cancelled (Ctrl-C; nothing written).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from l2c.core.errors import DomainError
from l2c.leads.choices import ImportMode, OnDuplicate
from l2c.leads.imports.engine import ImportFileError, ImportOptions, run_import, sniff, write_error_report
from l2c.leads.imports.mapping import parse_mapping_text, suggest_mapping
from l2c.leads.imports.parsing import DELIMITER_NAMES
from l2c.leads.models import Campaign


class Command(BaseCommand):
    help = "Import leads from a CSV (UTF-8 or GBK; comma, semicolon or tab) or XLSX file."

    def add_arguments(self, parser):
        parser.add_argument("file", help="the CSV or XLSX file")
        parser.add_argument("--mapping", help='"Header=field,Header=field" or a JSON file {"Header": "field"}; '
                                              "merged over the suggested mapping (Header= ignores a column)")
        parser.add_argument("--dry-run", action="store_true", help="validate and count, write nothing")
        parser.add_argument("--on-duplicate", choices=OnDuplicate.values, default=OnDuplicate.SKIP)
        parser.add_argument("--mode", choices=ImportMode.values, default=ImportMode.VALID_ROWS)
        parser.add_argument("--owner", help="username of the new leads' owner (default: none, or --actor)")
        parser.add_argument("--actor", help="username the import runs as (default: the system)")
        parser.add_argument("--campaign", help="campaign name or id for the new leads")
        parser.add_argument("--source", help="source of the new leads (default: import)")
        parser.add_argument("--region", default="", help="phone region for numbers without + (e.g. CN)")
        parser.add_argument("--encoding", help="utf-8 or gb18030 (default: detected)")
        parser.add_argument("--delimiter", help=", ; tab (default: detected)")
        parser.add_argument("--errors", help="write the error report (CSV) to this file")

    def _user(self, username: str, option: str):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"{option}: no user called {username!r}")
        return user

    def _mapping(self, text: str | None, headers: list[str]) -> dict[str, str] | None:
        if not text:
            return None
        path = Path(text)
        if text.endswith(".json") or path.is_file():
            try:
                explicit = json.loads(path.read_text(encoding="utf-8-sig"))
            except (OSError, ValueError) as exc:
                raise CommandError(f"--mapping: cannot read {text}: {exc}") from exc
            if not isinstance(explicit, dict):
                raise CommandError('--mapping: the JSON file must hold an object {"Header": "field"}')
        else:
            explicit = parse_mapping_text(text)
        return {**suggest_mapping(headers), **{str(k): str(v) for k, v in explicit.items()}}

    def handle(self, *args, **options):
        actor = self._user(options["actor"], "--actor") if options["actor"] else None
        defaults: dict = {}
        if options["owner"]:
            defaults["owner"] = self._user(options["owner"], "--owner").pk
        elif actor is None:
            defaults["owner"] = None
        if options["campaign"]:
            value = options["campaign"]
            campaign = Campaign.objects.filter(name=value).first()
            if campaign is None and value.isdigit():
                campaign = Campaign.objects.filter(pk=int(value)).first()
            if campaign is None:
                raise CommandError(f"--campaign: no campaign called (or numbered) {value!r}")
            defaults["campaign"] = campaign.pk
        if options["source"]:
            defaults["source"] = options["source"]
        try:
            found = sniff(options["file"], encoding=options["encoding"], delimiter=options["delimiter"])
            mapping = self._mapping(options["mapping"], found.headers)
            used = mapping if mapping is not None else found.suggested_mapping
            delimiter = DELIMITER_NAMES.get(found.delimiter, found.delimiter)
            details = [found.file_format]
            if found.file_format == "csv":
                details += [found.encoding, f"{delimiter}-separated"]
            if found.rows_estimate is not None:
                details.append(f"about {found.rows_estimate:,} rows")
            self.stdout.write(f"File: {options['file']} ({', '.join(details)})")
            self.stdout.write("Mapping: " + (", ".join(f"{h} → {f}" for h, f in used.items() if f) or "(none)"))
            ignored = [h for h in found.headers if h and not used.get(h)]
            if ignored:
                self.stdout.write("Ignored columns: " + ", ".join(ignored))
            tty = sys.stdout.isatty()

            def progress(done: int, total: int) -> None:
                line = f"Progress: {done:,} / {total:,} rows" if total else f"Progress: {done:,} rows"
                self.stdout.write(line, ending="\r" if tty else "\n")

            result = run_import(
                options["file"],
                ImportOptions(mapping=mapping, dry_run=options["dry_run"], on_duplicate=options["on_duplicate"],
                              mode=options["mode"], default_region=options["region"], defaults=defaults,
                              encoding=options["encoding"], delimiter=options["delimiter"]),
                actor=actor, progress=progress)
        except ImportFileError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        except KeyboardInterrupt as exc:
            raise CommandError("cancelled: nothing was written", returncode=3) from exc
        if tty:
            self.stdout.write("")
        verb = "Would create" if result.dry_run else "Created"
        self.stdout.write(f"{verb} {result.created:,}, updated {result.updated:,}, skipped as duplicate "
                          f"{result.skipped:,}, rejected {result.rejected:,} of {result.rows_total:,} rows "
                          f"in {result.seconds:.1f} s" + (" (dry run: nothing written)" if result.dry_run else ""))
        if options["errors"]:
            with open(options["errors"], "wb") as fh:
                write_error_report(result.errors, fh)
            self.stdout.write(f"Error report: {options['errors']} ({len(result.errors):,} problems)")
        elif result.errors:
            for error in result.errors[:10]:
                self.stderr.write(f"row {error.row}, {error.column or '-'}: {error.reason} ({error.value!r})")
            if len(result.errors) > 10:
                self.stderr.write(f"... {len(result.errors) - 10:,} more problems (use --errors report.csv)")
        if result.rolled_back and options["mode"] == ImportMode.ALL_OR_NOTHING and result.rejected:
            raise CommandError(f"{result.rejected:,} rows rejected in all_or_nothing mode: nothing was written",
                               returncode=2)
