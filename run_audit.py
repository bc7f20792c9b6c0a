#!/usr/bin/env python3
"""Entry script: `python run_audit.py examples/default.yaml --out runs/default` (see --help)."""

import sys

from audit.cli.app import main

if __name__ == "__main__":
    sys.exit(main())
