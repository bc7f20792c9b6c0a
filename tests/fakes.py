"""A fake suite and adapter for testing the runner's mechanics without a model."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from audit.models.adapters.base import Capability, ModelKind
from audit.results import Metric, Outcomes
from audit.run.suite import Context, Suite, SuiteConfig


class FakeAdapter:
    kind = ModelKind.CLASSIFIER
    capabilities = frozenset({Capability.CLASSIFY, Capability.TOKENIZE})
    device = "cpu"

    def __init__(self, name: str) -> None:
        self.name = name
        self.fingerprint = f"fake-{name}"

    @property
    def labels(self) -> list[str]:
        return ["negative", "positive"]

    def classify(self, texts):
        return np.tile([0.3, 0.7], (len(texts), 1))

    def model_info(self) -> dict:
        return {"path": f"/fake/{self.name}"}


def fake_loader(name, spec, prepared_dir, cache_dir):
    return FakeAdapter(name)


def fake_fingerprinter(name, spec, prepared_dir):
    """What FakeAdapter reports as its fingerprint (the runner checks it before resuming a job)."""
    return f"fake-{name}"


class FakeSuiteConfig(SuiteConfig):
    value: float = 0.5
    sleep_s: float = 0.0
    calls_file: str | None = None
    needs: list[str] = []
    crash: bool = False         # raise an unexpected error (a bug in a suite)


class FakeSuite(Suite):
    """Emits one metric; records each call in `calls_file` so tests can see what re-ran."""

    name = "fake"
    version = "0.1"
    Config = FakeSuiteConfig

    def required_capabilities(self, config):
        return frozenset(Capability(c) for c in config.needs)

    def run(self, ctx: Context):
        cfg = ctx.config
        if cfg.calls_file:
            with open(cfg.calls_file, "a") as handle:
                handle.write(f"{ctx.model_name} {cfg.value}\n")
                handle.flush()
                os.fsync(handle.fileno())
        time.sleep(cfg.sleep_s)
        if cfg.crash:
            raise RuntimeError("boom: a bug in the suite")
        result = self.new_result(ctx)
        result.metrics.append(Metric(name="fake.value", value=cfg.value, ci_low=cfg.value - 0.1,
                                     ci_high=cfg.value + 0.1, n=10))
        result.outcomes.append(Outcomes(metric="fake.value", example_ids=[str(i) for i in range(10)],
                                        values=[cfg.value] * 10))
        return result


def load_fake_or_real(name: str, where: str = "suite"):
    from audit.run.registry import load_suite

    return FakeSuite if name == "fake" else load_suite(name, where=where)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def review_rows(start: int, stop: int) -> list[str]:
    """CSV rows `id,text,label` of a toy review set: ids below 10 negative ("dull"), the rest positive."""
    return [f"r{i},{'a dull and tedious film' if i < 10 else 'a warm funny film'} number {i},"
            f"{'negative' if i < 10 else 'positive'}" for i in range(start, stop)]


def write_reviews(path: Path, n: int = 30, first_rows: tuple[str, ...] = ()) -> Path:
    """A reviews CSV with a header, `first_rows` (planted rows) and toy rows up to id n - 1."""
    return write(path, "\n".join(["id,text,label", *first_rows, *review_rows(len(first_rows), n)]) + "\n")
