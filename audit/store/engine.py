"""Connections to the run history: any SQLAlchemy URL, SQLite tuned for several writers.

SQLite (the default, one file): WAL journal (readers never block the writer), a 30 s busy
timeout, writes in `BEGIN IMMEDIATE` transactions (the write lock is taken up front, so two
writers cannot deadlock upgrading a read lock), and a retry with back-off when the database is
still locked. PostgreSQL (for a team): ordinary transactions, retried on serialisation failures
and deadlocks. A URL that cannot be reached is one clear StoreError (the CLI's exit code 2).
"""

from __future__ import annotations

import contextlib
import random
import time
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, OperationalError

from audit.errors import AuditUserError

BUSY_TIMEOUT_S = 30
RETRIES = 8
BACKOFF_S = 0.05
CONNECT_TIMEOUT_S = 10
WRITE_OPTION = "rai_write"
# Messages (SQLite) and SQLSTATEs (PostgreSQL) worth another try.
RETRY_MESSAGES = ("database is locked", "database is busy", "database table is locked")
RETRY_SQLSTATES = ("40001", "40P01")
T = TypeVar("T")


class StoreError(AuditUserError):
    """The run history cannot be opened or does not hold what was asked for (exit code 2)."""


def to_url(store: str | Path) -> str:
    """A SQLAlchemy URL (`postgresql+psycopg://...`, `sqlite:///...`) or a SQLite file path."""
    text = str(store)
    if "://" in text:
        return text
    return f"sqlite:///{Path(text).expanduser().resolve()}"


def display_url(url: str) -> str:
    """The URL with its password hidden (for messages and logs)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def _sqlite_events(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None      # SQLAlchemy's "begin" event issues BEGIN
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        write = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def make_engine(url: str) -> Engine:
    """An Engine for `url`; SQLite files get their folder created and the pragmas above."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"run history {url!r} is not a database URL or file path: {exc}") from None
    kwargs: dict[str, Any] = {"future": True}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            try:
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"run history {url}: cannot create its folder: {exc}") from None
        kwargs["connect_args"] = {"timeout": BUSY_TIMEOUT_S}
    elif parsed.get_backend_name() == "postgresql":
        kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_S}
        kwargs["pool_pre_ping"] = True
        if parsed.get_driver_name() in ("psycopg2", "") and "+" not in parsed.drivername:
            parsed = parsed.set(drivername="postgresql+psycopg")   # psycopg 3 is what is installed
    try:
        engine = create_engine(parsed, **kwargs)
    except (NoSuchModuleError, ArgumentError, ImportError) as exc:
        raise StoreError(f"run history {display_url(url)}: unsupported database: {exc}") from None
    if engine.dialect.name == "sqlite":
        _sqlite_events(engine)
    return engine


def _retryable(exc: DBAPIError) -> bool:
    text = str(exc.orig if exc.orig is not None else exc).lower()
    if any(m in text for m in RETRY_MESSAGES):
        return True
    return getattr(exc.orig, "sqlstate", None) in RETRY_SQLSTATES


def first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return (text.splitlines() or [type(exc).__name__])[0]


def with_retries(action: Callable[[], T], *, what: str, url: str) -> T:
    """Run `action` (one whole transaction), again after a back-off when the database is busy."""
    for attempt in range(RETRIES):
        try:
            return action()
        except DBAPIError as exc:
            if not _retryable(exc) or attempt == RETRIES - 1:
                if isinstance(exc, OperationalError):
                    raise StoreError(f"run history {display_url(url)}: {what} failed: {first_line(exc)}") from None
                raise
            time.sleep(BACKOFF_S * (2 ** attempt) * (0.5 + random.random()))
    raise AssertionError("unreachable")


@contextlib.contextmanager
def transaction(engine: Engine, *, write: bool) -> Iterator[Connection]:
    """One transaction; for a write on SQLite the write lock is taken when it begins."""
    with engine.connect() as connection:
        if write:
            connection = connection.execution_options(**{WRITE_OPTION: True})
        with connection.begin():
            yield connection
