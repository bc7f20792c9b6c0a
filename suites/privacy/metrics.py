"""Metric names of the privacy suite and the evaluation of one attack on one model (pure)."""

from __future__ import annotations

from dataclasses import dataclass

from suites.privacy.attacks import AttackScores
from audit.stats.membership import (AucResult, EmpiricalEpsilon, RocPoints, TprAtFpr, auc_with_ci, empirical_epsilon,
                                roc_points, tpr_at_fpr)

MIA_AUC = "privacy.mia_auc"
MIA_TPR_AT_FPR = "privacy.mia_tpr_at_fpr"
EMPIRICAL_EPSILON = "privacy.empirical_epsilon"
DP_ACCURACY = "privacy.dp_accuracy"
DP_ACCURACY_CHANGE = "privacy.dp_accuracy_change"
CANARY_EXPOSURE = "privacy.canary_exposure"
CANARY_EXTRACTED = "privacy.canary_extracted"

MODEL_KEY = "model"        # group keys
ATTACK_KEY = "attack"
FPR_KEY = "fpr"
METHOD_KEY = "method"
REPEATS_KEY = "repeats"

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
    tpr: list[TprAtFpr]
    epsilon: EmpiricalEpsilon


def evaluate_attack(model: str, scores: AttackScores, *, low_fpr: list[float], delta: float,
                    confidence: float = 0.95) -> AttackEvaluation:
    s, y = scores.scores, scores.is_member
    return AttackEvaluation(model=model, scores=scores, roc=roc_points(s, y), auc=auc_with_ci(s, y, confidence),
                            tpr=[tpr_at_fpr(s, y, f, confidence) for f in low_fpr],
                            epsilon=empirical_epsilon(s, y, delta, confidence))
