"""The explainability suite: five attribution methods over the model's tokens, and whether to trust them.

Methods (SHAP, LIME, attention rollout, integrated gradients, leave-one-out occlusion) explain
the same number — p(target | text) for a classifier, log p(chosen continuation | prompt) for a
causal LM — over the same token units. Every masked input goes through one scorer (deduplicated,
batched). Each method is then scored for faithfulness (ferret's comprehensiveness/sufficiency
AOPC and leave-one-out correlation, next to a seeded random ranking), agreement with the others,
stability under a typo, and cost.
"""

from __future__ import annotations

import time

import numpy as np

from audit.models.adapters.base import Capability, ModelAdapter, ModelKind
from audit.errors import ConfigError
from audit.results import Finding, Severity, SuiteResult
from audit.run.suite import Context, Suite
from suites.explainability.config import (ATTENTION, INTEGRATED_GRADIENTS, METHODS, OCCLUSION, RANDOM,
                                          ExplainabilityConfig)
from suites.explainability.chance import permuted_rankings
from suites.explainability.planning import BUDGET_DETAIL, plan, plan_finding
from suites.explainability.randomisation import ground_truth_subset
from suites.explainability.checks import run_checks
from suites.explainability.result_store import AttributionStore
from suites.explainability.trust_scores import (EVALUATION, Evaluation, agreements, faithfulness_scores,
                                                loo_correlations, stabilities)
from suites.explainability.examples import load_examples
from suites.explainability.methods import RUN_ORDER, MethodRuns, run_methods
from suites.explainability.assemble import COMPREHENSIVENESS, SUFFICIENCY
from suites.explainability.objective import objective_for
from suites.explainability.report import build_report
from suites.explainability.scoring import Scorer
from suites.explainability.selection import select_subjects
from suites.explainability.stability import VARIANT_SUFFIX, typo_variant
from suites.explainability.subjects import encode_units, make_variant
from suites.explainability.tokens import Masking
from suites.explainability.names import METRICS

SUITE = "explainability"
_NEEDS = {ATTENTION: Capability.ATTENTIONS, INTEGRATED_GRADIENTS: Capability.GRADIENTS}


def scoring_capability(adapter: ModelAdapter) -> Capability:
    if adapter.kind == ModelKind.CLASSIFIER:
        return Capability.CLASSIFY_IDS
    if adapter.kind == ModelKind.CAUSAL_LM:
        return Capability.LOGLIKELIHOOD
    raise ConfigError(f"{SUITE}: model '{adapter.name}' is a {adapter.kind.value}; the suite explains classifiers "
                      "and causal LMs")


def choose_methods(cfg: ExplainabilityConfig, adapter: ModelAdapter) -> tuple[list[str], dict[str, str]]:
    """(methods to run, {method: why not} for defaults the model cannot run); explicit ones must run."""
    base = scoring_capability(adapter)
    chosen, skipped = [], {}
    for method in cfg.methods or list(METHODS):
        needed = _NEEDS.get(method, base)
        if needed in adapter.capabilities:
            chosen.append(method)
        elif cfg.methods is None:
            skipped[method] = f"the model lacks capability '{needed.value}'"
        else:
            raise ConfigError(f"{SUITE}.methods: '{method}' needs capability '{needed.value}', which model "
                              f"'{adapter.name}' ({adapter.kind.value}) lacks")
    if not chosen:
        raise ConfigError(f"{SUITE}.methods: no method can run on model '{adapter.name}' "
                          f"({'; '.join(skipped.values())})")
    return chosen, skipped


def check_config(cfg: ExplainabilityConfig, adapter: ModelAdapter) -> None:
    """Config choices that depend on the model: examples source, masking, IG baseline."""
    causal = adapter.kind == ModelKind.CAUSAL_LM
    if causal and cfg.examples.dataset is not None:
        raise ConfigError(f"{SUITE}.examples: a causal LM explains its choice on shipped prompts; use 'task', "
                          "not 'dataset'")
    if not causal and cfg.examples.task is not None:
        raise ConfigError(f"{SUITE}.examples.task: tasks are multiple-choice prompts for causal LMs; give a "
                          "classifier a 'dataset'")
    if cfg.masking == Masking.MASK_TOKEN and (causal or adapter.mask_token_id is None):
        raise ConfigError(f"{SUITE}.masking: 'mask' needs a classifier with a mask token; model "
                          f"'{adapter.name}' has none (use 'remove')")
    if cfg.integrated_gradients.baseline == "mask" and adapter.mask_token_id is None:
        raise ConfigError(f"{SUITE}.integrated_gradients.baseline: 'mask' needs a mask token; model "
                          f"'{adapter.name}' has none")


