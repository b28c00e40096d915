"""The statistics the report rests on, from summary figures alone (mean, stdev, n per cell):
Student's t critical value, the two-sample t-test pyperf uses, and relative times with
their 95% intervals. scipy is not a dependency, so the t distribution is computed here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

CONFIDENCE = 0.95


def _t_central_probability(t: float, df: int) -> float:
    """P(|T| < t) for Student's T with `df` degrees of freedom (Abramowitz & Stegun 26.7.3
    and 26.7.4: a finite series for whole df, so exact to rounding for any df)."""
    theta = math.atan(t / math.sqrt(df))
    sin, cos_squared = math.sin(theta), math.cos(theta) ** 2
    if df % 2 == 0:
        term = total = 1.0
        for k in range(2, df, 2):
            term *= cos_squared * (k - 1) / k
            total += term
        return sin * total
    term = math.cos(theta)
    total = term if df > 1 else 0.0
    for k in range(3, df, 2):
        term *= cos_squared * (k - 1) / k
        total += term
    return 2 / math.pi * (theta + sin * total)


@lru_cache(maxsize=None)
def t_critical(df: int, confidence: float = CONFIDENCE) -> float:
    """The two-sided critical value t such that P(|T| < t) = confidence."""
    if df < 1:
        raise ValueError(f"degrees of freedom {df}: at least 1")
    low, high = 0.0, 1.0
    while _t_central_probability(high, df) < confidence:
        low, high = high, high * 2
    # The probability rises monotonically in t: bisect to the last bit of a double.
    while high - low > 1e-12 * high:
        middle = (low + high) / 2
        if _t_central_probability(middle, df) < confidence:
            low = middle
        else:
            high = middle
    return (low + high) / 2


@dataclass(frozen=True)
class RelativeTime:
    """Time of a candidate divided by the baseline's, with a 95% interval."""

    ratio: float
    low: float
    high: float
    significant: bool  # False as well where the test cannot be made (fewer than 3 values)

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


def relative_time(mean: float, stdev: float, n: int, base_mean: float, base_stdev: float, base_n: int) -> RelativeTime:
    """One workload: the candidate's mean over the baseline's, and whether they differ.

    The test is pyperf's: a two-sample Student t-test with pooled variance at 95%
    (pyperf.compare_to requires equal n; the pooled form here is the same test for any n).
    The interval is the same test read as a band around the ratio, mean ± t·SE divided by
    the baseline mean, so "significant" and "the interval excludes 1" never disagree."""
    ratio = mean / base_mean
    df = n + base_n - 2
    if df < 1:
        return RelativeTime(ratio, math.nan, math.nan, False)
    pooled_variance = ((n - 1) * stdev**2 + (base_n - 1) * base_stdev**2) / df
    standard_error = math.sqrt(pooled_variance * (1 / n + 1 / base_n))
    critical = t_critical(df)
    half_width = critical * standard_error / base_mean
    difference = abs(mean - base_mean)
    # pyperf's comparison, >= the critical value; without spread, any difference is real.
    significant = difference >= critical * standard_error if standard_error > 0 else difference > 0
    return RelativeTime(ratio, ratio - half_width, ratio + half_width, significant)


def geometric_mean_ratio(
    means: np.ndarray, stdevs: np.ndarray, counts: np.ndarray,
    base_means: np.ndarray, base_stdevs: np.ndarray, base_counts: np.ndarray,
) -> RelativeTime:
    """Geometric mean over workloads of candidate/baseline mean times, with a 95% interval.

    Why this interval: a ratio's uncertainty is symmetric on the log scale, and the
    geometric mean is the arithmetic mean of log-ratios, so the interval is built there.
    The variance of log(mean) is, by the delta method, stdev² / (n · mean²); log-ratios of
    different workloads are independent, so their variances add. The degrees of freedom of
    that sum come from Welch-Satterthwaite, each term carrying n - 1. No resampling: only
    summary statistics are stored. The interval covers measurement noise for these
    workloads; it says nothing about workloads that were not run."""
    arrays = [np.asarray(a, dtype=float) for a in (means, stdevs, counts, base_means, base_stdevs, base_counts)]
    means, stdevs, counts, base_means, base_stdevs, base_counts = arrays
    workloads = len(means)
    if workloads == 0:
        return RelativeTime(math.nan, math.nan, math.nan, False)
    log_ratio = float(np.mean(np.log(means) - np.log(base_means)))
    ratio = math.exp(log_ratio)
    if min(counts.min(), base_counts.min()) < 2:
        return RelativeTime(ratio, math.nan, math.nan, False)
    terms = np.concatenate([stdevs**2 / (counts * means**2), base_stdevs**2 / (base_counts * base_means**2)])
    term_df = np.concatenate([counts - 1, base_counts - 1])
    variance = terms.sum() / workloads**2
    if variance == 0:
        return RelativeTime(ratio, ratio, ratio, ratio != 1)
    df = max(1, math.floor(terms.sum() ** 2 / np.sum(terms**2 / term_df)))
    spread = t_critical(df) * math.sqrt(variance)
    low, high = math.exp(log_ratio - spread), math.exp(log_ratio + spread)
    return RelativeTime(ratio, low, high, not low <= 1 <= high)
