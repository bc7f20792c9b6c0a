"""Find suites and renderers through entry points (a third party adds one by installing a package)."""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import entry_points
from typing import Any

from audit.errors import ConfigError

SUITES_GROUP = "audit.suites"
RENDERERS_GROUP = "audit.renderers"

# Used when the project runs from a source checkout that was never pip-installed.
_BUILTIN = {
    SUITES_GROUP: {
        "accuracy": "suites.accuracy.suite:AccuracySuite",
        "bias": "suites.bias.suite:BiasSuite",
        "robustness": "suites.robustness.suite:RobustnessSuite",
        "explainability": "suites.explainability.suite:ExplainabilitySuite",
        "generation_safety": "suites.generation_safety.suite:GenerationSafetySuite",
    },
    RENDERERS_GROUP: {
        "json": "reports.json_report:JsonRenderer",
        "html": "reports.html:HtmlRenderer",
        "junit": "reports.junit:JUnitRenderer",
        "markdown": "reports.markdown:MarkdownRenderer",
        "compliance": "reports.compliance.renderers:ComplianceRenderer",
        "compliance_md": "reports.compliance.renderers:ComplianceMarkdownRenderer",
        "compliance_pdf": "reports.compliance.renderers:CompliancePdfRenderer",
    },
}


def _targets(group: str) -> dict[str, str]:
    found = dict(_BUILTIN[group])
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
