"""Every metric name the privacy suite emits (checked against gates and the compliance mapping)."""

from __future__ import annotations

from audit.results.names import MetricNames
from suites.privacy import metrics as M

METRICS = MetricNames.of([
    M.MIA_AUC, M.MIA_TPR_AT_FPR, M.EMPIRICAL_EPSILON, M.ATTACK_IMPLIED_EPSILON, M.DP_AUDIT_EPSILON,
    M.DP_AUDIT_MAX_EPSILON, M.PROBE_REFERENCE_ACCURACY, M.DP_ACCURACY, M.DP_ACCURACY_CHANGE, M.CANARY_EXPOSURE,
    M.CANARY_EXTRACTED, M.CANARY_EXTRACTION_RATE,
])
