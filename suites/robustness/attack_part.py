"""The attack part: word and character attacks on a classifier, their metrics, views and export.

Each attack runs example by example inside a QueryMeter scope whose budget counts classifier
requests; the sentence encoder has its own meter. After the search, similarity is filled in where
the attack did not constrain it, every success is re-verified in one fresh batch, and the stricter
validity checks are applied.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from audit.models.adapters.metering import QueryMeter
from audit.errors import ConfigError
from audit.results import Finding, Severity, SuiteResult
from audit.run.suite import Context
from suites.robustness import views
from suites.robustness.attack_report import adversarial_examples, report_attack, report_combined
from suites.robustness.attacks.char import CharAttack
from suites.robustness.attacks.run import AttackRecord, fill_similarity, run_attack, verify
from suites.robustness.attacks.search import SUCCEEDED
from suites.robustness.attacks.validity import char_validity, word_validity
from suites.robustness.attacks.word import WORD_ATTACK, WordAttack
from suites.robustness.config import AttacksConfig
from suites.robustness.data import Examples
from suites.robustness.export import EXPORT_FILE, write_jsonl
from suites.robustness.lexicon import Lexicon
from suites.robustness.metrics import ATTACK_SUCCESS_RATE
from suites.robustness.natural import SUITE_KEY

ENCODER_NAME = "sentence-encoder"


def load_encoder(ctx: Context, ref: str) -> Any:
    if ctx.models is None:
        raise ConfigError("robustness.attacks.encoder: this run has no model factory to load the sentence encoder")
    return ctx.models.load(ENCODER_NAME, ref, kind="encoder")


def build_attacks(ctx: Context, cfg: AttacksConfig, lexicon: Lexicon | None,
                  encoder_meter: QueryMeter) -> list[Any]:
    attacks: list[Any] = []
    if cfg.word is not None and lexicon is not None:
        attacks.append(WordAttack(lexicon, cfg.word, encoder_meter.adapter))
    if cfg.char is not None:
        attacks.append(CharAttack(cfg.char, lambda example_id, index: ctx.rng(SUITE_KEY, "attack.char", example_id,
                                                                              index)))
    return attacks


def check_validity(records: list[AttackRecord], attack: Any, lexicon: Lexicon | None) -> None:
    for record in records:
        if record.status != SUCCEEDED:
            continue
        if attack.name == WORD_ATTACK and lexicon is not None:
            record.validity = word_validity([(c.old, c.new) for c in record.changes], record.similarity,
                                            attack.config.strict_similarity, lexicon)
        else:
            record.validity = char_validity(record.similarity, attack.config.strict_similarity)


def results_relative(path: Path, artifacts_dir: Path) -> str:
    """`path` relative to the run folder holding results.json (artifacts live in OUT/artifacts/JOB/)."""
    run_dir = artifacts_dir.parent.parent
    try:
        return path.resolve().relative_to(run_dir.resolve()).as_posix()
    except ValueError:
        return str(path)


def run_attacks(ctx: Context, cfg: AttacksConfig, examples: Examples, lexicon: Lexicon | None,
                label_names: list[str], result: SuiteResult) -> list[AttackRecord]:
    subset = examples.head(cfg.limit)
    encoder = load_encoder(ctx, cfg.encoder)
    meter, encoder_meter = QueryMeter(ctx.adapter), QueryMeter(encoder)
    every: list[AttackRecord] = []
    rows, details = [], {}
    by_attack: dict[str, list[AttackRecord]] = {}
    for attack in build_attacks(ctx, cfg, lexicon, encoder_meter):
        records = run_attack(attack, subset, meter, encoder_meter, ctx.progress)
        fill_similarity(records, encoder)
        unverified = verify(records, ctx.adapter)
        check_validity(records, attack, lexicon)
        row, info = report_attack(ctx, attack, records, subset, result)
        rows.append(row)
        details[attack.name] = {**info, "unverified": unverified, "budget": attack.budget,
                                "config": attack.config.model_dump()}
        if unverified:
            result.findings.append(Finding(
                severity=Severity.WARN, metric=ATTACK_SUCCESS_RATE,
                message=f"{attack.name} attack: {unverified} adversarial example(s) did not flip the prediction "
                        "when re-scored in a fresh batch; they count as failures",
                evidence={"attack": attack.name, "unverified": unverified}))
        every += records
        by_attack[attack.name] = records
    report_combined(by_attack, subset, result)
    result.views.append(views.table(
        "adversarial attacks", ["attack", "attacked / examples", "success rate", "valid success rate",
                                "accuracy: clean → attacked", "mean queries", "model queries / cache hits",
                                "words changed", "similarity"], rows,
        caption="Success rate: share of the correctly classified (attacked) examples whose prediction the attack "
                "flipped; valid: the adversarial example also passes the stricter checks (Morris et al., 2020). "
                "Queries are classifier requests per attacked example (the budget counts them); model queries are "
                "those the result cache did not answer."))
    shown = adversarial_examples(every, label_names, cfg.examples_shown)
    if shown:
        result.views.append(views.example_list(
            "successful adversarial examples", shown,
            caption="The adversarial text with the changed words highlighted (hover: original word)."))
    result.examples += adversarial_examples(every, label_names, len(every))     # every success, for recomputation
    details["subset"] = {"ids": list(subset.ids), "limit": cfg.limit}
    if cfg.export:
        path = ctx.artifacts_dir / EXPORT_FILE
        details["export"] = {"path": results_relative(path, ctx.artifacts_dir), "relative_to": "results.json",
                             "rows": write_jsonl(path, every, label_names)}
    details["encoder"] = {"ref": cfg.encoder, **encoder_meter.totals.as_dict()}
    details["classifier"] = meter.totals.as_dict()
    result.details["attacks"] = details
    return every
