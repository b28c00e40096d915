"""The statistics the report rests on, from summary figures alone (mean, stdev, n per cell),
computed with scipy.stats: relative times with their 95% intervals, and whether a
difference is significant.

Which test: pyperf's own, the two-sample Student t-test with pooled variance, where the two
variances may be equal; Welch's t-test (separate variances, Welch-Satterthwaite degrees of
freedom) where an F-test at 95% says they differ, since pooling two unequal variances
misstates the standard error. The interval is the same test read as a band around the
ratio, so "significant" and "the interval excludes 1" never disagree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
STUDENT = "Student"
WELCH = "Welch"


@lru_cache(maxsize=None)
def t_critical(df: float, confidence: float = CONFIDENCE) -> float:
    """The two-sided critical value t such that P(|T| < t) = confidence."""
    if not df >= 1:
        raise ValueError(f"degrees of freedom {df}: at least 1")
    return float(stats.t.ppf(0.5 + confidence / 2, df))


@dataclass(frozen=True)
class RelativeTime:
    """Time of a candidate divided by the baseline's, with a 95% interval."""

    ratio: float
    low: float
    high: float
    significant: bool  # False as well where no test can be made (too few values)
    test: str = STUDENT  # which t-test decided

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


def variances_differ(stdev: float, n: int, base_stdev: float, base_n: int, confidence: float = CONFIDENCE) -> bool:
    """A two-sided F-test of equal variances at `confidence`."""
    if n < 2 or base_n < 2 or stdev == 0 or base_stdev == 0:
        return stdev != base_stdev and min(n, base_n) >= 2
    f = stdev**2 / base_stdev**2
    tail = stats.f.cdf(f, n - 1, base_n - 1)
    return 2 * min(tail, 1 - tail) < 1 - confidence


def relative_time(mean: float, stdev: float, n: int, base_mean: float, base_stdev: float, base_n: int) -> RelativeTime:
    """One workload: the candidate's mean over the baseline's, and whether they differ."""
    ratio = mean / base_mean
    if n + base_n - 2 < 1 or min(n, base_n) < 1:
        return RelativeTime(ratio, math.nan, math.nan, False)
    welch = n >= 2 and base_n >= 2 and variances_differ(stdev, n, base_stdev, base_n)
    if welch:
        a, b = stdev**2 / n, base_stdev**2 / base_n
        standard_error = math.sqrt(a + b)
        df = (a + b) ** 2 / (a**2 / (n - 1) + b**2 / (base_n - 1)) if a + b > 0 else n + base_n - 2
    else:
        df = n + base_n - 2
        pooled_variance = ((n - 1) * stdev**2 + (base_n - 1) * base_stdev**2) / df
        standard_error = math.sqrt(pooled_variance * (1 / n + 1 / base_n))
    critical = t_critical(max(1.0, df))
    half_width = critical * standard_error / base_mean
    difference = abs(mean - base_mean)
    # pyperf's comparison, >= the critical value; without spread, any difference is real.
    significant = difference >= critical * standard_error if standard_error > 0 else difference > 0
    return RelativeTime(ratio, ratio - half_width, ratio + half_width, bool(significant), WELCH if welch else STUDENT)


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
        return RelativeTime(math.nan, math.nan, math.nan, False, WELCH)
    log_ratio = float(np.mean(np.log(means) - np.log(base_means)))
    ratio = math.exp(log_ratio)
    if min(counts.min(), base_counts.min()) < 2:
        return RelativeTime(ratio, math.nan, math.nan, False, WELCH)
    terms = np.concatenate([stdevs**2 / (counts * means**2), base_stdevs**2 / (base_counts * base_means**2)])
    term_df = np.concatenate([counts - 1, base_counts - 1])
    variance = terms.sum() / workloads**2
    if variance == 0:
        return RelativeTime(ratio, ratio, ratio, ratio != 1, WELCH)
    df = max(1.0, terms.sum() ** 2 / np.sum(terms**2 / term_df))
    spread = t_critical(math.floor(df)) * math.sqrt(variance)
    low, high = math.exp(log_ratio - spread), math.exp(log_ratio + spread)
    return RelativeTime(ratio, low, high, not low <= 1 <= high, WELCH)


# RSS is measured in pages: a page added to both sides keeps a ratio defined where a
# workload leaves nothing resident (retained RSS is often zero) and changes others little.
PAGE_BYTES = 4096


def ratio_over_workloads(values: np.ndarray, base_values: np.ndarray) -> RelativeTime:
    """Memory of a candidate relative to the base over workloads: the geometric mean of the
    per-workload ratios (each taken with a page added to both sides), with its 95% interval
    (Student's t over the workloads). Memory is measured once per cell and repeats exactly,
    so the interval says how much the gain varies from workload to workload: what a user may
    expect on workloads like these."""
    values, base_values = np.asarray(values, dtype=float), np.asarray(base_values, dtype=float)
    if len(values) == 0:
        return RelativeTime(math.nan, math.nan, math.nan, False, STUDENT)
    logs = np.log((values + PAGE_BYTES) / (base_values + PAGE_BYTES))
    centre = float(np.mean(logs))
    ratio = math.exp(centre)
    if len(values) < 2:
        return RelativeTime(ratio, math.nan, math.nan, False, STUDENT)
    spread = float(np.std(logs, ddof=1))
    half = t_critical(len(logs) - 1) * spread / math.sqrt(len(logs))
    low, high = math.exp(centre - half), math.exp(centre + half)
    return RelativeTime(ratio, low, high, not low <= 1 <= high, STUDENT)
