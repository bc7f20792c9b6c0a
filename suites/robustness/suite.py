"""The robustness suite: natural perturbations and query-budgeted adversarial attacks.

Parts, chosen by the model's capabilities (`parts: auto`) or named:
- perturbations (classifiers): accuracy under each natural perturbation, paired with the clean
  texts (McNemar), worst case over perturbations, a severity sweep;
- attacks (classifiers): TextFooler-style word and DeepWordBug-style character attacks with a
  query budget per example, success rate under the configured constraints and valid success rate
  under stricter ones, exported as JSONL for adversarial training;
- multiple_choice (causal LMs): accuracy of a shipped multiple-choice task under perturbations.
Every model call is a batch through the adapter; see natural.py and attacks/.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from audit.models.adapters.base import Capability, ModelAdapter
from audit.errors import ConfigError
from audit.results import Finding, Severity, SuiteResult
from audit.run.suite import Context, Suite, SuiteConfig
from suites.robustness.attack_part import load_encoder, run_attacks
from suites.robustness.config import AUTO, PARTS, RobustnessConfig
from suites.robustness.data import Examples, load_examples
from suites.robustness.lexicon_setup import LexiconChoice, choose_lexicon
from suites.robustness.mc import McTask, load_task, mc_predictor
from suites.robustness.natural import SUITE_KEY, classifier_predictor, evaluate, sweep_plan
from suites.robustness.natural_report import report_natural
from suites.robustness.perturbations import CATALOGUE, build
from suites.robustness.names import METRICS

PERTURBATIONS, ATTACKS, MULTIPLE_CHOICE = PARTS
NEEDS: dict[str, Capability] = {PERTURBATIONS: Capability.CLASSIFY, ATTACKS: Capability.CLASSIFY,
                                MULTIPLE_CHOICE: Capability.LOGLIKELIHOOD}


def choose_parts(cfg: RobustnessConfig, adapter: ModelAdapter) -> tuple[list[str], dict[str, str]]:
    """(parts to run, {part: why not}); a part named explicitly that cannot run is a ConfigError."""
    wanted = PARTS if cfg.parts == AUTO else tuple(cfg.parts)
    chosen, skipped = [], {}
    for part in PARTS:
        if part not in wanted:
            continue
        if NEEDS[part] in adapter.capabilities:
            chosen.append(part)
        elif cfg.parts == AUTO:
            skipped[part] = f"needs capability '{NEEDS[part].value}'"
        else:
            raise ConfigError(f"robustness.parts: part '{part}' cannot run on model '{adapter.name}' "
                              f"({adapter.kind.value}): it needs capability '{NEEDS[part].value}'")
    if not chosen:
        raise ConfigError(f"robustness: no part can run on model '{adapter.name}' ({adapter.kind.value}); "
                          f"the parts need {', '.join(sorted({c.value for c in NEEDS.values()}))}")
    return chosen, skipped


def needs_lexicon(cfg: RobustnessConfig, parts: list[str]) -> bool:
    names: set[str] = set()
    if PERTURBATIONS in parts:
        names |= set(cfg.perturbations.names) | set(cfg.perturbations.sweep.perturbations
                                                     if cfg.perturbations.sweep else [])
    if MULTIPLE_CHOICE in parts:
        names |= set(cfg.multiple_choice.names) | set(cfg.multiple_choice.sweep.perturbations
                                                      if cfg.multiple_choice.sweep else [])
    return any(CATALOGUE[n].needs_lexicon for n in names) or (ATTACKS in parts and cfg.attacks.word is not None)


class RobustnessSuite(Suite):
    """Robustness: natural perturbations (paired with clean), word/char attacks with budgets, MC tasks."""

    name = "robustness"
    metrics = METRICS
    version = "1.0"
    Config = RobustnessConfig

    def required_capabilities(self, config: SuiteConfig) -> frozenset[Capability]:
        assert isinstance(config, RobustnessConfig)
        return frozenset() if config.parts == AUTO else frozenset(NEEDS[p] for p in config.parts)

    def run(self, ctx: Context) -> SuiteResult:
        cfg: RobustnessConfig = ctx.config if ctx.config is not None else RobustnessConfig()
        result = self.new_result(ctx)
        parts, skipped = choose_parts(cfg, ctx.adapter)
        for part, reason in skipped.items():
            result.findings.append(Finding(severity=Severity.INFO, evidence={"part": part},
                                           message=f"robustness part '{part}' skipped on this model: {reason}"))
        seconds: dict[str, float] = {}
        started = time.perf_counter()
        examples = self._examples(ctx, cfg, parts)
        task = load_task(ctx, cfg.multiple_choice.task, cfg.multiple_choice.limit) if MULTIPLE_CHOICE in parts else None
        lexicon = self._lexicon(ctx, cfg, parts, examples, task, result)
        seconds["setup"] = round(time.perf_counter() - started, 3)
        labels = list(ctx.adapter.labels) if examples is not None else []
        if PERTURBATIONS in parts and examples is not None:
            started = time.perf_counter()
            subset = examples.head(cfg.perturbations.limit)
            self._natural(ctx, cfg, cfg.perturbations.names, cfg.perturbations.sweep, subset.ids, subset.texts,
                          subset.labels, classifier_predictor(ctx.adapter), lexicon, result,
                          data_label=f"{subset.path.name}, n={len(subset)}", label_names=labels,
                          shown=cfg.perturbations.examples_shown)
            seconds[PERTURBATIONS] = round(time.perf_counter() - started, 3)
        if ATTACKS in parts and examples is not None:
            started = time.perf_counter()
            run_attacks(ctx, cfg.attacks, examples, lexicon.lexicon if lexicon else None, labels, result)
            seconds[ATTACKS] = round(time.perf_counter() - started, 3)
        if task is not None:
            started = time.perf_counter()
            self._natural(ctx, cfg, cfg.multiple_choice.names, cfg.multiple_choice.sweep, task.ids, task.texts,
                          task.labels, mc_predictor(ctx.adapter, task), lexicon, result,
                          data_label=f"{task.name}, n={len(task.ids)}", label_names=[c.strip() for c in task.choices],
                          shown=cfg.multiple_choice.examples_shown)
            seconds[MULTIPLE_CHOICE] = round(time.perf_counter() - started, 3)
        result.details["parts"] = {"ran": parts, "skipped": skipped, "seconds": seconds}
        result.details["lexicon"] = lexicon.details if lexicon else None
        return result

    @staticmethod
    def _examples(ctx: Context, cfg: RobustnessConfig, parts: list[str]) -> Examples | None:
        limits = [cfg.perturbations.limit if PERTURBATIONS in parts else 0,
                  cfg.attacks.limit if ATTACKS in parts else 0]
        if not any(p in parts for p in (PERTURBATIONS, ATTACKS)):
            return None
        limit = None if None in limits else max(limits)
        return load_examples(ctx.data, cfg.data, list(ctx.adapter.labels), limit=limit,
                             seed=ctx.sub_seed(SUITE_KEY, "subset"))

    @staticmethod
    def _lexicon(ctx: Context, cfg: RobustnessConfig, parts: list[str], examples: Examples | None,
                 task: McTask | None, result: SuiteResult) -> LexiconChoice | None:
        if not needs_lexicon(cfg, parts):
            return None
        texts = (examples.texts if examples is not None else []) + (task.texts if task is not None else [])
        choice = choose_lexicon(ctx, cfg.lexicon, texts, lambda: load_encoder(ctx, cfg.attacks.encoder))
        result.findings += choice.findings
        return choice

    @staticmethod
    def _natural(ctx: Context, cfg: RobustnessConfig, names: list[str], sweep: Any, ids: list[str],
                 texts: list[str], labels: Any, predict: Callable, lexicon: LexiconChoice | None,
                 result: SuiteResult, *, data_label: str, label_names: list[str], shown: int) -> None:
        lex = lexicon.lexicon if lexicon else None
        perturbations = [(build(name, lex), cfg.severity_of(name)) for name in names]
        run = evaluate(ctx, ids, texts, labels, perturbations, sweep_plan(sweep, lambda n: build(n, lex)), predict,
                       desc="robustness: perturbations")
        report_natural(run, result, data_label=data_label, label_names=label_names, examples_shown=shown, key="")
        result.details.setdefault("perturbations", {})[data_label] = {
            "n": run.n, "severity": {name: cfg.severity_of(name) for name in names},
            "changed": {c.perturbation: int(c.changed.sum()) for c in run.perturbed}}
