"""Every metric name the accuracy suite emits (checked against gates and the compliance mapping)."""

from __future__ import annotations

from audit.results.names import MetricNames
from suites.accuracy.classification import ACCURACY, ECE, MACRO_F1, RECALL
from suites.accuracy.lm_eval_part import LM_EVAL_PREFIX

METRICS = MetricNames.of([ACCURACY, ECE, MACRO_F1, RECALL], families=[f"{LM_EVAL_PREFIX}."])
