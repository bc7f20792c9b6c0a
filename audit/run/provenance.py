"""What a third party needs to reproduce a run: versions, git revision, hardware, time."""

from __future__ import annotations

import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

from audit.versions import package_versions as installed_versions

TRACKED_PACKAGES = ("rai-audit", "torch", "transformers", "lm_eval", "fairlearn", "pandas", "numpy",
                    "scikit-learn", "pydantic", "tokenizers", "safetensors", "datasets")

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def package_versions() -> dict[str, str]:
    return installed_versions(TRACKED_PACKAGES)


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


CODE_FOLDERS = ("audit", "suites", "reports")
CODE_SUFFIXES = (".py", ".yaml", ".yml", ".j2", ".json")


def code_fingerprint(root: Path = PROJECT_ROOT) -> str:
    """sha256 over (relative path, content) of the code and its templates/task files: with the git
    revision it pins the exact code of a run, also when the checkout has local changes."""
    import hashlib

    digest = hashlib.sha256()
    for folder in CODE_FOLDERS:
        for path in sorted((root / folder).rglob("*")):
            if path.is_file() and path.suffix in CODE_SUFFIXES and "__pycache__" not in path.parts:
                digest.update(f"{path.relative_to(root).as_posix()}\n".encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()
