"""The run-history tables (SQLAlchemy Core), one schema for SQLite and PostgreSQL.

Version 1 was the first release's bare sqlite3 index (runs with a results_path, tags); version 2
stores each run's provenance, every metric, the per-example outcomes paired tests need and the
findings, so history outlives moved folders and a metric's history is one query.
Bump SCHEMA_VERSION with a migration in audit.store.migrations for any change.
"""

from __future__ import annotations

from sqlalchemy import (Boolean, Column, Float, ForeignKey, Index, Integer, LargeBinary, MetaData, String, Table,
                        Text)

SCHEMA_VERSION = 2
META_VERSION_KEY = "schema_version"

metadata = MetaData()

meta = Table(
    "rai_meta", metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

runs = Table(
    "rai_runs", metadata,
    Column("run_id", String(64), primary_key=True),
    Column("started_at", String(40), nullable=False, default=""),
    Column("finished_at", String(40)),
    Column("recorded_at", String(40), nullable=False),
    Column("status", String(16), nullable=False),
    Column("config_path", Text),
    Column("config_sha256", String(64)),
    Column("protocol_sha256", String(64)),     # the comparable part of the config (audit.regression.comparability)
    Column("seed", Integer),
    Column("git_revision", String(80)),
    Column("device", Text),
    Column("models", Text, nullable=False, default=""),   # " name1 name2 " for filtering by model
    Column("results_path", Text),
    Column("provenance", Text, nullable=False),           # Provenance as JSON
    Column("schema_version", String(16)),                 # of the results it came from
)

suites = Table(
    "rai_suite_results", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(64), ForeignKey("rai_runs.run_id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("suite", String(128), nullable=False),
    Column("suite_version", String(32), nullable=False),
    Column("model", String(128), nullable=False),
    Column("status", String(16), nullable=False),
    Column("duration_s", Float),
    Column("error", Text),
)

metrics = Table(
    "rai_metrics", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(64), ForeignKey("rai_runs.run_id", ondelete="CASCADE"), nullable=False),
    Column("suite_position", Integer, nullable=False),
    Column("suite", String(128), nullable=False),
    Column("model", String(128), nullable=False),
    Column("name", String(256), nullable=False),
    Column("group_key", Text),                    # audit.results.group_key; NULL = the overall metric
    Column("condition", String(32), nullable=False),
    Column("value", Float),                       # NULL stands for NaN (SQLite has no NaN)
    Column("ci_low", Float),
    Column("ci_high", Float),
    Column("n", Integer, nullable=False),
    Column("ci_method", Text),
    Column("confidence", Float),
    Column("nan_share", Float),
    Column("higher_is_better", Boolean),
    Column("ideal", Float),
    Column("unit", String(64)),
    Column("description", Text),
)
Index("ix_rai_metrics_name_model", metrics.c.name, metrics.c.model)
Index("ix_rai_metrics_run", metrics.c.run_id)

outcomes = Table(
    "rai_outcomes", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(64), ForeignKey("rai_runs.run_id", ondelete="CASCADE"), nullable=False),
    Column("suite_position", Integer, nullable=False),
    Column("metric", String(256), nullable=False),
    Column("group_key", Text),
    Column("condition", String(32), nullable=False),
    Column("n", Integer, nullable=False),
    Column("example_ids", LargeBinary, nullable=False),   # zlib(JSON list of ids)
    Column("values", LargeBinary, nullable=False),        # zlib(float64 little-endian)
)
Index("ix_rai_outcomes_run", outcomes.c.run_id)

findings = Table(
    "rai_findings", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(64), ForeignKey("rai_runs.run_id", ondelete="CASCADE"), nullable=False),
    Column("suite_position", Integer),            # NULL: a run-level finding
    Column("severity", String(8), nullable=False),
    Column("gate", Text),
    Column("metric", String(256)),
    Column("message", Text, nullable=False),
    Column("evidence", Text),                     # JSON
)
Index("ix_rai_findings_run", findings.c.run_id)

tags = Table(
    "rai_tags", metadata,
    Column("tag", String(128), primary_key=True),
    Column("run_id", String(64), ForeignKey("rai_runs.run_id", ondelete="CASCADE"), nullable=False),
    Column("tagged_at", String(40), nullable=False),
)

# Deleting a run removes its rows from these, children first (no reliance on ON DELETE CASCADE,
# which SQLite honours only with a pragma).
CHILD_TABLES = (tags, findings, outcomes, metrics, suites)
