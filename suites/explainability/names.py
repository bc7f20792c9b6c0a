"""Every metric name the explainability suite emits (checked against gates and the compliance mapping)."""

from __future__ import annotations

from audit.results.names import MetricNames
from suites.explainability import assemble as M
from suites.explainability.precision import MASKING_AGREEMENT, SEED_STABILITY
from suites.explainability.randomisation import RANDOMISATION_SPEARMAN
from suites.explainability.shortcut import SHORTCUT_HIT_RATE, SHORTCUT_SUCCESS

METRICS = MetricNames.of([
    M.COMPREHENSIVENESS, M.SUFFICIENCY, M.COMPREHENSIVENESS_GAIN, M.SUFFICIENCY_GAIN, M.LOO_CORRELATION, M.AGREEMENT,
    M.TOP_K, M.STABILITY, M.IG_GAP, M.IG_RELATIVE_GAP, M.SECONDS, M.MODEL_CALLS, M.NULL_COMPREHENSIVENESS,
    RANDOMISATION_SPEARMAN, SHORTCUT_HIT_RATE, SHORTCUT_SUCCESS, MASKING_AGREEMENT, SEED_STABILITY,
])
