"""Read a results.json back safely: validate it, migrate older schema versions, name the file in every error."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from audit.errors import DataError
from audit.results.migrate import MigrationError, major, upgrade
from audit.results.records import SCHEMA_VERSION
from audit.results.run import AuditRun

MAX_REPORTED_ERRORS = 5

READABLE_MAJORS = ("1", major(SCHEMA_VERSION))   # 1.x is migrated on reading


def _check_version(path: Path, data: dict) -> None:
    version = data.get("schema_version")
    if not isinstance(version, str) or not version:
        raise DataError(f"{path}: no 'schema_version' string; is this a rai-audit results.json?")
    if major(version) not in READABLE_MAJORS:
        newer = major(version).isdigit() and int(major(version)) > int(major(SCHEMA_VERSION))
        raise DataError(
            f"{path}: schema_version {version!r} cannot be read by this rai-audit (it reads "
            f"{', '.join(m + '.x' for m in READABLE_MAJORS)}); "
            + ("the file was written by a newer rai-audit: upgrade rai-audit to read it" if newer
               else "use the matching release")
        )


def _describe(error: ValidationError) -> str:
    issues = error.errors()
    lines = [f"{'.'.join(str(p) for p in issue['loc']) or '(top level)'}: {issue['msg']}" for issue in issues]
    shown = "; ".join(lines[:MAX_REPORTED_ERRORS])
    more = len(lines) - MAX_REPORTED_ERRORS
    return shown + (f"; and {more} more" if more > 0 else "")


def load_run(path: Path | str) -> AuditRun:
    """Read and validate a results.json; any problem is a DataError that names the file."""
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{path}: results file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read results file: {exc}") from None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object at the top level, found {type(data).__name__}")
    _check_version(path, data)
    try:
        return AuditRun.model_validate(upgrade(data))
    except MigrationError as exc:
        raise DataError(f"{path}: cannot migrate schema {data['schema_version']!r}: {exc}") from None
    except ValidationError as exc:
        raise DataError(f"{path}: not a valid audit run: {_describe(exc)}") from None
