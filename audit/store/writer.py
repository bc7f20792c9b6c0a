"""Insert and delete one run's rows (inside a transaction the caller holds)."""

from __future__ import annotations

from sqlalchemy import Connection

from audit.results import AuditRun
from audit.store import schema as S
from audit.store.codec import run_row, suite_rows


def delete_run(conn: Connection, run_id: str, *, keep_tags: bool = False) -> int:
    """Remove a run and its rows; returns how many runs were removed (0 or 1)."""
    for table in S.CHILD_TABLES:
        if keep_tags and table is S.tags:
            continue
        conn.execute(table.delete().where(table.c.run_id == run_id))
    return conn.execute(S.runs.delete().where(S.runs.c.run_id == run_id)).rowcount or 0


def insert_run(conn: Connection, run: AuditRun, results_path: str | None) -> None:
    """Write `run` (replacing an earlier record of the same id, keeping its tags)."""
    saved_tags = conn.execute(S.tags.select().where(S.tags.c.run_id == run.run_id)).mappings().all()
    delete_run(conn, run.run_id)
    conn.execute(S.runs.insert().values(**run_row(run, results_path)))
    rows = suite_rows(run)
    for table, key in ((S.suites, "suites"), (S.metrics, "metrics"), (S.outcomes, "outcomes"),
                       (S.findings, "findings")):
        if rows[key]:
            conn.execute(table.insert(), rows[key])
    if saved_tags:
        conn.execute(S.tags.insert(), [dict(r) for r in saved_tags])
