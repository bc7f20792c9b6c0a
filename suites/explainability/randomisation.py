"""Model-parameter randomisation (Adebayo et al. 2018): do the attributions depend on what the model learned?

The same examples, with the same targets and token units, are explained on copies of the audited
model whose output head and top block(s), then all parameters, are re-initialised (through
`ctx.models.randomise`). For each method and copy: the per-example Spearman correlation between the
trained model's and the copy's attributions, its mean with a bootstrap CI. A faithful method must
decorrelate on the fully randomised copy: pass when the CI lies below `max_spearman` (0.5), fail
(flagged: "survives randomisation") when it lies above, inconclusive otherwise.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from audit.errors import ConfigError
from audit.models.adapters.base import ModelAdapter
from audit.models.variants.randomise import RandomisationRecipe
from audit.results import Finding, Metric, Power, Severity, SuiteResult, TableView, Verdict
from audit.run.suite import Context
from audit.stats import bootstrap_mean, spearman
from suites.explainability.config import ExplainabilityConfig
from suites.explainability.methods import MethodRuns, run_methods
from suites.explainability.objective import objective_for
from suites.explainability.scoring import Scorer
from suites.explainability.subjects import Subject

RANDOMISATION_SPEARMAN = "explain.randomisation_spearman"
COPIES = ("top", "all")
SUITE = "explainability"


@dataclass
class CopyRun:
    copy: str
    name: str
    description: str
    scores: dict[str, list[np.ndarray]]   # method -> per example
    seconds: float
    runs: MethodRuns


def ground_truth_subset(scorer: Scorer, originals: Sequence[int], n: int) -> list[int]:
    """The `n` shortest explained examples (in selection order): the checks' cost grows with length."""
    by_length = sorted(originals, key=lambda i: (len(scorer.subjects[i].units), originals.index(i)))[:n]
    return [i for i in originals if i in set(by_length)]


def explain_on(adapter: ModelAdapter, subjects: Sequence[Subject], methods: list[str], cfg: ExplainabilityConfig,
               seed_for: Callable[[str, int], int]) -> tuple[dict[str, list[np.ndarray]], MethodRuns]:
    """Every method's scores for `subjects` on another model (fresh scorer, same units and targets)."""
    scorer = Scorer(objective_for(adapter), list(subjects))
    runs = MethodRuns()
    indices = list(range(len(subjects)))
    run_methods(methods, indices, adapter=adapter, scorer=scorer, cfg=cfg,
                seed_for=lambda m, i: seed_for(m, i), runs=runs)
    return {m: [runs.scores[m][i] for i in indices] for m in methods}, runs


def run_randomisation(ctx: Context, cfg: ExplainabilityConfig, methods: list[str], subjects: list[Subject],
                      seed_for: Callable[[str, int], int]) -> list[CopyRun]:
    if ctx.models is None or ctx.model_ref is None:
        raise ConfigError(f"{SUITE}.ground_truth.randomisation: this run has no model factory (or no model "
                          "reference) to build randomised copies with; set it to enabled: false")
    out = []
    for copy in COPIES:
        recipe = RandomisationRecipe(scope=copy,  # type: ignore[arg-type]
                                     top_layers=cfg.ground_truth.randomisation.top_layers,
                                     seed=ctx.sub_seed(SUITE, "randomise", copy))
        name = f"{ctx.model_name}-randomised-{copy}"
        derived = ctx.models.randomise(name, ctx.model_ref, recipe, ctx.adapter.kind.value)
        started = time.perf_counter()
        scores, runs = explain_on(derived.adapter, subjects, methods, cfg, seed_for)
        out.append(CopyRun(copy, name, recipe.describe(), scores, time.perf_counter() - started, runs))
    return out


def correlations(trained: dict[str, list[np.ndarray]], copy: CopyRun) -> dict[str, np.ndarray]:
    return {m: np.array([spearman(a, b) for a, b in zip(trained[m], copy.scores[m])]) for m in copy.scores}


def randomisation_report(result: SuiteResult, ctx: Context, cfg: ExplainabilityConfig,
                         trained: dict[str, list[np.ndarray]], copies: list[CopyRun], ids: list[str]) -> dict:
    """Metrics, the per-method table, findings (a method surviving full randomisation is flagged)."""
    limit = cfg.ground_truth.randomisation.max_spearman
    rows, details = [], {"examples": ids, "max_spearman": limit, "copies": {}}
    for copy in copies:
        rho = correlations(trained, copy)
        details["copies"][copy.copy] = {"model": copy.name, "recipe": copy.description,
                                        "seconds": round(copy.seconds, 3),
                                        "spearman": {m: [float(v) for v in r] for m, r in rho.items()}}
        for method, values in rho.items():
            finite = values[np.isfinite(values)]
            if finite.size == 0:
                rows.append([method, copy.copy, None, None, None, 0, "no finite correlation"])
                continue
            est = bootstrap_mean(finite, seed=ctx.sub_seed(SUITE, RANDOMISATION_SPEARMAN, copy.copy, method))
            verdict = (Verdict.PASS if est.ci_high < limit else
                       Verdict.FAIL if est.ci_low > limit else Verdict.INCONCLUSIVE)
            result.metrics.append(Metric.from_estimate(
                RANDOMISATION_SPEARMAN, est, group={"method": method, "copy": copy.copy}, higher_is_better=False,
                subject=f"derived:{copy.name}",
                description=f"Spearman correlation of the method's attributions on the trained model and on the "
                            f"copy with {copy.description} (Adebayo et al. 2018); near 0: the attributions "
                            "depend on the learned weights"))
            rows.append([method, copy.copy, round(est.value, 3), round(est.ci_low, 3), round(est.ci_high, 3),
                         int(finite.size), verdict.value])
            if copy.copy == "all":
                result.findings.append(_finding(method, est, verdict, limit, copy))
    result.views.append(TableView(
        title="Ground truth: model-parameter randomisation (Spearman, trained vs randomised copy)",
        columns=["method", "copy", "mean Spearman", "CI low", "CI high", "n", "decorrelated (all)"],
        rows=rows,
        caption=f"'top': head and top {cfg.ground_truth.randomisation.top_layers} block(s) re-initialised; 'all': "
                f"every parameter. Pass: the 95% bootstrap CI lies below {limit}; a method whose attributions "
                "survive full randomisation explains the input or the architecture, not the model."))
    return details


def _finding(method: str, est, verdict: Verdict, limit: float, copy: CopyRun) -> Finding:
    text = (f"Spearman with the fully randomised copy {est.value:+.2f} [{est.ci_low:+.2f}, {est.ci_high:+.2f}], "
            f"n = {est.n}")
    if verdict == Verdict.PASS:
        message, severity = f"{method} decorrelates under model randomisation: {text}", Severity.INFO
    elif verdict == Verdict.FAIL:
        message, severity = (f"{method} survives model randomisation (flagged): {text}, above {limit}; its "
                             "attributions do not depend on the learned weights"), Severity.WARN
    else:
        message, severity = f"{method}: randomisation check inconclusive ({text}, CI spans {limit})", Severity.WARN
    return Finding(severity=severity, message=message, metric=RANDOMISATION_SPEARMAN, verdict=verdict,
                   power=Power(n=int(est.n), method="bootstrap CI of the mean per-example Spearman",
                               required_effect=limit, can_test=int(est.n) >= 2),
                   evidence={"method": method, "copy": copy.copy, "model": copy.name, "mean": est.value,
                             "ci_low": est.ci_low, "ci_high": est.ci_high, "survives": verdict == Verdict.FAIL})
