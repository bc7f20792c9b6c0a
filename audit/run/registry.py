"""Find suites and renderers through entry points (a third party adds one by installing a package)."""

from __future__ import annotations

import tomllib
from importlib import import_module
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from audit.errors import ConfigError
from audit.results.names import MetricNames

SUITES_GROUP = "audit.suites"
RENDERERS_GROUP = "audit.renderers"

# A source checkout that was never pip-installed has no entry points: read them from its pyproject.toml
# (so the core never names a built-in suite or renderer).
PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _checkout_entry_points(group: str) -> dict[str, str]:
    if not PYPROJECT.is_file():
        return {}
    with PYPROJECT.open("rb") as handle:
        project = tomllib.load(handle).get("project", {})
    return dict(project.get("entry-points", {}).get(group, {}))


def _targets(group: str) -> dict[str, str]:
    found = _checkout_entry_points(group)
    found.update({ep.name: ep.value for ep in entry_points(group=group)})
    return found


def _load(target: str) -> Any:
    module, _, attr = target.partition(":")
    return getattr(import_module(module), attr)


def available_suites() -> list[str]:
    return sorted(_targets(SUITES_GROUP))


def load_suite(name: str, *, where: str = "suite") -> Any:
    """The Suite class registered as `name`; a ConfigError lists the known names otherwise."""
    targets = _targets(SUITES_GROUP)
    if name not in targets:
        raise ConfigError(f"{where}: unknown suite {name!r}; available: {', '.join(sorted(targets))}")
    return _load(targets[name])


def load_renderers(names: list[str] | None = None) -> list[Any]:
    """Instances of the registered renderers (all, or those named), JSON first."""
    targets = _targets(RENDERERS_GROUP)
    chosen = names or sorted(targets, key=lambda n: (n != "json", n))
    unknown = [n for n in chosen if n not in targets]
    if unknown:
        raise ConfigError(f"unknown renderer(s) {', '.join(unknown)}; available: {', '.join(targets)}")
    return [_load(targets[n])() for n in chosen]


def declared_metric_names() -> MetricNames:
    """The metric names every registered suite declares (what gates and the compliance mapping may name)."""
    declared = MetricNames()
    for name in available_suites():
        declared = declared | getattr(load_suite(name), "metrics", MetricNames())
    return declared
