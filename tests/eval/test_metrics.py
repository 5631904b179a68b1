"""The pool estimators against brute-force enumeration of every k-subset, exactly, on small cases."""

import itertools
import math
import random
from fractions import Fraction

import pytest

from ponder.errors import InvalidArgumentError
from ponder.eval import metrics


def subsets(n, k):
    return list(itertools.combinations(range(n), k))


def brute_pass(correct, k):
    return Fraction(sum(any(correct[i] for i in s) for s in subsets(len(correct), k)), math.comb(len(correct), k))


def brute_maj(answers, correct, k):
    total = Fraction(0)
    for s in subsets(len(answers), k):
        counts = {}
        for i in s:
            if answers[i] is not None:
                counts[answers[i]] = counts.get(answers[i], 0) + 1
        if counts:
            top = max(counts.values())
            tied = [a for a, c in counts.items() if c == top]
            total += Fraction(sum(correct[answers.index(a)] for a in tied), len(tied))
    return total / math.comb(len(answers), k)


def brute_best(scores, correct, k):
    total = Fraction(0)
    for s in subsets(len(scores), k):
        top = max(scores[i] for i in s)
        best = [i for i in s if scores[i] == top]
        total += Fraction(sum(correct[i] for i in best), len(best))
    return total / math.comb(len(scores), k)


CASES = [(n, seed) for n in (1, 2, 5, 8, 10) for seed in range(6)]


@pytest.mark.parametrize("n, seed", CASES)
def test_estimators_equal_enumeration_exactly(n, seed):
    rng = random.Random(seed * 100 + n)
    answers = [rng.choice(["12", "13", "7", None]) for _ in range(n)]
    correct = [a == "12" for a in answers]
    scores = [rng.choice([0.1, 0.5, 0.5, 0.9]) for _ in range(n)]
    for k in range(1, n + 1):
        assert metrics.pass_at_k(n, sum(correct), k) == pytest.approx(float(brute_pass(correct, k)), abs=1e-12)
        assert metrics.maj_at_k(answers, correct, k) == float(brute_maj(answers, correct, k))
        assert metrics.best_at_k(scores, correct, k) == pytest.approx(float(brute_best(scores, correct, k)),
                                                                      abs=1e-12)


def test_maj_from_random_subsets_is_close_to_enumeration_where_exact_is_too_costly(monkeypatch):
    rng = random.Random(7)
    answers = [rng.choice("abcdefg") for _ in range(12)]
    correct = [a == "c" for a in answers]
    exact = [float(brute_maj(answers, correct, k)) for k in (4, 6)]
    monkeypatch.setattr(metrics, "EXACT_LIMIT", 0)  # force the sampled path
    sampled = metrics.maj_curve(answers, correct, [4, 6])
    assert sampled == pytest.approx(exact, abs=0.03)


def test_the_coverage_fit_recovers_a_known_power_law():
    ks = list(range(1, 65))
    fit = metrics.fit_coverage(ks, [math.exp(-1.3 * k ** -0.6) for k in ks])
    assert fit["a"] == pytest.approx(-1.3, rel=1e-4) and fit["b"] == pytest.approx(-0.6, rel=1e-4)
    assert fit["r2"] > 0.9999
    assert fit_note(metrics.fit_coverage([1, 2], [1.0, 1.0]))


def fit_note(fit):
    return fit["a"] is None and "nothing to fit" in fit["note"]


def test_bootstrap_interval_brackets_the_mean_and_narrows_with_more_problems():
    rng = random.Random(1)
    small = [float(rng.random() < 0.7) for _ in range(50)]
    large = [float(rng.random() < 0.7) for _ in range(2000)]
    for values in (small, large):
        low, high = metrics.bootstrap_ci(values)
        assert low <= sum(values) / len(values) <= high
    assert metrics.bootstrap_ci(large)[1] - metrics.bootstrap_ci(large)[0] < \
        metrics.bootstrap_ci(small)[1] - metrics.bootstrap_ci(small)[0]


def test_k_out_of_range_is_an_error():
    with pytest.raises(ValueError):
        metrics.pass_at_k(4, 1, 5)
    with pytest.raises(ValueError):
        metrics.maj_curve(["a"], [True], [0])


@pytest.mark.parametrize("c", [-1, 5])
def test_a_count_of_right_samples_outside_the_pool_is_an_error_naming_it(c):
    with pytest.raises(InvalidArgumentError, match=rf"^c={c} \(right samples\) must be in 0..n=4$"):
        metrics.pass_at_k(4, c, 2)
    assert metrics.pass_at_k(4, 0, 2) == 0.0 and metrics.pass_at_k(4, 4, 2) == 1.0  # the bounds themselves


def test_pools_whose_lengths_disagree_or_whose_scores_are_not_numbers_are_errors():
    with pytest.raises(InvalidArgumentError, match="3 answers but 2 correctness flags"):
        metrics.maj_curve(["a", "b", "a"], [True, False], [1])
    with pytest.raises(InvalidArgumentError, match=r"every k must be in 1..n=3: \[0\]"):
        metrics.maj_at_k(["a", "b", "a"], [True, False, True], 0)
    with pytest.raises(InvalidArgumentError, match="2 scores but 3 correctness flags"):
        metrics.best_at_k([0.5, 0.2], [True, False, True], 1)
    with pytest.raises(InvalidArgumentError, match="NaN"):
        metrics.best_at_k([0.5, float("nan")], [True, False], 1)
    with pytest.raises(InvalidArgumentError, match="k=3 must be in 1..n=2"):
        metrics.best_at_k([0.5, 0.2], [True, False], 3)
