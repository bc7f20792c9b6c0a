"""Installed package versions: the one lookup behind provenance, cache scopes and trainer reports."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def package_version(name: str) -> str | None:
    """The installed version of distribution `name`, or None when it is not installed."""
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def package_versions(names: tuple[str, ...]) -> dict[str, str]:
    """Versions of the installed packages among `names` (missing ones are left out)."""
    return {name: found for name in names if (found := package_version(name)) is not None}
