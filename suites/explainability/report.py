"""Assemble the suite result: metrics with CIs, outcomes, verdict findings, views and details."""

from __future__ import annotations

import numpy as np

from audit.models.adapters.base import ModelKind
from audit.results import Finding, Severity, SuiteResult
from audit.run.suite import Context
from suites.explainability import assemble as M
from suites.explainability import views as V
from suites.explainability.attention import query_position
from suites.explainability.chance_verdicts import add_gains, chance_findings, chance_verdicts
from suites.explainability.config import ATTENTION, INTEGRATED_GRADIENTS, RANDOM, SHAP, ExplainabilityConfig
from suites.explainability.trust_scores import EVALUATION, Evaluation
from suites.explainability.methods import MethodRuns
from suites.explainability.scoring import Scorer
from suites.explainability.subjects import Subject
from suites.explainability.tokens import shap_cluster_tokens

MAX_HEATMAPS = 20
SUITE = "explainability"


def build_report(result: SuiteResult, *, ctx: Context, cfg: ExplainabilityConfig, scorer: Scorer, runs: MethodRuns,
                 ev: Evaluation, originals: list[int], predicted: list[int], variants: dict[int, int],
                 methods: list[str], random_ranking: dict[int, np.ndarray]) -> None:
    unit = scorer.objective.unit

    def seed(*keys: object) -> int:
        return ctx.sub_seed(SUITE, *keys)

    M.add_faithfulness(result, ev, unit, seed)
    verdicts = chance_verdicts(ev, methods, alpha=cfg.chance.alpha, min_gain=cfg.chance.min_gain,
                               min_examples=cfg.chance.min_examples, seed=seed)
    add_gains(result, ev, verdicts, unit, seed)
    result.findings += chance_findings(verdicts, unit, cfg.chance.alpha)
    M.add_agreement(result, ev, cfg.top_k, seed)
    M.add_stability(result, ev, seed)
    if INTEGRATED_GRADIENTS in runs.scores:
        ig = [runs.ig[i] for i in originals]
        result.findings += M.add_ig(result, ev.example_ids, np.array([d.gap for d in ig]),
                                    np.array([d.relative_gap for d in ig]), unit, seed,
                                    runs.excluded.get(INTEGRATED_GRADIENTS))
    costs = _costs(scorer, runs, methods)
    evaluation_cost = _evaluation_cost(scorer)
    M.add_costs(result, costs, {m: np.array(c["evaluations_per_subject"]) for m, c in costs.items()}, seed)
    result.findings += _notes(scorer, originals, variants, cfg)
    _views(result, ctx, cfg, scorer, runs, ev, originals, predicted, methods, costs, verdicts, unit)
    result.details.update(_details(cfg, scorer, runs, ev, originals, predicted, variants, methods,
                                   random_ranking, costs, unit, ctx))
    result.details["costs"]["faithfulness_metrics"] = evaluation_cost


def _costs(scorer: Scorer, runs: MethodRuns, methods: list[str]) -> dict[str, dict]:
    out = {}
    for method in methods:
        explained = list(runs.scores[method])
        per_subject = [scorer.costs[(method, scorer.subjects[i].id)] for i in explained]
        out[method] = {"explanations": len(explained), "seconds": round(runs.seconds[method], 4),
                       "requests": int(sum(c.requests for c in per_subject)),
                       "evaluations": int(sum(c.evaluations for c in per_subject)),
                       "evaluations_per_subject": [c.evaluations for c in per_subject]}
    return out


def _evaluation_cost(scorer: Scorer) -> dict[str, int]:
    """Masked inputs the faithfulness metrics asked for, and how many the model had to compute."""
    evaluation = [c for (m, _), c in scorer.costs.items() if m == EVALUATION]
    return {"requests": int(sum(c.requests for c in evaluation)),
            "evaluations": int(sum(c.evaluations for c in evaluation))}


def _notes(scorer: Scorer, originals: list[int], variants: dict[int, int], cfg: ExplainabilityConfig) -> list[Finding]:
    notes = []
    cut = [scorer.subjects[i].id for i in originals if scorer.subjects[i].units.truncated]
    if cut:
        notes.append(Finding(severity=Severity.INFO,
                             message=f"{len(cut)} explained input(s) were longer than the model's max_length and "
                                     "were cut; their explanations cover the tokens kept",
                             evidence={"examples": cut}))
    if cfg.stability.enabled and len(variants) < len(originals):
        missing = [scorer.subjects[i].id for i in originals if i not in variants]
        no_word = "no word of 4+ letters to put a typo in"
        why = (f"stability.n = {cfg.stability.n}: only the shortest examples get a variant, or {no_word}"
               if cfg.stability.n else f"{no_word} for the others")
        notes.append(Finding(severity=Severity.INFO,
                             message=f"stability measured on {len(variants)} of {len(originals)} examples ({why})",
                             evidence={"examples": missing}))
    return notes


