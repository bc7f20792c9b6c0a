"""Session fixture `prepared_dir`: the prepared default models for end-to-end tests.

Why: the real models take minutes to build. Reuse a complete prepared folder when one exists
(`RAI_AUDIT_PREPARED`, then the default cache), else build one into a pytest temporary
folder with a small fine-tune (train_limit=2000, ~2-3 min on 2 CPU cores).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from audit.config.schema import CACHE_ENV
from audit.data.prepare.build import PREPARED_SUBDIR, missing_artifacts, prepare

PREPARED_ENV = "RAI_AUDIT_PREPARED"
E2E_TRAIN_LIMIT = 2000


def candidate_prepared_dirs() -> list[Path]:
    """Folders to try, in order: $RAI_AUDIT_PREPARED, $RAI_AUDIT_CACHE/prepared, the home default.

    The home default is listed explicitly because the per-test cache fixture may point
    RAI_AUDIT_CACHE at a temporary folder."""
    found = []
    if os.environ.get(PREPARED_ENV):
        found.append(Path(os.environ[PREPARED_ENV]).expanduser())
    if os.environ.get(CACHE_ENV):
        found.append(Path(os.environ[CACHE_ENV]).expanduser() / PREPARED_SUBDIR)
    found.append(Path.home() / ".cache" / "rai-audit" / PREPARED_SUBDIR)
    return found


def find_complete_prepared() -> Path | None:
    """The first candidate folder that holds every artifact, complete."""
    for folder in candidate_prepared_dirs():
        if folder.is_dir() and not missing_artifacts(folder):
            return folder
    return None


@pytest.fixture(scope="session")
def prepared_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with rt_polarity/, smollm2-135m/ and minilm-sentiment/, all complete."""
    existing = find_complete_prepared()
    if existing is not None:
        return existing
    folder = tmp_path_factory.mktemp("prepared")
    prepare(folder, train_limit=E2E_TRAIN_LIMIT)
    return folder
