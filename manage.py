#!/usr/bin/env python
"""Django's command-line utility for administrative tasks (the `l2c` command does the same)."""
import sys

if __name__ == "__main__":
    from l2c.cli import main

    sys.exit(main(sys.argv[1:]))
