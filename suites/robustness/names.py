"""Every metric name the robustness suite emits (checked against gates and the compliance mapping)."""

from __future__ import annotations

from audit.results.names import MetricNames
from suites.robustness import metrics as M

METRICS = MetricNames.of([
    M.PERTURB_ACCURACY, M.PERTURB_CHANGE, M.ATTACK_ACCURACY, M.ATTACK_SUCCESS_RATE, M.ATTACK_ACCURACY_UNDER_ATTACK,
    M.ATTACK_VALID_SUCCESS_RATE, M.ATTACK_VALID_SHARE, M.ATTACK_QUERIES, M.ATTACK_MODEL_QUERIES,
    M.ATTACK_WORDS_CHANGED, M.ATTACK_SIMILARITY,
])
