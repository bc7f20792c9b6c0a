"""Create the history schema on first open, or migrate an older one, inside one locked transaction.

Known versions:
- 1: the first release's sqlite3 index: `runs(run_id, started_at, finished_at, status, config_path,
  config_sha256, results_path)` and `tags(tag, run_id)`. Migrated by reading each run's results.json
  (migrated itself by reports.json_report.load_run) into the version-2 tables; a run whose file
  is gone keeps its summary row; its tags follow it.
- 2: audit.store.schema.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import Connection, inspect, select, text

from audit.errors import AuditUserError
from audit.store import schema as S
from audit.store.codec import now_iso
from audit.store.engine import StoreError

log = logging.getLogger("audit.store")

LEGACY_RUNS, LEGACY_TAGS = "runs", "tags"
PG_SCHEMA_LOCK = 726_150_011     # pg_advisory_xact_lock key: one schema set-up at a time


def _lock(conn: Connection) -> None:
    """PostgreSQL: serialise concurrent first opens (SQLite already holds BEGIN IMMEDIATE's lock)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_SCHEMA_LOCK})


def stored_version(conn: Connection) -> int | None:
    """The schema version of the database, 1 for the legacy index, None when it is empty."""
    names = set(inspect(conn).get_table_names())
    if S.meta.name in names:
        row = conn.execute(select(S.meta.c.value).where(S.meta.c.key == S.META_VERSION_KEY)).first()
        return int(row[0]) if row else None
    if LEGACY_RUNS in names:
        columns = {c["name"] for c in inspect(conn).get_columns(LEGACY_RUNS)}
        if "results_path" in columns:
            return 1
    return None


def ensure_schema(conn: Connection, where: str) -> int:
    """Create or migrate to the current schema; return the version found before (0 = new)."""
    _lock(conn)
    version = stored_version(conn)
    if version is not None and version > S.SCHEMA_VERSION:
        raise StoreError(f"run history {where} has schema version {version}, newer than this rai-audit "
                         f"reads ({S.SCHEMA_VERSION}); upgrade rai-audit")
    if version == S.SCHEMA_VERSION:
        return version
    S.metadata.create_all(conn)
    if version == 1:
        migrate_v1(conn, where)
    conn.execute(S.meta.delete().where(S.meta.c.key == S.META_VERSION_KEY))
    conn.execute(S.meta.insert().values(key=S.META_VERSION_KEY, value=str(S.SCHEMA_VERSION)))
    return version or 0


def migrate_v1(conn: Connection, where: str) -> None:
    """Copy every legacy run (from its results.json when the file is still there) and its tags."""
    from audit.store.writer import insert_run
    from audit.results.load import load_run

    legacy = conn.execute(text(f"SELECT run_id, started_at, finished_at, status, config_path, config_sha256, "
                               f"results_path FROM {LEGACY_RUNS}")).mappings().all()
    tags = conn.execute(text(f"SELECT tag, run_id FROM {LEGACY_TAGS}")).all() \
        if LEGACY_TAGS in inspect(conn).get_table_names() else []
    imported = 0
    for row in legacy:
        path = row["results_path"]
        try:
            run = load_run(Path(path)) if path and Path(path).is_file() else None
        except AuditUserError as exc:
            log.warning("migrating %s: run %s: %s; keeping its summary only", where, row["run_id"], exc)
            run = None
        if run is not None and run.run_id == row["run_id"]:
            insert_run(conn, run, path)
            imported += 1
        else:
            conn.execute(S.runs.insert().values(
                run_id=row["run_id"], started_at=row["started_at"] or "", finished_at=row["finished_at"],
                recorded_at=now_iso(), status=row["status"] or "error", config_path=row["config_path"],
                config_sha256=row["config_sha256"], models="", results_path=path, provenance="{}",
                schema_version=None))
    for tag, run_id in tags:
        conn.execute(S.tags.insert().values(tag=tag, run_id=run_id, tagged_at=now_iso()))
    if LEGACY_TAGS in inspect(conn).get_table_names():
        conn.execute(text(f"DROP TABLE {LEGACY_TAGS}"))
    conn.execute(text(f"DROP TABLE {LEGACY_RUNS}"))
    log.warning("run history %s migrated from schema 1: %d of %d runs read in full from results.json",
                where, imported, len(legacy))
