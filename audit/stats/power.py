"""Power and minimum detectable effect (MDE) of the audit's verdicts (pure functions).

Why: a verdict says what it could have detected at its n. Analytic formulas where one fits:
- one proportion against a threshold: Cohen's arcsine effect h (the normal test statsmodels'
  `NormalIndPower(ratio=0)` uses);
- a mean (or any estimate with a standard error): the one-sided normal test, MDE = (z_α + z_β)·SE;
- paired proportions (McNemar): Connor's (1987) formula with the discordant-pair rate ψ.
Where no formula fits, `simulated_power` re-runs the verdict's own test on resampled, shifted copies
of the run's per-example outcomes (K draws), and `simulated_mde` bisects the shift reaching the
target power.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
from scipy import stats as sps

DEFAULT_POWER = 0.8
DEFAULT_ALPHA = 0.025           # one side of a two-sided 95 % CI: a CI-based verdict's level


def _z(p: float) -> float:
    return float(sps.norm.ppf(p))


def mde_normal(standard_error: float, *, alpha: float = DEFAULT_ALPHA, power: float = DEFAULT_POWER) -> float:
    """Smallest shift a one-sided level-α normal test with this SE detects with `power`."""
    if not math.isfinite(standard_error) or standard_error < 0:
        return float("nan")
    return (_z(1 - alpha) + _z(power)) * standard_error


def power_normal(effect: float, standard_error: float, *, alpha: float = DEFAULT_ALPHA) -> float:
    """Power of a one-sided level-α normal test against a true shift `effect` (> 0 towards the alternative)."""
    if standard_error <= 0:
        return 1.0 if effect > 0 else float(alpha)
    return float(sps.norm.cdf(effect / standard_error - _z(1 - alpha)))


def mde_mean(sd: float, n: int, *, alpha: float = DEFAULT_ALPHA, power: float = DEFAULT_POWER) -> float:
    """MDE of a mean of n per-example values with standard deviation `sd` (normal approximation)."""
    return mde_normal(sd / math.sqrt(n), alpha=alpha, power=power) if n > 0 else float("nan")


def se_from_ci(ci_low: float | None, ci_high: float | None, confidence: float = 0.95) -> float | None:
    """The standard error a (roughly symmetric) CI implies: half-width / z_{(1+conf)/2}."""
    if ci_low is None or ci_high is None or not (math.isfinite(ci_low) and math.isfinite(ci_high)):
        return None
    return (ci_high - ci_low) / (2 * _z((1 + confidence) / 2))


def arcsine_effect(p1: float, p0: float) -> float:
    """Cohen's h = 2·asin(√p1) − 2·asin(√p0) (statsmodels' proportion_effectsize)."""
    return 2 * math.asin(math.sqrt(p1)) - 2 * math.asin(math.sqrt(p0))


def power_proportion(p0: float, p1: float, n: int, *, alpha: float = DEFAULT_ALPHA) -> float:
    """Power of the one-sided test of a proportion against the threshold p0 when the truth is p1."""
    return power_normal(abs(arcsine_effect(p1, p0)) * math.sqrt(n), 1.0, alpha=alpha) if n > 0 else 0.0


def mde_proportion(p0: float, n: int, *, alpha: float = DEFAULT_ALPHA, power: float = DEFAULT_POWER,
                   toward: str = "lower") -> float:
    """Smallest |p1 − p0| a one-sided test of a proportion against the threshold p0 detects at n.

    `toward` is the side the violation lies on ("lower": p1 < p0, a `min` gate; "higher": a `max` gate).
    NaN when no p1 in [0, 1] on that side is detectable (n too small).
    """
    if n <= 0 or not 0 <= p0 <= 1:
        return float("nan")
    h = (_z(1 - alpha) + _z(power)) / math.sqrt(n)
    phi0 = math.asin(math.sqrt(p0))
    phi1 = phi0 - h / 2 if toward == "lower" else phi0 + h / 2
    if not 0 <= phi1 <= math.pi / 2:
        return float("nan")
    return abs(math.sin(phi1) ** 2 - p0)


def power_paired_proportions(delta: float, discordant: float, n: int, *, alpha: float = DEFAULT_ALPHA) -> float:
    """Power of the one-sided McNemar test of a paired difference `delta` with discordant rate ψ (Connor 1987).

    n·δ² = [z_α·√ψ + z_β·√(ψ − δ²)]²  solved for z_β.
    """
    psi = max(discordant, abs(delta))
    if n <= 0 or psi <= 0:
        return 0.0
    spread = math.sqrt(max(psi - delta ** 2, 1e-12))
    return float(sps.norm.cdf((abs(delta) * math.sqrt(n) - _z(1 - alpha) * math.sqrt(psi)) / spread))


def mde_paired_proportions(discordant: float, n: int, *, alpha: float = DEFAULT_ALPHA,
                           power: float = DEFAULT_POWER) -> float:
    """Smallest paired difference of proportions McNemar detects at n with discordant rate ψ (bisection;
    ψ observed in two identical runs is 0, and a planted change δ then makes ψ = δ)."""
    if n <= 0:
        return float("nan")
    # a change of δ makes at least δ of the pairs discordant, so ψ is at least δ (power_paired_proportions)
    low, high = 0.0, 1.0
    if power_paired_proportions(high, discordant, n, alpha=alpha) < power:
        return float("nan")
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if power_paired_proportions(mid, discordant, n, alpha=alpha) < power else (low, mid)
    return high


Test = Callable[[np.ndarray, np.ndarray], bool]          # (baseline, candidate) -> flagged?
Plant = Callable[[np.ndarray, float, np.random.Generator], np.ndarray]   # (values, size, rng) -> shifted


def simulated_power(values: np.ndarray, plant: Plant, size: float, test: Test, *, draws: int = 200,
                    seed: int = 0, null_noise: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None
                    ) -> float:
    """Share of K draws in which `test(baseline, plant(baseline, size))` flags, the baseline being a
    bootstrap resample of the run's own per-example `values` (`null_noise` may perturb the candidate)."""
    rng = np.random.default_rng(seed)
    values = np.asarray(values, float)
    hits = 0
    for _ in range(draws):
        base = values[rng.integers(0, values.size, values.size)]
        cand = plant(base, size, rng)
        if null_noise is not None:
            cand = null_noise(cand, rng)
        hits += bool(test(base, cand))
    return hits / draws


def simulated_mde(values: np.ndarray, plant: Plant, test: Test, *, max_size: float, draws: int = 100,
                  power: float = DEFAULT_POWER, seed: int = 0, steps: int = 8) -> float:
    """Smallest planted size in (0, max_size] whose simulated power reaches `power` (bisection; NaN if none)."""
    if simulated_power(values, plant, max_size, test, draws=draws, seed=seed) < power:
        return float("nan")
    low, high = 0.0, max_size
    for _ in range(steps):
        mid = (low + high) / 2
        if simulated_power(values, plant, mid, test, draws=draws, seed=seed) >= power:
            high = mid
        else:
            low = mid
    return high
