"""Metric names of the privacy suite and the evaluation of one attack on one model (pure)."""

from __future__ import annotations

from dataclasses import dataclass

from suites.privacy.attacks import AttackScores
from audit.results import Estimate
from audit.stats.membership import (AucResult, EmpiricalEpsilon, RocPoints, TprAtFpr, auc_with_ci, empirical_epsilon,
                                    min_nonmembers, roc_points, tpr_at_fpr, tpr_at_fpr_bootstrap)

MIA_AUC = "privacy.mia_auc"
MIA_TPR_AT_FPR = "privacy.mia_tpr_at_fpr"
EMPIRICAL_EPSILON = "privacy.empirical_epsilon"          # the one-run audit's lower bound (fine-tunes)
ATTACK_IMPLIED_EPSILON = "privacy.attack_implied_epsilon"  # one model's ROC: a heuristic, never a gate
DP_AUDIT_EPSILON = "privacy.dp_audit_epsilon"            # the multi-run audit's lower bound (probe study)
DP_AUDIT_MAX_EPSILON = "privacy.dp_audit_max_epsilon"    # the most the multi-run design could prove
PROBE_REFERENCE_ACCURACY = "privacy.probe_reference_accuracy"
DP_ACCURACY = "privacy.dp_accuracy"
DP_ACCURACY_CHANGE = "privacy.dp_accuracy_change"
CANARY_EXPOSURE = "privacy.canary_exposure"
CANARY_EXTRACTED = "privacy.canary_extracted"            # teacher-forced: every secret token is the argmax
CANARY_EXTRACTION_RATE = "privacy.canary_extraction_rate"  # greedy generation writes the secret out

MODEL_KEY = "model"        # group keys
ATTACK_KEY = "attack"
FPR_KEY = "fpr"
METHOD_KEY = "method"
TRAINER_KEY = "trainer"
REPEATS_KEY = "repeats"
SECRETS_KEY = "secrets"    # inserted (the measurement) / fresh (never inserted: the null control)
INSERTED_SECRETS, FRESH_SECRETS = "inserted", "fresh"

AUDITED = "audited"
CONTROL_NAME = "non-private control"
ROC_METHOD = "roc"
ONE_RUN_METHOD = "one_run"


def dp_name(epsilon: float) -> str:
    return f"dp eps={epsilon:g}"


@dataclass(frozen=True)
class AttackEvaluation:
    """Everything the report shows about one attack on one model."""

    model: str
    scores: AttackScores
    roc: RocPoints
    auc: AucResult
    tpr: list[TprAtFpr]                 # only the rates with >= 10 / fpr non-members
    epsilon: EmpiricalEpsilon
    skipped_fpr: tuple[float, ...] = ()  # rates too low for the number of non-members


def evaluate_attack(model: str, scores: AttackScores, *, low_fpr: list[float], delta: float,
                    confidence: float = 0.95) -> AttackEvaluation:
    s, y = scores.scores, scores.is_member
    n_non = scores.non_members.size
    usable = [f for f in low_fpr if n_non >= min_nonmembers(f)]
    return AttackEvaluation(model=model, scores=scores, roc=roc_points(s, y), auc=auc_with_ci(s, y, confidence),
                            tpr=[_with_threshold_ci(tpr_at_fpr(s, y, f, confidence), s, y, confidence) for f in usable],
                            epsilon=empirical_epsilon(s, y, delta, confidence),
                            skipped_fpr=tuple(f for f in low_fpr if f not in usable))


def _with_threshold_ci(t: TprAtFpr, s, y, confidence: float) -> TprAtFpr:
    low, high = tpr_at_fpr_bootstrap(s, y, t.target_fpr, confidence)
    ci = Estimate(value=t.tpr.value, ci_low=min(low, t.tpr.value), ci_high=max(high, t.tpr.value), n=t.tpr.n,
                  confidence=confidence, ci_method="stratified bootstrap of members and non-members, the "
                  "threshold re-chosen in each resample (1,000 resamples, percentile)")
    return TprAtFpr(tpr=ci, target_fpr=t.target_fpr, achieved_fpr=t.achieved_fpr, threshold=t.threshold,
                    n_members=t.n_members, n_nonmembers=t.n_nonmembers)
