"""Holm and Benjamini–Hochberg adjusted p-values against statsmodels (an independent implementation)."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from audit.stats.multiple_testing import adjust, benjamini_hochberg, holm


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize(("ours", "theirs"), [(holm, "holm"), (benjamini_hochberg, "fdr_bh")])
def test_matches_statsmodels(seed, ours, theirs):
    rng = np.random.default_rng(seed)
    p = np.concatenate([rng.random(20), rng.random(5) * 1e-3, [0.05, 0.05, 1.0]])   # ties and extremes
    rng.shuffle(p)
    expected = multipletests(p, method=theirs)[1]
    assert np.allclose(ours(p), expected, rtol=0, atol=1e-12)


def test_textbook_values_and_edge_cases():
    # Holm by hand: sorted 0.01, 0.02, 0.03 -> 3×0.01, max(0.03, 2×0.02), max(0.04, 1×0.03)
    assert holm([0.03, 0.01, 0.02]) == pytest.approx([0.04, 0.03, 0.04])
    # BH by hand: 3×0.01/1, min(3×0.02/2, 0.03), 3×0.03/3
    assert benjamini_hochberg([0.03, 0.01, 0.02]) == pytest.approx([0.03, 0.03, 0.03])
    assert holm([]) == [] and benjamini_hochberg([]) == []
    assert adjust([0.2], "none") == [0.2]
    with pytest.raises(ValueError, match="unknown correction"):
        adjust([0.1], "bonferonni")