class ExplainabilitySuite(Suite):
    """Explainability: SHAP, LIME, attention rollout, integrated gradients, occlusion; faithfulness,
    agreement, stability and cost of each."""

    name = SUITE
    metrics = METRICS
    version = "1.0"
    check_labels = False                     # the predicted label is explained; gold labels are optional
    Config = ExplainabilityConfig
    headlines = (f"{COMPREHENSIVENESS}[*]", f"{SUFFICIENCY}[*]")   # faithfulness of each method
    requires = frozenset({Capability.ENCODE})

    def run(self, ctx: Context) -> SuiteResult:
        cfg: ExplainabilityConfig = ctx.config
        adapter = ctx.adapter
        methods, skipped = choose_methods(cfg, adapter)
        check_config(cfg, adapter)
        result = self.new_result(ctx)
        for method, reason in skipped.items():
            result.findings.append(Finding(severity=Severity.INFO, message=f"{method} skipped: {reason}",
                                           evidence={"method": method}))
        seed = cfg.examples.seed if cfg.examples.seed is not None else ctx.sub_seed(SUITE, "examples")
        raws = load_examples(ctx.data, cfg.examples, seed)
        objective = objective_for(adapter)
        scorer = Scorer(objective, [], store=AttributionStore.for_adapter(adapter), persisted={EVALUATION})
        subjects, predicted = select_subjects(adapter, scorer, raws, cfg, seed)
        originals = scorer.add_subjects(subjects)

        def seed_for(method: str, i: int) -> int:
            return ctx.sub_seed(SUITE, method, scorer.subjects[i].source_id)

        runs = MethodRuns()
        variants = self._explain(ctx, cfg, methods, originals, scorer, runs, seed_for)

        rankings = {m: runs.scores[m] for m in methods}
        random_ranking = {i: ctx.rng(SUITE, RANDOM, scorer.subjects[i].source_id).random(len(scorer.subjects[i].units))
                          for i in originals}
        ev = Evaluation(example_ids=[scorer.subjects[i].id for i in originals])
        ev.excluded.update(runs.excluded)
        valid = {m: r for m, r in rankings.items() if m not in ev.excluded}
        nulls = permuted_rankings(valid, originals,
                                  lambda m, i: ctx.rng(SUITE, "null", m, scorer.subjects[i].source_id))
        faithfulness_scores(scorer, originals, {**valid, RANDOM: random_ranking}, cfg.only_positive, ev,
                            grid=cfg.faithfulness_grid, nulls=nulls)
        loo_correlations(scorer, originals, {m: r for m, r in {**valid, RANDOM: random_ranking}.items()
                                             if m != OCCLUSION or cfg.masking != Masking.REMOVE}, ev)
        agreements(originals, valid, cfg.top_k, ev)
        if variants:
            stabilities(scorer, originals, variants, {m: rankings[m] for m in self._stability_methods(cfg, methods)},
                        ev)
        build_report(result, ctx=ctx, cfg=cfg, scorer=scorer, runs=runs, ev=ev, originals=originals,
                     predicted=predicted, variants=variants, methods=methods, random_ranking=random_ranking)
        started = time.perf_counter()
        result.details["checks"] = run_checks(result, ctx, cfg, methods, scorer, runs, originals, seed_for)
        checks_seconds = time.perf_counter() - started
        subset = ground_truth_subset(scorer, originals, cfg.ground_truth.randomisation.n)
        tokens = {i: scorer.subjects[i].units.tokens for i in originals}
        planned = plan(list(tokens.values()), methods, cfg, ground_truth_lists=[tokens[i] for i in subset],
                       classifier=adapter.kind == ModelKind.CLASSIFIER,
                       stability_lists=[tokens[i] for i in ground_truth_subset(scorer, originals, cfg.stability.n)]
                       if cfg.stability.n else None,
                       precision_lists=[tokens[i] for i in ground_truth_subset(scorer, originals, cfg.precision.n)])
        detail, findings = plan_finding(planned, scorer.seconds_per_input, cfg.time_budget_s, len(originals))
        result.findings += findings
        result.details[BUDGET_DETAIL] = {**detail, "measured_seconds": {"methods": round(sum(runs.seconds.values()), 2),
                                                                 "checks": round(checks_seconds, 2)}}
        return result

    @staticmethod
    def _stability_methods(cfg: ExplainabilityConfig, methods: list[str]) -> list[str]:
        wanted = cfg.stability.methods if cfg.stability.methods is not None else methods
        return [m for m in methods if m in wanted]

    def _explain(self, ctx: Context, cfg: ExplainabilityConfig, methods: list[str], originals: list[int],
                 scorer: Scorer, runs: MethodRuns, seed_for) -> dict[int, int]:
        """Explain the originals and their typo variants; {original: variant index}.

        The reference method (occlusion, else the first one run) goes first: its scores pick the word
        to misspell. Every other method then explains originals and variants in one batched pass."""
        order = [m for m in RUN_ORDER if m in methods]
        reference = OCCLUSION if OCCLUSION in order else order[0]
        run = dict(adapter=ctx.adapter, scorer=scorer, cfg=cfg, seed_for=seed_for, runs=runs)
        run_methods([reference], originals, **run)
        stable = self._stability_methods(cfg, methods) if cfg.stability.enabled else []
        restrict = ctx.adapter.kind == ModelKind.CAUSAL_LM and cfg.examples.features == "field"
        varied = ground_truth_subset(scorer, originals, cfg.stability.n) if cfg.stability.n else originals
        variants = self._variants(ctx, varied, scorer, runs.scores[reference], restrict) if stable else {}
        extra = list(variants.values())
        if reference in stable:
            run_methods([reference], extra, **run)
        for method in order:
            if method != reference:
                run_methods([method], originals + (extra if method in stable else []), **run)
        return variants

    @staticmethod
    def _variants(ctx: Context, originals: list[int], scorer: Scorer, reference: dict[int, np.ndarray],
                  restrict: bool) -> dict[int, int]:
        """Typo variants of the originals (where a word qualifies), added to the scorer; with `restrict`,
        a variant's features are its data field's tokens, as the original's (a swap keeps the span)."""
        texts = {i: typo_variant(scorer.subjects[i].units, reference[i], scorer.subjects[i].editable,
                                 ctx.rng(SUITE, "typo", scorer.subjects[i].source_id)) for i in originals}
        texts = {i: t for i, t in texts.items() if t is not None}
        if not texts:
            return {}
        units = [u.restrict(scorer.subjects[i].editable) if restrict and scorer.subjects[i].editable else u
                 for i, u in zip(texts, encode_units(ctx.adapter, list(texts.values())))]
        indices = scorer.add_subjects([make_variant(scorer.subjects[i], u, VARIANT_SUFFIX)
                                       for i, u in zip(texts, units)])
        return dict(zip(texts, indices))
