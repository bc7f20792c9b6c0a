"""One-run privacy audit of Steinke, Nasr & Jagielski, "Privacy Auditing with One (1) Training Run"
(NeurIPS 2023, arXiv 2305.08846): Corollary 5.4 and the Appendix D procedure, transcribed exactly.

Each of m canaries is included in training independently with probability ½. The auditor guesses
"in" for the k+ highest scores, "out" for the k− lowest and abstains on the rest: r = k+ + k−
guesses, v of them correct. Under (ε, δ)-DP the number of correct guesses is stochastically
dominated by Binomial(r, e^ε/(1+e^ε)) up to a δ-term, which gives the p-value below; the ε lower
bound is the largest ε that the observation still rejects. A single training run suffices because
the m inclusions are independent coins (no group privacy is paid).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats as sps
from scipy.special import expit

BISECTION_STEPS = 30  # as in the paper's get_eps_audit


@dataclass(frozen=True)
class OneRunAudit:
    epsilon: float  # lower bound: the mechanism is not (ε', δ)-DP for ε' < epsilon, at 1 − p
    m: int
    r: int
    v: int
    delta: float
    p: float


def _check(m: int, r: int, v: int, delta: float) -> None:
    if not 0 <= v <= r <= m:
        raise ValueError(f"need 0 <= v <= r <= m, got m={m}, r={r}, v={v}")
    if not 0.0 <= delta <= 1.0:
        raise ValueError(f"delta must be in [0, 1], got {delta}")


def p_value(m: int, r: int, v: int, epsilon: float, delta: float) -> float:
    """P-value of ≥ v correct out of r guesses under the null "(ε, δ)-DP" (paper's p_value_DP_audit).

    p = P[Binom(r, q) ≥ v] + 2mδ · max_{1≤i≤v} P[v > Binom(r, q) ≥ v − i] / i, q = e^ε/(1+e^ε),
    capped at 1. With δ = 0 it is the plain binomial tail: ε-DP guessing is no better than ε-DP
    randomized response.
    """
    _check(m, r, v, delta)
    if epsilon < 0:
        raise ValueError(f"epsilon must be ≥ 0, got {epsilon}")
    q = float(expit(epsilon))
    beta = float(sps.binom.sf(v - 1, r, q))  # P[Binom(r, q) >= v]
    alpha = 0.0
    if delta > 0 and v > 0:
        i = np.arange(1, v + 1)
        window = np.cumsum(sps.binom.pmf(v - i, r, q))  # P[v > Binom >= v - i]
        alpha = float(np.max(window / i))
    return min(beta + alpha * delta * 2 * m, 1.0)


def epsilon_lower_bound(m: int, r: int, v: int, delta: float, p: float = 0.05) -> float:
    """Largest ε whose p-value stays below `p` (paper's get_eps_audit: grow, then 30 bisections).

    0 when even ε = 0 is not rejected (e.g. guesses at chance level). The bisection keeps the
    invariant p_value(lo) < p ≤ p_value(hi), so the result is conservative to within hi/2^30.
    """
    _check(m, r, v, delta)
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p}")
    lo, hi = 0.0, 1.0
    while p_value(m, r, v, hi, delta) < p:
        hi += 1.0
    for _ in range(BISECTION_STEPS):
        mid = (lo + hi) / 2
        if p_value(m, r, v, mid, delta) < p:
            lo = mid
        else:
            hi = mid
    return lo


def guesses_from_scores(scores: Sequence[float] | np.ndarray, included: Sequence[bool] | np.ndarray,
                        k_plus: int, k_minus: int) -> tuple[int, int]:
    """(r, v): guess "in" for the k_plus highest scores, "out" for the k_minus lowest, abstain otherwise.

    Ties are broken by a stable sort (original order); k_plus + k_minus may not exceed m, so no
    canary is guessed twice.
    """
    s = np.asarray(scores, dtype=float)
    inc = np.asarray(included, dtype=bool)
    if s.ndim != 1 or s.shape != inc.shape:
        raise ValueError(f"scores and included must be 1-d and aligned, got {s.shape} and {inc.shape}")
    if k_plus < 0 or k_minus < 0 or k_plus + k_minus > s.size:
        raise ValueError(f"need k_plus, k_minus ≥ 0 and k_plus + k_minus ≤ m = {s.size}")
    order = np.argsort(-s, kind="mergesort")  # highest first
    correct_in = int(inc[order[:k_plus]].sum())
    correct_out = int((~inc[order[s.size - k_minus:]]).sum()) if k_minus else 0
    return k_plus + k_minus, correct_in + correct_out


def audit_one_run(scores: Sequence[float] | np.ndarray, included: Sequence[bool] | np.ndarray,
                  k_plus: int, k_minus: int, delta: float, p: float = 0.05) -> OneRunAudit:
    """The whole audit from canary scores: guesses, then the ε lower bound at confidence 1 − p.

    k_plus and k_minus must be fixed before looking at the scores (or the bound loses its level).
    """
    r, v = guesses_from_scores(scores, included, k_plus, k_minus)
    m = int(np.asarray(scores).size)
    return OneRunAudit(epsilon=epsilon_lower_bound(m, r, v, delta, p), m=m, r=r, v=v, delta=delta, p=p)


def delta_zero_bound_all_correct(r: int, p: float = 0.05) -> float:
    """Closed form for δ = 0 and v = r: q^r = p, so ε = logit(p^(1/r)) — the most r guesses can show."""
    q = p ** (1.0 / r)
    return math.log(q / (1.0 - q))
