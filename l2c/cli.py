"""The `l2c` console command: L2C's own commands plus every Django management command.

`l2c verify-audit` runs the `verify_audit` management command; dashes and underscores are the same.
"""
from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "l2c.settings")
    if argv and not argv[0].startswith("-"):
        argv[0] = argv[0].replace("-", "_")
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(["l2c", *argv])
    except SystemExit as exc:  # management commands exit via SystemExit with their code
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
