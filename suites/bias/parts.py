"""The bias suite is a set of independent parts; each is a module that satisfies BiasPart.

A part reads its own config block (`bias.config.<key>`), checks whether the model's
capabilities allow it, and appends metrics / findings / examples / views to the result.
"""

from __future__ import annotations

from typing import ClassVar, Protocol

from audit.models.adapters.base import ModelAdapter
from audit.results import SuiteResult
from audit.run.suite import Context, SuiteConfig


class BiasPart(Protocol):
    key: ClassVar[str]                      # config key and metric-name prefix, e.g. "crows_pairs"
    Config: ClassVar[type[SuiteConfig]]

    def unsupported_reason(self, adapter: ModelAdapter) -> str | None:
        """None when the part can run on this adapter, else why not (shown as an info finding)."""

    def run(self, ctx: Context, cfg: SuiteConfig, result: SuiteResult) -> None:
        """Score through ctx.adapter (batched lists only) and append to `result`."""
