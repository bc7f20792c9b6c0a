"""The renderer protocol: a renderer reads one stored `AuditRun` and writes one file.

Renderers are found through the `audit.renderers` entry-point group. They read only
`audit.results` (HELM's rule) and never import suite code, so a report can be rebuilt
from `results.json` long after the run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

from audit.results import AUDITED, AuditRun, Metric, SuiteResult, is_headline


@runtime_checkable
class Renderer(Protocol):
    """Writes `run` into `out_dir / filename` and returns the path it wrote.

    An optional renderer (`optional = True`, e.g. the PDF one, which needs Chromium) may return
    None when it is switched off or its dependency is missing; it then writes nothing.
    """

    name: str
    filename: str

    def render(self, run: AuditRun, out_dir: Path) -> Path | None: ...


class TextFileRenderer:
    """A renderer whose whole output is one text file, written atomically."""

    name: str
    filename: str

    def text(self, run: AuditRun) -> str:
        raise NotImplementedError

    def render(self, run: AuditRun, out_dir: Path) -> Path:
        from audit.io import atomic_write_text

        path = Path(out_dir) / self.filename
        atomic_write_text(path, self.text(run))
        return path


def headline_metrics(result: SuiteResult) -> list[Metric]:
    """A suite result's declared headline metrics of the audited model (they may be breakdowns, e.g. the
    privacy suite's loss-attack AUC), then its other overall metrics."""
    audited = [m for m in result.metrics if m.subject == AUDITED]
    declared = [m for m in audited if result.headlines and is_headline(result.headlines, m.name, m.group)]
    return declared + [m for m in audited if m.group is None and m not in declared]
