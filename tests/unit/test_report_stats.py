"""The report's statistics: Student's t critical values against published tables, the
two-sample t-test against pyperf's own, and the intervals' coverage on simulated timings."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pyperf._utils import is_significant

from allocbench.report.stats import geometric_mean_ratio, relative_time, t_critical

# Two-sided 95% critical values of Student's t, as printed in standard tables (3 decimals).
T_TABLE = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
           15: 2.131, 20: 2.086, 25: 2.060, 30: 2.042, 40: 2.021, 60: 2.000, 120: 1.980}


@pytest.mark.parametrize("df, expected", sorted(T_TABLE.items()))
def test_t_critical_matches_the_printed_table(df, expected):
    assert t_critical(df) == pytest.approx(expected, abs=5e-4)


def test_t_critical_matches_closed_forms_to_full_precision():
    # df=1 is the Cauchy distribution, df=2 has F(t) = 1/2 + t / (2 sqrt(t^2 + 2)).
    assert t_critical(1) == pytest.approx(math.tan(0.95 * math.pi / 2), rel=1e-11)
    assert t_critical(2) == pytest.approx(0.95 * math.sqrt(2 / (1 - 0.95**2)), rel=1e-11)


def test_t_critical_falls_towards_the_normal_quantile():
    values = [t_critical(df) for df in (1, 2, 5, 10, 100, 1000, 10000)]
    assert values == sorted(values, reverse=True)
    assert t_critical(10000) == pytest.approx(1.960201, abs=1e-6)
    assert t_critical(10000) > 1.959964  # the normal distribution's


def test_t_critical_refuses_no_degrees_of_freedom():
    with pytest.raises(ValueError):
        t_critical(0)


def _summary(sample):
    return float(np.mean(sample)), float(np.std(sample, ddof=1)), len(sample)


def test_relative_time_is_pyperfs_t_test_away_from_the_boundary():
    rng = np.random.default_rng(5)
    compared = 0
    for _ in range(300):
        n = int(rng.integers(3, 30))
        base = rng.normal(1.0, 0.05, n)
        other = rng.normal(1.0 + rng.uniform(-0.06, 0.06), 0.05, n)
        pyperf_significant, t_score = is_significant(other.tolist(), base.tolist())
        if abs(abs(t_score) - t_critical(2 * n - 2)) < 0.01:
            continue  # pyperf's table is rounded to 3 decimals
        result = relative_time(*_summary(other), *_summary(base))
        assert result.significant == pyperf_significant
        compared += 1
    assert compared > 250


def test_relative_time_interval_excludes_one_exactly_when_significant():
    rng = np.random.default_rng(6)
    for _ in range(200):
        base, other = rng.normal(1.0, 0.1, 8), rng.normal(rng.uniform(0.9, 1.1), 0.1, 5)
        result = relative_time(*_summary(other), *_summary(base))
        assert result.significant == (not result.low <= 1 <= result.high)
        assert result.low < result.ratio < result.high


def test_relative_time_by_hand():
    # Stdevs 0.1 and n = 5 on both sides: SE = 0.1 * sqrt(2/5) = 0.0632, df 8, t* = 2.306.
    standard_error = 0.1 * math.sqrt(2 / 5)
    half_width = 2.306004 * standard_error
    close = relative_time(1.1, 0.1, 5, 1.0, 0.1, 5)  # t = 0.1 / SE = 1.58
    assert close.ratio == pytest.approx(1.1)
    assert (close.low, close.high) == pytest.approx((1.1 - half_width, 1.1 + half_width), rel=1e-6)
    assert close.significant is False
    far = relative_time(1.3, 0.1, 5, 1.0, 0.1, 5)  # t = 0.3 / SE = 4.74
    assert far.significant is True


def test_relative_time_needs_values_to_test():
    result = relative_time(2.0, 0.0, 1, 1.0, 0.0, 1)
    assert result.ratio == 2.0 and math.isnan(result.low) and result.significant is False
    assert relative_time(1.0, 0.0, 3, 1.0, 0.0, 3).significant is False
    assert relative_time(1.2, 0.0, 3, 1.0, 0.0, 3).significant is True


def test_relative_time_flags_about_five_percent_of_equal_means():
    rng = np.random.default_rng(7)
    trials = 2000
    flagged = sum(
        relative_time(*_summary(rng.normal(1.0, 0.1, 6)), *_summary(rng.normal(1.0, 0.1, 6))).significant
        for _ in range(trials)
    )
    assert 0.035 < flagged / trials < 0.065


def test_geometric_mean_of_reciprocal_ratios_is_one():
    result = geometric_mean_ratio([2.0, 1.0], [0.01, 0.01], [10, 10], [1.0, 2.0], [0.01, 0.01], [10, 10])
    assert result.ratio == pytest.approx(1.0)
    assert result.low < 1 < result.high and result.significant is False


def test_geometric_mean_interval_covers_the_true_ratio_95_percent_of_the_time():
    rng = np.random.default_rng(8)
    true_means = np.array([1.0, 2.0, 0.5])
    true_base = np.array([1.2, 1.5, 0.5])
    truth = math.exp(np.mean(np.log(true_means / true_base)))
    trials, covered = 1500, 0
    for _ in range(trials):
        samples = [rng.normal(m, 0.08 * m, 6) for m in true_means]
        base = [rng.normal(m, 0.08 * m, 6) for m in true_base]
        a = np.array([_summary(s) for s in samples])
        b = np.array([_summary(s) for s in base])
        result = geometric_mean_ratio(a[:, 0], a[:, 1], a[:, 2], b[:, 0], b[:, 1], b[:, 2])
        covered += result.low <= truth <= result.high
    assert 0.93 < covered / trials < 0.97


def test_geometric_mean_interval_narrows_with_more_values():
    few = geometric_mean_ratio([1.1], [0.1], [5], [1.0], [0.1], [5])
    many = geometric_mean_ratio([1.1], [0.1], [50], [1.0], [0.1], [50])
    assert many.high - many.low < (few.high - few.low) / 2.5


def test_geometric_mean_without_spread_or_values():
    exact = geometric_mean_ratio([1.5], [0.0], [4], [1.0], [0.0], [4])
    assert (exact.low, exact.ratio, exact.high, exact.significant) == (1.5, 1.5, 1.5, True)
    single = geometric_mean_ratio([1.5], [0.0], [1], [1.0], [0.0], [4])
    assert single.ratio == 1.5 and math.isnan(single.low) and single.significant is False
    assert math.isnan(geometric_mean_ratio([], [], [], [], [], []).ratio)
