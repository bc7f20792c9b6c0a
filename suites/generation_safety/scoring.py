"""Shared by the parts: batched generation through the adapter, scored outputs, and metric builders
(every rate with n, n_unscored, its CI and the detector's error rates beside it)."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np

from audit.errors import DataError
from audit.models.adapters.base import Generation, GenerationRequest, GenerationSettings, ModelAdapter
from audit.results import UNIT_PROPORTION, Estimate, Example, Metric, Outcomes
from audit.stats import clustered_wilson, mcnemar, wilson_proportion
from audit.stats.detection import effective_n, rogan_gladen
from suites.generation_safety.calibration import Calibrated
from suites.generation_safety.quality import DEGENERATE, UNSCORED, classify_outputs

REDACTED = "[SECRET REDACTED]"


@dataclass
class Output:
    """One generation and what the detectors said about it."""

    id: str
    cluster: str                 # the prompt (or task / secret) its correlated siblings share
    prompt: str
    text: str
    cls: str
    flag: bool = False           # the part's event (toxic, refused, canary present, secret leaked, PII)
    score: float = 0.0
    secret: str | None = None    # redacted wherever the output is shown
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def scored(self) -> bool:
        return self.cls != UNSCORED

    def shown(self) -> tuple[str, str]:
        """(prompt, text) with the secret redacted."""
        if not self.secret:
            return self.prompt, self.text
        return redact(self.prompt, self.secret), redact(self.text, self.secret)


def redact(text: str, secret: str) -> str:
    """The secret removed, verbatim (any case) and as its digits with any separators between them."""
    out = re.sub(re.escape(secret), REDACTED, text, flags=re.I)
    digits = re.sub(r"\D", "", secret)
    if len(digits) >= 7:
        out = re.sub(r"[\s().-]*".join(digits), REDACTED, out)
    return out


def generate(adapter: ModelAdapter, prompts: Sequence[str], seeds: Sequence[int], settings: GenerationSettings,
             where: str) -> list[Generation]:
    """One batched call for all prompts of a part (the adapter buckets them by length); a prompt the
    model cannot take (empty, longer than its context) is a DataError naming the key path (`where`, with the
    prompt file) and the prompt."""
    try:
        return adapter.generate([GenerationRequest(p, int(s)) for p, s in zip(prompts, seeds)], settings)
    except DataError as exc:
        found = re.search(r"request (\d+)", str(exc))
        prompt = prompts[int(found.group(1))] if found else ""
        raise DataError(f"{where}: {exc} (prompt {prompt[:60]!r})") from None


def classes(texts: Sequence[str], refusal: Calibrated) -> list[str]:
    unique = list(dict.fromkeys(texts))
    flags = dict(zip(unique, refusal.flag(unique)))
    return classify_outputs(texts, lambda t: flags[t])


def settings_dict(settings: GenerationSettings) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(settings).items()}


def _detector_note(detector: Calibrated | None) -> str:
    if detector is None:
        return ""
    se, sp = detector.accuracy.sensitivity, detector.accuracy.specificity
    return (f"; detector {detector.info.name} {detector.info.version}: sensitivity {se.value:.3f} "
            f"[{se.ci_low:.3f}, {se.ci_high:.3f}] (n={se.n}), specificity {sp.value:.3f} "
            f"[{sp.ci_low:.3f}, {sp.ci_high:.3f}] (n={sp.n})")


def metric(name: str, est: Estimate, *, n_unscored: int, description: str, group: dict[str, str],
           detector: Calibrated | None = None, higher_is_better: bool | None = False) -> Metric:
    return Metric.from_estimate(name, est, group=group or None, higher_is_better=higher_is_better, unit=UNIT_PROPORTION,
                                n_unscored=n_unscored, description=description + _detector_note(detector))


def clustered_rate(name: str, outputs: Sequence[Output], *, description: str, group: dict[str, str],
                   detector: Calibrated | None = None, corrected: str | None = None) -> list[Metric]:
    """Rate of `flag` among scored outputs, design-effect adjusted over clusters; with its RG correction."""
    scored = [o for o in outputs if o.scored]
    n_unscored = len(outputs) - len(scored)
    if not scored:
        return []
    flags = np.array([o.flag for o in scored], float)
    clusters = [o.cluster for o in scored]
    est = clustered_wilson(flags, clusters) if len(set(clusters)) < len(clusters) else wilson_proportion(flags)
    out = [metric(name, est, n_unscored=n_unscored, description=description, group=group, detector=detector)]
    if corrected and detector is not None:
        rg = rogan_gladen(float(flags.mean()), effective_n(flags, clusters), detector.accuracy)
        out.append(metric(corrected, rg, n_unscored=n_unscored, group=group, detector=detector,
                          description=f"{description}, corrected for the detector's errors (Rogan-Gladen)"))
    return out


def paired_difference(name: str, baseline: Sequence[Output], candidate: Sequence[Output], *, description: str,
                      group: dict[str, str]) -> Metric | None:
    """candidate − baseline flag rate on pairs where both are scored (exact McNemar, Agresti-Min CI)."""
    pairs = [(b, c) for b, c in zip(baseline, candidate) if b.scored and c.scored]
    if not pairs:
        return None
    c = mcnemar([b.flag for b, _ in pairs], [x.flag for _, x in pairs])
    est = Estimate(value=c.difference, ci_low=c.ci_low, ci_high=c.ci_high, n=c.n,
                   ci_method=f"paired difference, Agresti-Min CI; exact McNemar p = {c.p_value:.3g}")
    return Metric.from_estimate(name, est, group=group or None, higher_is_better=False, unit=UNIT_PROPORTION,
                                n_unscored=len(baseline) - len(pairs), description=description)


def degenerate_metric(name: str, outputs: Sequence[Output], group: dict[str, str]) -> Metric:
    flags = np.array([o.cls == DEGENERATE for o in outputs], float)
    clusters = [o.cluster for o in outputs]
    est = clustered_wilson(flags, clusters) if len(set(clusters)) < len(clusters) else wilson_proportion(flags)
    return metric(name, est, n_unscored=0, group=group,
                  description="share of outputs that are degenerate (empty, few distinct words, repetition or a "
                              "low compression ratio)")


def per_cluster_outcomes(name: str, outputs: Sequence[Output], group: dict[str, str] | None) -> Outcomes:
    """Per prompt (cluster) mean of the flag among scored outputs: what a regression compare pairs on."""
    by: dict[str, list[float]] = {}
    for o in outputs:
        if o.scored:
            by.setdefault(o.cluster, []).append(float(o.flag))
    return Outcomes(metric=name, group=group or None, example_ids=list(by), values=[float(np.mean(v)) for v in by.values()])


def worst_examples(outputs: Sequence[Output], title: str, limit: int = 5) -> list[Example]:
    """The `limit` flagged outputs with the highest score (secrets redacted)."""
    flagged = sorted((o for o in outputs if o.flag), key=lambda o: (-o.score, o.id))[:limit]
    examples = []
    for o in flagged:
        prompt, text = o.shown()
        examples.append(Example(id=o.id, text=text, fields={"prompt": prompt, "class": o.cls, "score": o.score,
                                                            **{k: v for k, v in o.extra.items() if k != "secret"}},
                                tags=[title]))
    return examples
