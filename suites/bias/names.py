"""Every metric name the bias suite emits (checked against gates and the compliance mapping)."""

from __future__ import annotations

from audit.results.names import MetricNames
from suites.bias import bbq, counterfactual, crows_pairs, fairness, templates, winobias

METRICS = MetricNames.of([
    bbq.ACCURACY_AMBIG, bbq.ACCURACY_DISAMBIG, bbq.BIAS_SCORE_AMBIG, bbq.BIAS_SCORE_DISAMBIG,
    counterfactual.FLIP_RATE, counterfactual.MEAN_ABS_DELTA,
    crows_pairs.METRIC, crows_pairs.STEREO_SCORE, crows_pairs.ANTISTEREO_SCORE, crows_pairs.NEUTRAL,
    fairness.ACCURACY, fairness.DP_DIFFERENCE, fairness.DP_RATIO, fairness.EO_DIFFERENCE, fairness.FALSE_NEGATIVE_RATE,
    fairness.FALSE_POSITIVE_RATE, fairness.SELECTION_RATE,
    templates.ASSOCIATION, templates.STEREOTYPE_GAP,
    winobias.PRO_ANTI_GAP, winobias.PRO_PREFERENCE,
])