def _views(result, ctx, cfg, scorer, runs, ev, originals, predicted, methods, costs, verdicts, unit) -> None:
    names = _predicted_names(ctx, scorer, originals, predicted)
    full = ev.full
    by_name = {(m.name, m.group_key): m for m in result.metrics}

    def grouped(name: str, method: str):
        return by_name.get((name, f"method={method}"))

    beats = {v.method: v.verdict.value for v in verdicts}
    summary = []
    for method in methods + [RANDOM]:
        cells = [grouped(n, method) for n in (M.COMPREHENSIVENESS, M.SUFFICIENCY, M.LOO_CORRELATION, M.STABILITY)]
        summary.append([method] + [None if c is None else round(c.value, 4) for c in cells]
                       + ["—" if method == RANDOM else beats.get(method, "excluded")])
    result.views.append(V.summary_table(summary, unit, len(originals)))
    for name, title, caption in (
            (M.COMPREHENSIVENESS, "Comprehensiveness AOPC per method (higher is better)",
             "Drop of the explained output when the top-ranked tokens are removed; 'random' is the chance level."),
            (M.SUFFICIENCY, "Sufficiency AOPC per method (lower is better)",
             "Drop of the explained output when only the top-ranked tokens are kept."),
            (M.LOO_CORRELATION, "Rank correlation with leave-one-out drops",
             "Spearman correlation with the drop from removing each token alone."),
            (M.STABILITY, "Stability under a typo (Spearman of word attributions)",
             "1: the typo in the least important word leaves the ranking unchanged.")):
        bars = [m for m in (grouped(name, x) for x in methods + [RANDOM]) if m is not None]
        if bars:
            result.views.append(V.metric_bars(title, bars, caption + " 95% bootstrap CIs over examples.",
                                              unit if name in (M.COMPREHENSIVENESS, M.SUFFICIENCY) else None))
    if len(methods) > 1:
        pairs = {(m.group["method_a"], m.group["method_b"]): m.value for m in result.metrics
                 if m.name == M.AGREEMENT and m.group}
        result.views.append(V.agreement_matrix([m for m in methods if m not in runs.excluded], pairs))
    result.views.append(V.cost_table([[m, c["explanations"], round(c["seconds"] / max(1, c["explanations"]), 4),
                                       round(c["evaluations"] / max(1, c["explanations"]), 1),
                                       round(c["requests"] / max(1, c["explanations"]), 1)]
                                      for m, c in costs.items()]))
    for position, i in enumerate(originals[:MAX_HEATMAPS]):
        result.views.append(V.token_heatmap(scorer.subjects[i], {m: runs.scores[m][i] for m in methods},
                                            float(full[position]), unit, names[position]))
    if ATTENTION in runs.scores and originals:
        first = originals[0]
        attention_map = runs.attention_maps[first]
        query = query_position(ctx.adapter.kind, len(attention_map.tokens))
        result.views += V.attention_views(scorer.subjects[first], attention_map, runs.rollouts[first],
                                          cfg.attention.view_layer, cfg.attention.view_head, query)


def _predicted_names(ctx: Context, scorer: Scorer, originals: list[int], predicted: list[int]) -> list[str]:
    if ctx.adapter.kind == ModelKind.CAUSAL_LM:
        return [scorer.subjects[i].target_name if p == scorer.subjects[i].target else f"choice {p}"
                for i, p in zip(originals, predicted)]
    labels = list(ctx.adapter.labels)
    return [labels[p] for p in predicted]


def _details(cfg, scorer, runs, ev, originals, predicted, variants, methods, random_ranking, costs, unit,
             ctx) -> dict:
    full = ev.full
    examples = []
    for position, i in enumerate(originals):
        subject = scorer.subjects[i]
        entry = {"id": subject.id, "text": subject.units.text, "target": subject.target_name,
                 "target_index": subject.target, "predicted_index": predicted[position], "gold_index": subject.gold,
                 "f_x": float(full[position]), "truncated": subject.units.truncated, "tokens": subject.units.tokens,
                 "token_ids": list(subject.units.feature_ids),
                 "scores": {m: runs.scores[m][i].tolist() for m in methods},
                 "random_scores": random_ranking[i].tolist(), **_recompute_inputs(runs, subject, i)}
        if i in runs.ig:
            entry["ig"] = vars(runs.ig[i])
        v = variants.get(i)
        if v is not None:
            variant = scorer.subjects[v]
            entry["variant"] = {"id": variant.id, "text": variant.units.text, "tokens": variant.units.tokens,
                                "token_ids": list(variant.units.feature_ids),
                                "scores": {m: runs.scores[m][v].tolist() for m in methods if v in runs.scores[m]},
                                **_recompute_inputs(runs, variant, v)}
        examples.append(entry)
    return {
        "model_kind": ctx.adapter.kind.value,
        "explained_output": "log p(chosen | prompt) - logsumexp over the choices" if unit == "nats"
        else "p(target | text)", "unit": unit, "methods": methods, "n_examples": len(originals),
        "masking": cfg.masking.value, "faithfulness_masking": "remove", "only_positive": cfg.only_positive,
        "budgets": {"shap_max_evals": "resolve every leaf" if cfg.shap.max_evals is None else cfg.shap.max_evals,
                    "lime_num_samples": cfg.lime.num_samples,
                    "ig_steps": cfg.integrated_gradients.steps, "ig_max_steps": cfg.integrated_gradients.max_steps,
                    "ig_target_gap": cfg.integrated_gradients.target_gap,
                    "ig_baseline": cfg.integrated_gradients.baseline},
        "settings": settings(cfg, ctx),
        "faithfulness_grid": cfg.faithfulness_grid, "chance": cfg.chance.model_dump(),
        "excluded": dict(runs.excluded),
        "costs": {m: {k: v for k, v in c.items() if k != "evaluations_per_subject"} for m, c in costs.items()},
        "adapter_calls": scorer.adapter_calls, "examples": examples,
    }


