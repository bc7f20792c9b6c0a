"""The command line: `rai-audit` / `run_audit.py` (main) and the run-history commands (history)."""

from audit.cli.app import main

__all__ = ["main"]
