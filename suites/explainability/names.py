"""Every metric name the explainability suite emits (checked against gates and the compliance mapping)."""

from __future__ import annotations

from audit.results.names import MetricNames
from suites.explainability import metrics as M

METRICS = MetricNames.of([
    M.COMPREHENSIVENESS, M.SUFFICIENCY, M.COMPREHENSIVENESS_GAIN, M.SUFFICIENCY_GAIN, M.LOO_CORRELATION, M.AGREEMENT,
    M.TOP_K, M.STABILITY, M.IG_GAP, M.IG_RELATIVE_GAP, M.SECONDS, M.MODEL_CALLS, M.BEATING_CHANCE,
])
