"""Detector calibration: each detector's sensitivity and specificity on its labelled set shipped with
the suite, and a local classifier that replaces a detector (agreement with the shipped one reported)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from audit.data.resolver import read_jsonl
from audit.errors import ConfigError
from audit.models.adapters.base import ModelAdapter, ModelKind
from audit.stats.detection import DetectorAccuracy, detector_accuracy
from suites.generation_safety.config import DetectorModel
from suites.generation_safety.detectors import (CanaryDetector, DetectorInfo, PiiDetector, RefusalDetector,
                                                ToxicityDetector)

CALIBRATION = Path(__file__).parent / "data" / "calibration"
TOXICITY, REFUSAL, PII, CANARY = "toxicity", "refusal", "pii", "canary"
Flagger = Callable[[Sequence[str]], list[bool]]


@dataclass(frozen=True)
class LabelledSet:
    name: str
    texts: list[str]
    labels: np.ndarray
    sources: list[str]
    canaries: list[str]
    sha256: str

    @classmethod
    def load(cls, name: str) -> "LabelledSet":
        path = CALIBRATION / f"{name}.jsonl"
        rows = read_jsonl(path)
        return cls(name, [r["text"] for r in rows], np.array([bool(r["label"]) for r in rows]),
                   [r["source"] for r in rows], [r.get("canary", "") for r in rows],
                   hashlib.sha256(path.read_bytes()).hexdigest())


@dataclass(frozen=True)
class Calibrated:
    """A detector in use, with its error rates on the calibration set."""

    info: DetectorInfo
    flag: Flagger
    accuracy: DetectorAccuracy
    calibration: LabelledSet
    replaces: str | None = None              # the shipped detector's name when a classifier replaced it
    agreement_with_shipped: float | None = None
    scorer: Callable[[Sequence[str]], list[float]] | None = None   # graded scores (toxicity), else flags

    def scores(self, texts: Sequence[str]) -> list[float]:
        return self.scorer(texts) if self.scorer is not None else [float(f) for f in self.flag(texts)]

    def as_dict(self) -> dict:
        se, sp = self.accuracy.sensitivity, self.accuracy.specificity
        return {"name": self.info.name, "version": self.info.version, "sha256": self.info.sha256,
                "description": self.info.description, "calibration_set": self.calibration.name,
                "calibration_sha256": self.calibration.sha256, "n_positive": se.n, "n_negative": sp.n,
                "sensitivity": [se.value, se.ci_low, se.ci_high], "specificity": [sp.value, sp.ci_low, sp.ci_high],
                "replaces": self.replaces, "agreement_with_shipped": self.agreement_with_shipped}


def shipped(name: str) -> tuple[DetectorInfo, Flagger]:
    if name == TOXICITY:
        tox = ToxicityDetector.default()
        return tox.info, tox.flags
    if name == REFUSAL:
        ref = RefusalDetector()
        return ref.info, ref.flags
    if name == PII:
        pii = PiiDetector()
        return pii.info, pii.flags
    raise ValueError(f"no shipped detector {name!r}")


def calibrate(name: str) -> Calibrated:
    """The shipped detector `name`, measured on its calibration set."""
    data = LabelledSet.load(name)
    if name == CANARY:
        canary = CanaryDetector()
        flags = canary.flags(data.texts, data.canaries)
        # the canary detector needs the expected string per output: parts call canary_present directly
        return Calibrated(canary.info, lambda texts: [False] * len(texts), detector_accuracy(data.labels, flags), data)
    info, flag = shipped(name)
    scorer = ToxicityDetector.default().scores if name == TOXICITY else None
    return Calibrated(info, flag, detector_accuracy(data.labels, flag(data.texts)), data, scorer=scorer)


def classifier_flagger(adapter: ModelAdapter, cfg: DetectorModel, key: str) -> Flagger:
    if adapter.kind != ModelKind.CLASSIFIER:
        raise ConfigError(f"{key}.model: '{cfg.model}' is a {adapter.kind.value} model; a detector must be a "
                          "sequence classifier")
    labels = list(adapter.labels)
    label = cfg.positive_label or labels[-1]
    if label not in labels:
        raise ConfigError(f"{key}.positive_label: {label!r} is not one of the model's labels {labels}")
    index = labels.index(label)
    return lambda texts: [bool(p >= cfg.threshold) for p in adapter.classify(list(texts))[:, index]] if texts else []


def replaced(name: str, adapter: ModelAdapter, cfg: DetectorModel, key: str) -> Calibrated:
    """A local classifier in place of the shipped detector `name`, measured on the same calibration set."""
    base = calibrate(name)
    flag = classifier_flagger(adapter, cfg, key)
    flags = np.array(flag(base.calibration.texts))
    shipped_flags = np.array(base.flag(base.calibration.texts))
    info = DetectorInfo(f"classifier:{adapter.name}", "model", adapter.fingerprint,
                        f"local classifier {cfg.model}, label {cfg.positive_label or adapter.labels[-1]!r} "
                        f">= {cfg.threshold}")
    return Calibrated(info, flag, detector_accuracy(base.calibration.labels, flags), base.calibration,
                      replaces=base.info.name, agreement_with_shipped=float((flags == shipped_flags).mean()))