def _recompute_inputs(runs: MethodRuns, subject: Subject, i: int) -> dict:
    """What a third party needs besides the settings to rerun shap and lime on this input: the seed of
    each sampled method and the token strings shap's partition tree was built from."""
    out: dict = {"seeds": {m: seeds[i] for m, seeds in runs.seeds.items() if i in seeds}}
    if SHAP in runs.scores and i in runs.scores[SHAP]:
        out["shap_tree_tokens"] = shap_cluster_tokens(subject.units)
        if i in runs.shap_info:
            out["shap"] = dict(runs.shap_info[i])
    return out


def settings(cfg: ExplainabilityConfig, ctx: Context) -> dict:
    """Every setting that changes a number, for a third party to recompute them."""
    adapter = ctx.adapter
    return {
        "masking": cfg.masking.value, "faithfulness_masking": "remove",
        "features": "examples[].token_ids: the tokenizer's ids of the text with the special tokens left out; "
                    "a masked input keeps every special token and drops (masking 'remove') or replaces by the mask "
                    "token (masking 'mask') the hidden features",
        "shap": {"estimator": f"exact Shapley (enumeration) up to {cfg.shap.exact_max_units} tokens, else shap "
                              "PartitionExplainer (Owen values)",
                 "max_evals": cfg.shap.max_evals, "max_evals_cap": cfg.shap.max_evals_cap,
                 "exact_max_units": cfg.shap.exact_max_units, "batch_size": cfg.shap.batch_size,
                 "per_example": "examples[].shap: the estimator ('exact': Shapley values over all 2^n "
                                "coalitions, as shap's ExactExplainer with an Independent masker gives them; "
                                "'partition': the max_evals it was given)",
                 "tree": "shap.maskers._text.partition_tree(examples[].shap_tree_tokens, []) with column 2 set "
                         "to column 3 / its max; the tokens are the features' strings, word pieces marked '##' as "
                         "shap's Text masker marks them",
                 "special_tokens_in_clustering": False,
                 "differs_from_shap_text_masker": "the tree has no [CLS]/[SEP] leaves (shap's Text masker includes "
                                                  "the special tokens); features are token ids, not re-tokenized "
                                                  "strings",
                 "call": "PartitionExplainer(f, masker over n features with that clustering)(ones((1, n)), "
                         "max_evals=examples[].shap.max_evals, batch_size=batch_size, silent=True); f maps an "
                         "(m, n) 0/1 keep matrix to p(target_index | masked input)",
                 "tie_breaking": "numpy global RNG seeded per explanation: np.random.seed(examples[].seeds.shap "
                                 "% 2**32) before the call"},
        "lime": {"num_samples": cfg.lime.num_samples, "kernel_width": cfg.lime.kernel_width,
                 "feature_selection": "none", "bow": False, "kernel": "lime's exponential kernel on cosine distance",
                 "random_state": "examples[].seeds.lime % 2**32",
                 "document": "one placeholder word per feature, 't0 t1 ... t{n-1}' (lime's default split); "
                             "classifier_fn reads the surviving placeholders back as the keep-vector and returns one "
                             "column, f; the weights are local_exp[0] with num_features=n"},
        "integrated_gradients": cfg.integrated_gradients.model_dump(),
        "model": {"batch_size": getattr(adapter, "batch_size", None), "dtype": str(getattr(adapter, "dtype", None)),
                  "device": str(getattr(adapter, "device", None)), "max_length": getattr(adapter, "max_length", None)},
        "chance_null": "one seeded permutation of each method's own scores per example; exact sign-flip test "
                       "(Monte-Carlo above 16 examples), Holm across methods",
    }
