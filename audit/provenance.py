"""What a third party needs to reproduce a run: versions, git revision, hardware, time."""

from __future__ import annotations

import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

TRACKED_PACKAGES = ("rai-audit", "torch", "transformers", "lm_eval", "fairlearn", "pandas", "numpy",
                    "scikit-learn", "pydantic", "tokenizers", "safetensors", "datasets")

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def package_versions() -> dict[str, str]:
    found = {}
    for name in TRACKED_PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def git_revision(root: Path = PROJECT_ROOT) -> str | None:
    """`git describe`-style revision of the code that ran (with -dirty), None outside a checkout."""
    try:
        out = subprocess.run(["git", "-C", str(root), "describe", "--always", "--dirty", "--abbrev=40"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def hardware() -> str:
    try:
        import torch

        if torch.cuda.is_available():
            return f"cuda: {torch.cuda.get_device_name(0)}"
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    return f"cpu: {platform.processor() or platform.machine()}"


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def python_version() -> str:
    return sys.version.split()[0]
