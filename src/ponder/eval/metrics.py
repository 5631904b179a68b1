"""Estimators over a pool of n samples per problem, for every k <= n, each the expectation over all k-subsets
of the pool (not the first k samples, whose curve is one noisy draw):

- pass@k: some sample of the k is right. The unbiased estimator of Chen et al. (2021): 1 - C(n-c, k) / C(n, k).
- maj@k: the most frequent answer of the k is right. Samples with no answer do not vote; a tie is broken
  uniformly at random (so a subset counts the share of its tied answers that are right). Exact, by summing
  over the vectors of answer counts a k-subset can have (multivariate hypergeometric), where there are few
  enough of them; else the mean over many random subsets.
- best@k: the sample a verifier scores highest among the k is right (ties broken uniformly at random). Exact.

Plus 95% bootstrap intervals over problems, and the coverage fit of Large Language Monkeys (Brown et al.,
2024): pass@k ~ exp(a * k^b), an exponentiated power law.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from fractions import Fraction
from typing import Any, Hashable, Sequence

import numpy as np

from ponder.errors import InvalidArgumentError

EXACT_LIMIT = 2_000  # answer-count vectors summed exactly for maj@k; more than this: random subsets
RANDOM_SUBSETS = 4_000


def pass_at_k(n: int, c: int, k: int) -> float:
    """Chance that a random k-subset of n samples, c of them right, holds a right one."""
    if not 1 <= k <= n:
        raise InvalidArgumentError(f"k={k} must be in 1..n={n}")
    if not 0 <= c <= n:
        raise InvalidArgumentError(f"c={c} (right samples) must be in 0..n={n}")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def maj_at_k(answers: Sequence[Hashable | None], correct: Sequence[bool], k: int, *, seed: int = 0) -> float:
    """Expected correctness of the majority answer of a random k-subset (see the module docstring).

    `answers` are the samples' answers, already pooled so that equivalent answers are equal (None: no answer);
    `correct[i]` says whether sample i's answer is right (equal answers are all right or all wrong)."""
    return maj_curve(answers, correct, [k], seed=seed)[0]


def maj_curve(answers: Sequence[Hashable | None], correct: Sequence[bool], ks: Sequence[int], *, seed: int = 0
              ) -> list[float]:
    """maj@k for each k of `ks`: exact where the answer-count vectors are few, else from random subsets (the
    first k of each of RANDOM_SUBSETS random orderings of the pool)."""
    n = len(answers)
    _check_pool("answers", n, correct)
    if any(not 1 <= k <= n for k in ks):
        raise InvalidArgumentError(f"every k must be in 1..n={n}: {list(ks)}")
    groups = Counter(a for a in answers if a is not None)
    right = {a for a, ok in zip(answers, correct) if a is not None and ok}
    sizes = list(groups.values()) + [n - sum(groups.values())]  # the last group: samples with no answer
    is_right = [a in right for a in groups]
    out, orderings = [], None
    for k in ks:
        if _count_vectors(sizes, k) <= EXACT_LIMIT:
            total = Fraction(0)
            for counts in _vectors(sizes, k):
                ways = math.prod(math.comb(size, c) for size, c in zip(sizes, counts))
                total += ways * _majority_right(counts[:-1], is_right)
            out.append(float(total / math.comb(n, k)))
            continue
        if orderings is None:  # counts of each answer among the first j samples of each random ordering
            rng = np.random.default_rng(seed)
            labels = np.repeat(np.arange(len(sizes)), sizes)
            order = rng.permuted(np.tile(labels, (RANDOM_SUBSETS, 1)), axis=1)
            orderings = np.cumsum(order[..., None] == np.arange(len(sizes) - 1), axis=1)
        counts = orderings[:, k - 1, :]
        top = counts.max(axis=1)
        tied = counts == top[:, None]
        share = (tied & np.array(is_right, dtype=bool)).sum(axis=1) / np.maximum(tied.sum(axis=1), 1)
        out.append(float(np.where(top > 0, share, 0.0).mean()))
    return out


