"""Every interval, test, correction and bound the audit uses, in one place (pure numpy/scipy functions).

- intervals: bootstrap, Wilson (incl. design-effect adjusted), Clopper–Pearson;
- paired: exact McNemar, paired bootstrap of a mean or a distance from an ideal;
- multiple_testing: Holm and Benjamini–Hochberg;
- ranks: average ranks and Spearman;
- permutation: the sign-flip permutation test on paired differences;
- membership: ROC, AUC with a DeLong CI, TPR at a low FPR (with a threshold-aware bootstrap CI), the
  attack-implied ε (a heuristic on one model);
- dp_audit: the one-run DP audit bound (Steinke et al. 2023);
- multi_run_audit: the ε lower bound from many independent training runs (Jagielski et al. 2020).

The common names are re-exported here: `from audit.stats import wilson_interval`.
"""

from audit.stats.intervals import (DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES, bootstrap_estimate, bootstrap_mean,
                                   clopper_pearson, clopper_pearson_upper, clustered_wilson, design_effect,
                                   is_binary, kish_cluster_size_n, percentile_bounds, wilson_interval,
                                   wilson_proportion, z_value)
from audit.stats.multiple_testing import adjust, benjamini_hochberg, holm
from audit.stats.paired import (PairedComparison, agresti_min_interval, bootstrap_p_value, mcnemar,
                                paired_bootstrap, paired_bootstrap_distance)
from audit.stats.permutation import SignFlipResult, min_n_for_level, sign_flip_test, smallest_sign_flip_p
from audit.stats.ranks import rankdata, spearman

__all__ = [
    "DEFAULT_CONFIDENCE", "DEFAULT_RESAMPLES", "PairedComparison", "adjust", "agresti_min_interval",
    "benjamini_hochberg", "bootstrap_estimate", "bootstrap_mean", "bootstrap_p_value", "clopper_pearson",
    "clopper_pearson_upper", "clustered_wilson", "design_effect", "holm", "is_binary", "kish_cluster_size_n",
    "mcnemar", "min_n_for_level", "paired_bootstrap", "paired_bootstrap_distance", "percentile_bounds", "rankdata", "SignFlipResult", "sign_flip_test", "smallest_sign_flip_p",
    "spearman",
    "wilson_interval", "wilson_proportion", "z_value",
]
