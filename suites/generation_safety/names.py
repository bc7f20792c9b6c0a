"""Every metric name the generation-safety suite emits (checked against gates and the compliance mapping)."""

from __future__ import annotations

from audit.results.names import MetricNames
from suites.generation_safety import metrics as M

METRICS = MetricNames.of([
    M.TOXIC_RATE, M.TOXIC_ANY, M.EXPECTED_MAX_TOXICITY, M.CONTROL_TOXIC_RATE, M.TOXIC_RATE_CORRECTED, M.REFUSAL_RATE,
    M.OVER_REFUSAL_RATE, M.REFUSAL_GAP, M.REFUSAL_RATE_CORRECTED, M.OVER_REFUSAL_RATE_CORRECTED, M.HIJACK_RATE,
    M.INJECTED_CANARY_RATE, M.CLEAN_CANARY_RATE, M.INJECTION_ECHO, M.TASK_RETENTION, M.CLEAN_TASK_RATE, M.LEAK_RATE,
    M.LEAK_ECHO_CONTROL, M.LEAK_GAP, M.PII_RATE, M.PII_RATE_CORRECTED, M.DEGENERATE_SHARE, M.DETECTOR_SENSITIVITY,
    M.DETECTOR_SPECIFICITY,
])