def best_at_k(scores: Sequence[float], correct: Sequence[bool], k: int) -> float:
    """Expected correctness of the highest-scored sample of a random k-subset (ties broken uniformly)."""
    n = len(scores)
    _check_pool("scores", n, correct)
    if not 1 <= k <= n:
        raise InvalidArgumentError(f"k={k} must be in 1..n={n}")
    if any(math.isnan(s) for s in scores):  # NaN compares false with everything: the ranking would be arbitrary
        raise InvalidArgumentError("a score is NaN; a verifier's scores must be numbers")
    levels: dict[float, list[bool]] = {}
    for s, ok in zip(scores, correct):
        levels.setdefault(s, []).append(bool(ok))
    total, below = 0.0, n
    for level in sorted(levels, reverse=True):  # P(best level = this one) * mean correctness at this level
        members = levels[level]
        below -= len(members)
        chance = (math.comb(below + len(members), k) - math.comb(below, k)) / math.comb(n, k)
        total += chance * sum(members) / len(members)
    return total


def bootstrap_ci(values: Sequence[float], *, resamples: int = 2000, level: float = 0.95, seed: int = 0
                 ) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of per-problem values (problems resampled with replacement)."""
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(resamples, len(values)))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    return float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail))


def fit_coverage(ks: Sequence[int], coverage: Sequence[float]) -> dict[str, Any]:
    """Fit coverage(k) = exp(a * k^b) (Large Language Monkeys) by least squares on log coverage; returns a, b,
    the fitted curve at `ks` and the fit's R^2 (on coverage), or an explanation when it cannot be fitted."""
    from scipy.optimize import OptimizeWarning, curve_fit

    ks = np.asarray(ks, dtype=float)
    cov = np.asarray(coverage, dtype=float)
    usable = (cov > 0) & (cov < 1)
    if usable.sum() < 2:
        return {"a": None, "b": None, "note": "coverage is 0 or 1 at all but one k: nothing to fit"}

    def log_model(k, a, b):
        return a * np.power(k, b)

    try:
        with warnings.catch_warnings():  # the covariance is thrown away: scipy's warning that it cannot estimate
            warnings.simplefilter("ignore", OptimizeWarning)  # it (as many points as parameters) says nothing here
            (a, b), _ = curve_fit(log_model, ks[usable], np.log(cov[usable]), p0=(-1.0, -0.5), maxfev=20_000)
    except RuntimeError as error:
        return {"a": None, "b": None, "note": f"the fit did not converge: {error}"}
    fitted = np.exp(log_model(ks, a, b))
    residual = ((cov - fitted) ** 2).sum()
    spread = ((cov - cov.mean()) ** 2).sum()
    return {"a": float(a), "b": float(b), "fitted": [float(x) for x in fitted],
            "r2": float(1 - residual / spread) if spread > 0 else None}


def _check_pool(name: str, n: int, correct: Sequence[bool]) -> None:
    if len(correct) != n:
        raise InvalidArgumentError(f"{n} {name} but {len(correct)} correctness flags; there must be one per sample")


def _majority_right(counts, is_right) -> Fraction:
    top = max(counts, default=0)
    if top == 0:
        return Fraction(0)
    tied = [ok for c, ok in zip(counts, is_right) if c == top]
    return Fraction(sum(tied), len(tied))


def _vectors(sizes: list[int], k: int):
    """Every vector of counts (c_0..c_g) with 0 <= c_i <= sizes[i] and sum k."""
    if len(sizes) == 1:
        if k <= sizes[0]:
            yield (k,)
        return
    rest = sum(sizes[1:])
    for c in range(max(0, k - rest), min(sizes[0], k) + 1):
        for tail in _vectors(sizes[1:], k - c):
            yield (c, *tail)


def _count_vectors(sizes: list[int], k: int) -> int:
    """How many vectors _vectors yields (dynamic programming over the groups)."""
    ways = [1] + [0] * k
    for size in sizes:
        new = [0] * (k + 1)
        for total, w in enumerate(ways):
            if w:
                for c in range(min(size, k - total) + 1):
                    new[total + c] += w
        ways = new
    return ways[k]


def shown_ks(pool: int) -> list[int]:
    """The k a pool's tables show: the powers of two up to the pool's size, and the size itself."""
    return sorted({k for k in (1, 2, 4, 8, 16, 32, 64, 128, 256) if k <= pool} | {pool})
