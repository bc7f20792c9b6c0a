"""Run history through SQLAlchemy: SQLite by default, any SQLAlchemy URL (PostgreSQL) for a team.

Each run's provenance, every metric, the per-example outcomes paired tests need and the findings
are stored (not only a path), so `compare` works after a run folder moved and a metric's history
is one query. Tags name baselines. The schema is versioned and created or migrated on open.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from sqlalchemy import and_, func, or_, select

from audit.errors import DataError
from audit.results import AuditRun, HistoryPoint, MetricHistory, Status
from audit.store import schema as S
from audit.store.codec import build_run, now_iso
from audit.store.engine import (StoreError, display_url, first_line, make_engine, to_url, transaction,
                                with_retries)
from audit.store.migrations import ensure_schema
from audit.store.writer import delete_run, insert_run

STORE_ENV = "RAI_AUDIT_STORE"
DEFAULT_STORE = Path("runs") / "history.sqlite"
HISTORY_FILE = "history.sqlite"
MIN_PREFIX = 4

__all__ = ["DEFAULT_STORE", "HISTORY_FILE", "RunStore", "RunSummary", "STORE_ENV", "StoreError", "default_store"]


def default_store(explicit: str | Path | None = None, configured: str | None = None,
                  config_dir: Path | None = None, fallback: Path = DEFAULT_STORE) -> str:
    """--store, else $RAI_AUDIT_STORE, else the config's `store:` (a path is relative to the config
    file), else `fallback`."""
    if explicit:
        return str(explicit)
    if os.environ.get(STORE_ENV):
        return os.environ[STORE_ENV]
    if configured:
        if "://" in configured or config_dir is None or Path(configured).expanduser().is_absolute():
            return configured
        return str(config_dir / configured)
    return str(fallback)


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    started_at: str
    finished_at: str | None
    status: str
    config_path: str | None
    config_sha256: str | None
    protocol_sha256: str | None
    seed: int | None
    models: tuple[str, ...]
    results_path: str | None
    tags: tuple[str, ...] = ()
    recorded_at: str = ""


@dataclass
class HistoryRow:
    run_id: str
    started_at: str
    status: str
    suite: str
    model: str
    group: str | None
    value: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    unit: str | None
    tags: list[str] = field(default_factory=list)


def _summary(row: Any, tags: Iterable[str]) -> RunSummary:
    return RunSummary(run_id=row.run_id, started_at=row.started_at, finished_at=row.finished_at, status=row.status,
                      config_path=row.config_path, config_sha256=row.config_sha256,
                      protocol_sha256=row.protocol_sha256, seed=row.seed, models=tuple(row.models.split()),
                      results_path=row.results_path, tags=tuple(sorted(tags)), recorded_at=row.recorded_at)


class RunStore:
    """The run history at `store` (a SQLAlchemy URL or a SQLite file path)."""

    def __init__(self, store: str | Path) -> None:
        self.url = to_url(store)
        self.where = display_url(self.url)
        self.engine = make_engine(self.url)
        try:
            self.previous_version = self._write(lambda conn: ensure_schema(conn, self.where), "opening")
        except StoreError:
            self.engine.dispose()
            raise
        except Exception as exc:  # noqa: BLE001 - any driver failure on open is "cannot be reached"
            self.engine.dispose()
            raise StoreError(f"run history {self.where} cannot be opened: {first_line(exc)}") from None

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> "RunStore":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # ---------------------------------------------------------------- transactions
    def _write(self, action: Any, what: str) -> Any:
        def attempt() -> Any:
            with transaction(self.engine, write=True) as conn:
                return action(conn)
        return with_retries(attempt, what=what, url=self.url)

    def _read(self, action: Any, what: str) -> Any:
        def attempt() -> Any:
            with transaction(self.engine, write=False) as conn:
                return action(conn)
        return with_retries(attempt, what=what, url=self.url)

    # ---------------------------------------------------------------- writing
    def record(self, run: AuditRun, results_path: Path | str | None = None) -> None:
        """Store `run` in one transaction (a re-recorded run id replaces the old rows, keeps its tags)."""
        path = str(Path(results_path).resolve()) if results_path else None
        self._write(lambda conn: insert_run(conn, run, path), f"recording run {run.run_id}")

    def tag(self, ref: str, tag: str) -> tuple[str, str | None]:
        """Point `tag` at the run `ref`; returns (run id, the run the tag pointed at before)."""
        if not tag.strip() or tag != tag.strip():
            raise StoreError(f"tag {tag!r} must be non-empty and without surrounding spaces")

        def action(conn: Any) -> tuple[str, str | None]:
            run_id = self._resolve_id(conn, ref)
            before = conn.execute(select(S.tags.c.run_id).where(S.tags.c.tag == tag)).scalar()
            conn.execute(S.tags.delete().where(S.tags.c.tag == tag))
            conn.execute(S.tags.insert().values(tag=tag, run_id=run_id, tagged_at=now_iso()))
            return run_id, before
        return self._write(action, f"tagging {ref}")

    def untag(self, tag: str) -> str:
        def action(conn: Any) -> str:
            run_id = conn.execute(select(S.tags.c.run_id).where(S.tags.c.tag == tag)).scalar()
            if run_id is None:
                raise StoreError(f"no tag {tag!r} in {self.where}")
            conn.execute(S.tags.delete().where(S.tags.c.tag == tag))
            return run_id
        return self._write(action, f"removing tag {tag}")

    def delete(self, ref: str) -> str:
        """Remove a run (and its tags) from the history; its folder on disk is left alone."""
        def action(conn: Any) -> str:
            run_id = self._resolve_id(conn, ref)
            delete_run(conn, run_id)
            return run_id
        return self._write(action, f"deleting {ref}")

    # ---------------------------------------------------------------- reading
    def _resolve_id(self, conn: Any, ref: str) -> str:
        """A run id from an id, a tag or a unique id prefix."""
        if conn.execute(select(S.runs.c.run_id).where(S.runs.c.run_id == ref)).first():
            return ref
        tagged = conn.execute(select(S.tags.c.run_id).where(S.tags.c.tag == ref)).scalar()
        if tagged:
            return tagged
        if len(ref) >= MIN_PREFIX:
            found = conn.execute(select(S.runs.c.run_id).where(S.runs.c.run_id.startswith(ref, autoescape=True))
                                 .limit(2)).scalars().all()
            if len(found) == 1:
                return found[0]
            if len(found) > 1:
                raise StoreError(f"{ref!r} is the prefix of several run ids in {self.where}; give more characters")
        known = conn.execute(select(S.tags.c.tag).order_by(S.tags.c.tag).limit(20)).scalars().all()
        hint = f" (tags: {', '.join(known)})" if known else " (no tags yet)"
        raise StoreError(f"no run or tag {ref!r} in {self.where}{hint}")

    def _tags(self, conn: Any, run_ids: list[str]) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        if run_ids:
            for tag, run_id in conn.execute(select(S.tags.c.tag, S.tags.c.run_id).where(S.tags.c.run_id.in_(run_ids))):
                found.setdefault(run_id, []).append(tag)
        return found

    def runs(self, *, model: str | None = None, config: str | None = None, tag: str | None = None,
             status: str | None = None, limit: int = 50) -> list[RunSummary]:
        """Newest first, filtered by model name, config (path part or sha256 prefix), tag, status."""
        query = select(S.runs)
        if model:
            query = query.where(S.runs.c.models.contains(f" {model} ", autoescape=True))
        if config:
            query = query.where(or_(S.runs.c.config_path.contains(config, autoescape=True),
                                    S.runs.c.config_sha256.startswith(config, autoescape=True)))
        if tag:
            query = query.where(S.runs.c.run_id.in_(select(S.tags.c.run_id).where(S.tags.c.tag == tag)))
        if status:
            query = query.where(S.runs.c.status == status)
        query = query.order_by(S.runs.c.started_at.desc(), S.runs.c.recorded_at.desc(), S.runs.c.run_id.desc()
                               ).limit(limit)

        def action(conn: Any) -> list[RunSummary]:
            rows = conn.execute(query).all()
            tags = self._tags(conn, [r.run_id for r in rows])
            return [_summary(r, tags.get(r.run_id, [])) for r in rows]
        return self._read(action, "listing runs")

    def summary(self, ref: str) -> RunSummary:
        def action(conn: Any) -> RunSummary:
            run_id = self._resolve_id(conn, ref)
            row = conn.execute(select(S.runs).where(S.runs.c.run_id == run_id)).one()
            return _summary(row, self._tags(conn, [run_id]).get(run_id, []))
        return self._read(action, f"reading {ref}")

    def load(self, ref: str) -> AuditRun:
        """The stored run (provenance, suites, metrics, outcomes, findings) for an id, tag or prefix."""
        def action(conn: Any) -> AuditRun:
            run_id = self._resolve_id(conn, ref)
            run = conn.execute(select(S.runs).where(S.runs.c.run_id == run_id)).mappings().one()
            if run["provenance"] == "{}":
                raise StoreError(f"run {run_id} in {self.where} was migrated without its results "
                                 f"({run['results_path']} was missing); it cannot be compared")
            # ordered by the insertion id: PostgreSQL, unlike SQLite, returns rows in no fixed order
            parts = [conn.execute(select(t).where(t.c.run_id == run_id).order_by(t.c.id)).mappings().all()
                     for t in (S.suites, S.metrics, S.outcomes, S.findings)]
            return build_run(run, *parts)
        return self._read(action, f"reading {ref}")

    def resolve(self, ref: str | Path) -> tuple[AuditRun, str]:
        """A run from a results.json path, a run folder, or a run id / tag / prefix in the store."""
        from audit.results.load import load_run

        path = Path(ref)
        if path.exists():
            file = path / "results.json" if path.is_dir() else path
            if not file.is_file():
                raise DataError(f"{path}: no results.json in this folder")
            return load_run(file), str(file)
        return self.load(str(ref)), str(ref)

    def history(self, metric: str, *, model: str | None = None, suite: str | None = None,
                group: str | None = None, condition: str = "original", limit: int | None = None) -> list[HistoryRow]:
        """A metric over the stored runs, oldest first: one query (metrics ⋈ runs ⟕ tags)."""
        m, r, t = S.metrics.c, S.runs.c, S.tags.c
        query = (select(r.run_id, r.started_at, r.status, m.suite, m.model, m.group_key, m.value, m.ci_low,
                        m.ci_high, m.n, m.unit, t.tag)
                 .select_from(S.metrics.join(S.runs, m.run_id == r.run_id)
                              .outerjoin(S.tags, t.run_id == r.run_id))
                 .where(m.name == metric, m.condition == condition))
        query = query.where(m.group_key.is_(None) if group is None else m.group_key == group)
        if model:
            query = query.where(m.model == model)
        if suite:
            query = query.where(m.suite == suite)
        if limit:
            recent = (select(r.run_id).where(r.run_id.in_(select(m.run_id).where(m.name == metric)))
                      .order_by(r.started_at.desc(), r.recorded_at.desc()).limit(limit))
            query = query.where(r.run_id.in_(recent))
        query = query.order_by(r.started_at, r.recorded_at, r.run_id, m.suite, m.model)
        rows = self._read(lambda conn: conn.execute(query).all(), f"reading the history of {metric}")
        out: dict[tuple[str, str, str], HistoryRow] = {}
        for row in rows:
            key = (row.run_id, row.suite, row.model)
            if key not in out:
                out[key] = HistoryRow(row.run_id, row.started_at, row.status, row.suite, row.model, row.group_key,
                                      row.value, row.ci_low, row.ci_high, row.n, row.unit)
            if row.tag:
                out[key].tags.append(row.tag)
        return list(out.values())

    def snapshot(self, run: AuditRun, metrics: list[tuple[str, str, str]], limit: int) -> list[MetricHistory]:
        """The history of `metrics` ((suite, model, name), overall, original condition) over the last
        `limit` stored runs of the same audit protocol as `run`, for the report's trend charts."""
        from audit.regression.comparability import protocol_sha256

        if not metrics or limit <= 0:
            return []
        m, r, t = S.metrics.c, S.runs.c, S.tags.c
        recent = (select(r.run_id).where(r.protocol_sha256 == protocol_sha256(run.provenance.config),
                                         r.status != Status.ERROR.value)
                  .order_by(r.started_at.desc(), r.recorded_at.desc(), r.run_id.desc()).limit(limit))
        wanted = or_(*[and_(m.suite == s, m.model == mo, m.name == n) for s, mo, n in metrics])
        query = (select(r.run_id, r.started_at, r.status, m.suite, m.model, m.name, m.value, m.ci_low, m.ci_high,
                        m.n, m.unit, m.higher_is_better, m.ideal, t.tag)
                 .select_from(S.metrics.join(S.runs, m.run_id == r.run_id).outerjoin(S.tags, t.run_id == r.run_id))
                 .where(r.run_id.in_(recent), m.group_key.is_(None), m.condition == "original", wanted)
                 .order_by(r.started_at, r.recorded_at, r.run_id))
        rows = self._read(lambda conn: conn.execute(query).all(), "reading the history snapshot")
        series: dict[tuple[str, str, str], MetricHistory] = {}
        points: dict[tuple[str, str, str, str], HistoryPoint] = {}
        for row in rows:
            key = (row.suite, row.model, row.name)
            history = series.setdefault(key, MetricHistory(suite=row.suite, model=row.model, metric=row.name,
                                                           unit=row.unit, higher_is_better=row.higher_is_better,
                                                           ideal=row.ideal))
            point_key = key + (row.run_id,)
            if point_key not in points and row.value is not None:
                points[point_key] = HistoryPoint(run_id=row.run_id, started_at=row.started_at, value=row.value,
                                                 ci_low=row.ci_low, ci_high=row.ci_high, n=row.n, status=row.status)
                history.points.append(points[point_key])
            if row.tag and point_key in points:
                points[point_key].tags.append(row.tag)
        return [series[k] for k in metrics if k in series]

    def count(self) -> int:
        return self._read(lambda conn: conn.execute(select(func.count()).select_from(S.runs)).scalar(), "counting")

