"""Build-once artifacts for the prepare step: staged builds, a manifest written last, a lock.

Why: preparing models takes minutes and can be killed half-way. Each artifact is built in a
hidden staging folder next to its final place; the manifest (recipe, file sizes and hashes) is
written last and atomically, then the folder is renamed into place. A folder without a
matching manifest is therefore never mistaken for a finished one, and is rebuilt.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

from audit.data.resolver import sha256_file
from audit.errors import AuditUserError
from audit.io import atomic_write_text

MANIFEST_NAME = "MANIFEST.json"
MANIFEST_FORMAT = 1
STAGING_PREFIX = ".staging-"
TRASH_PREFIX = ".trash-"
LOCK_NAME = ".prepare.lock"

Log = Callable[[str], None]
Builder = Callable[[Path, Log], dict[str, Any]]


class PrepareError(AuditUserError):
    """A prepare step could not produce a usable artifact (e.g. accuracy below the floor)."""


@dataclass(frozen=True)
class Artifact:
    """One folder the prepare step builds.

    `recipe` is everything the result depends on (JSON-able); a different recipe means the
    existing folder is stale. `build(folder, log)` fills an empty folder and returns facts
    worth keeping (accuracy, timings), stored in the manifest under `info`.
    """

    name: str
    recipe: dict[str, Any]
    build: Builder


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The folder's manifest, or None when it is missing or unreadable (= not complete)."""
    try:
        data = json.loads((Path(folder) / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _canonical(value: Any) -> Any:
    """JSON round trip, so tuples/ints/floats compare the way they were stored."""
    return json.loads(json.dumps(value, sort_keys=True))


def is_complete(folder: Path, recipe: dict[str, Any] | None = None) -> bool:
    """True when the manifest exists, every listed file has its recorded size, and (if given)
    the recipe matches. Sizes, not hashes: checking must stay cheap for 500 MB weights."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    if manifest is None or manifest.get("format") != MANIFEST_FORMAT:
        return False
    if recipe is not None and manifest.get("recipe") != _canonical(recipe):
        return False
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        return False
    for relative, entry in files.items():
        path = folder / relative
        if not path.is_file() or path.stat().st_size != entry.get("bytes"):
            return False
    return True


def _file_entries(folder: Path) -> dict[str, dict[str, Any]]:
    entries = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder).as_posix()
        if relative != MANIFEST_NAME:
            entries[relative] = {"bytes": path.stat().st_size, "sha256": sha256_file(path)}
    return entries


def write_manifest(folder: Path, artifact: Artifact, info: dict[str, Any]) -> dict[str, Any]:
    """Hash the folder's files and write the manifest atomically (the last step of a build)."""
    files = _file_entries(folder)
    if not files:
        raise PrepareError(f"{artifact.name}: the build wrote no files into {folder}")
    manifest = {
        "format": MANIFEST_FORMAT,
        "name": artifact.name,
        "recipe": _canonical(artifact.recipe),
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "files": files,
        "info": _canonical(info),
    }
    atomic_write_text(folder / MANIFEST_NAME, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def remove_leftovers(prepared_dir: Path, name: str) -> list[Path]:
    """Delete staging/trash folders that a killed run left behind for `name`."""
    removed = []
    for prefix in (STAGING_PREFIX, TRASH_PREFIX):
        for path in Path(prepared_dir).glob(f"{prefix}{name}-*"):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _make_readable(folder: Path) -> None:
    """mkdtemp/mkstemp create owner-only folders and files; a shared cache must be readable."""
    folder.chmod(0o755)
    for path in folder.rglob("*"):
        path.chmod(path.stat().st_mode | (0o055 if path.is_dir() else 0o044))


def _swap_into_place(staging: Path, final: Path) -> None:
    """Replace `final` by `staging`; the old folder goes to a trash name first, then away."""
    trash = None
    if final.exists():
        trash = Path(tempfile.mkdtemp(dir=final.parent, prefix=f"{TRASH_PREFIX}{final.name}-"))
        os.replace(final, trash / final.name)
    os.replace(staging, final)
    if trash is not None:
        shutil.rmtree(trash, ignore_errors=True)


def ensure_artifact(prepared_dir: Path, artifact: Artifact, *, force: bool = False,
                    log: Log = print) -> dict[str, Any]:
    """Build `artifact` under `prepared_dir/NAME` unless a complete one with the same recipe
    is there. Returns {"status": "built"|"reused", "path", "seconds", "info"}."""
    prepared_dir = Path(prepared_dir)
    final = prepared_dir / artifact.name
    remove_leftovers(prepared_dir, artifact.name)
    if not force and is_complete(final, artifact.recipe):
        manifest = read_manifest(final) or {}
        log(f"[prepare] {artifact.name}: up to date, reusing {final}")
        return {"status": "reused", "path": str(final), "seconds": 0.0, "info": manifest.get("info", {})}
    if final.exists():
        why = "forced" if force else "incomplete or built from a different recipe"
        log(f"[prepare] {artifact.name}: rebuilding ({why})")
    else:
        log(f"[prepare] {artifact.name}: building")
    prepared_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=prepared_dir, prefix=f"{STAGING_PREFIX}{artifact.name}-"))
    started = time.perf_counter()
    try:
        info = artifact.build(staging, log)
        write_manifest(staging, artifact, info)
        _make_readable(staging)
        _swap_into_place(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    seconds = round(time.perf_counter() - started, 1)
    log(f"[prepare] {artifact.name}: done in {seconds:.1f} s -> {final}")
    return {"status": "built", "path": str(final), "seconds": seconds, "info": info}


@contextlib.contextmanager
def prepare_lock(prepared_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on the prepared folder so two prepare runs do not interleave."""
    prepared_dir = Path(prepared_dir)
    prepared_dir.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock, builds are still staged and atomic
        yield
        return
    with open(prepared_dir / LOCK_NAME, "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
